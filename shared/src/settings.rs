//! Settings from the environment, read once per cold start. Names are the contract's (API.md).
//!
//! A function reads only the settings it declares (`registry::Declaration::settings`): the
//! others are never looked up, and asking for one answers `Undeclared`, so a function that
//! starts in a test with exactly its declared settings cannot need another in AWS.

use std::collections::BTreeMap;
use std::env;

/// Every setting a function may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setting {
    MetaAppSecret,
    MetaAppId,
    MetaVerifyToken,
    TiktokClientSecret,
    MetaGraphUrl,
    TiktokApiUrl,
    AiBaseUrl,
    AiApiKey,
    AiModel,
    TableName,
    BucketName,
    InboundQueueUrl,
    OutboundQueueUrl,
    AutomationQueueUrl,
    DeferredQueueUrl,
    PrivacyQueueUrl,
    /// Signs pagination cursors.
    CursorSecret,
    /// The keys that encrypt channel access tokens at rest, comma-separated
    /// `kid:base64(32 bytes)`, the current key first (`crypto::TokenCipher`).
    ChannelTokenKeys,
    /// `true` once Meta has approved the app's Human Agent permission: a person's reply on
    /// Messenger or Instagram may then go up to 7 days after the customer's last message.
    MetaHumanAgentApproved,
    /// Denied requests in one 15-minute window that raise a security event, per member, per
    /// IP and per business: `member=20,ip=30,tenant=100`.
    SecurityThresholds,
    /// Days the audit log keeps an entry (the purge runs daily; older entries are never shown).
    AuditRetentionDays,
    /// The sender of the emails the platform writes (invites): `Name <address>`, an address
    /// whose domain is verified in SES.
    MailFrom,
    /// Where the frontend answers, for the links inside those emails.
    AppUrl,
    /// Keys the hashes that stand for erased identifiers (a channel message id, an erased
    /// person's id). Never rotated: a new key would let an erased message's redelivery in.
    ErasureKey,
}

impl Setting {
    pub const ALL: [Setting; 24] = [
        Self::MetaAppSecret,
        Self::MetaAppId,
        Self::MetaVerifyToken,
        Self::TiktokClientSecret,
        Self::MetaGraphUrl,
        Self::TiktokApiUrl,
        Self::AiBaseUrl,
        Self::AiApiKey,
        Self::AiModel,
        Self::TableName,
        Self::BucketName,
        Self::InboundQueueUrl,
        Self::OutboundQueueUrl,
        Self::AutomationQueueUrl,
        Self::DeferredQueueUrl,
        Self::PrivacyQueueUrl,
        Self::CursorSecret,
        Self::ChannelTokenKeys,
        Self::MetaHumanAgentApproved,
        Self::SecurityThresholds,
        Self::AuditRetentionDays,
        Self::MailFrom,
        Self::AppUrl,
        Self::ErasureKey,
    ];

    /// The environment variable.
    pub fn name(self) -> &'static str {
        match self {
            Self::MetaAppSecret => "META_APP_SECRET",
            Self::MetaAppId => "META_APP_ID",
            Self::MetaVerifyToken => "META_VERIFY_TOKEN",
            Self::TiktokClientSecret => "TIKTOK_CLIENT_SECRET",
            Self::MetaGraphUrl => "META_GRAPH_URL",
            Self::TiktokApiUrl => "TIKTOK_API_URL",
            Self::AiBaseUrl => "AI_BASE_URL",
            Self::AiApiKey => "AI_API_KEY",
            Self::AiModel => "AI_MODEL",
            Self::TableName => "TABLE_NAME",
            Self::BucketName => "BUCKET_NAME",
            Self::InboundQueueUrl => "INBOUND_QUEUE_URL",
            Self::OutboundQueueUrl => "OUTBOUND_QUEUE_URL",
            Self::AutomationQueueUrl => "AUTOMATION_QUEUE_URL",
            Self::DeferredQueueUrl => "DEFERRED_QUEUE_URL",
            Self::PrivacyQueueUrl => "PRIVACY_QUEUE_URL",
            Self::CursorSecret => "CURSOR_SECRET",
            Self::ChannelTokenKeys => "CHANNEL_TOKEN_KEYS",
            Self::MetaHumanAgentApproved => "META_HUMAN_AGENT_APPROVED",
            Self::SecurityThresholds => "SECURITY_THRESHOLDS",
            Self::AuditRetentionDays => "AUDIT_RETENTION_DAYS",
            Self::MailFrom => "MAIL_FROM",
            Self::AppUrl => "APP_URL",
            Self::ErasureKey => "ERASURE_KEY",
        }
    }

    /// Secrets have no default in a deployed function and never reach a log line.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Self::MetaAppSecret
                | Self::MetaVerifyToken
                | Self::TiktokClientSecret
                | Self::AiApiKey
                | Self::CursorSecret
                | Self::ChannelTokenKeys
                | Self::ErasureKey
        )
    }

    /// The value when the environment has none: every setting that is not a secret has one.
    pub fn default_value(self) -> Option<&'static str> {
        Some(match self {
            Self::MetaAppId => "0",
            Self::MetaGraphUrl => "https://graph.facebook.com/v21.0",
            Self::TiktokApiUrl => "https://business-api.tiktok.com/open_api/v1.3",
            Self::AiBaseUrl => "https://api.openai.com/v1",
            Self::AiModel => "gpt-4o-mini",
            Self::TableName => "gestor",
            Self::BucketName => "gestor-files",
            Self::InboundQueueUrl => "inbound.fifo",
            Self::OutboundQueueUrl => "outbound.fifo",
            Self::MetaHumanAgentApproved => "false",
            Self::SecurityThresholds => "member=20,ip=30,tenant=100",
            Self::AuditRetentionDays => "365",
            Self::AutomationQueueUrl => "automation",
            Self::DeferredQueueUrl => "deferred",
            Self::PrivacyQueueUrl => "privacy",
            Self::MailFrom => "GestorDigital <no-reply@gestor.localhost>",
            Self::AppUrl => "http://localhost:5173",
            _ => return None,
        })
    }

    /// A laptop's value for a secret: fixed, so that local data stays readable across runs.
    fn development_value(self) -> String {
        match self {
            // One key derived from a fixed label; deployed functions get their own random keys.
            Self::ChannelTokenKeys => {
                use base64::Engine;
                let key = derive_key(b"gestor-development", b"gestor/channel-tokens/v1");
                format!("dev:{}", base64::engine::general_purpose::STANDARD.encode(key))
            }
            other => format!("dev-{}", other.name().to_ascii_lowercase()),
        }
    }
}

#[derive(Clone)]
pub struct Settings {
    values: BTreeMap<Setting, String>,
    /// The function's name in logs (`AWS_LAMBDA_FUNCTION_NAME` in Lambda).
    pub function_name: String,
    /// Media downloads may reach loopback addresses: the local server's fakes only, unless
    /// `GESTOR_FETCH_LOOPBACK=false`; never in a deployed function (`fetch_guard`).
    pub fetch_loopback: bool,
}

impl std::fmt::Debug for Settings {
    // Secrets never reach a log line, even through a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Settings");
        for (setting, value) in &self.values {
            if setting.is_secret() {
                out.field(setting.name(), &"<secret>");
            } else {
                out.field(setting.name(), value);
            }
        }
        out.field("function_name", &self.function_name).field("fetch_loopback", &self.fetch_loopback).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("missing setting {0}: it has no default and must be set in the environment")]
    Missing(&'static str),
    #[error("setting {0} is not among the ones this function declares")]
    Undeclared(&'static str),
    /// The secret store did not answer a secret the function declares.
    #[error("secret store: {0}")]
    Store(String),
}

impl Settings {
    /// Reads a deployed function's settings, exactly `declared`: secrets must be present.
    pub fn from_env(declared: &[Setting]) -> Result<Self, SettingError> {
        Self::read(declared, |name| env::var(name).ok().filter(|v| !v.is_empty()), false)
    }

    /// Every setting for a laptop (the local server, tests): secrets fall back to
    /// development values.
    pub fn local() -> Self {
        Self::local_with(|name| env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Every setting for a laptop, looked up in `lookup` instead of the environment.
    pub fn local_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut settings =
            Self { values: BTreeMap::new(), function_name: "local".into(), fetch_loopback: false };
        for setting in Setting::ALL {
            let value = lookup(setting.name())
                .or_else(|| setting.default_value().map(str::to_owned))
                .unwrap_or_else(|| setting.development_value());
            settings.values.insert(setting, value);
        }
        settings.function_name = lookup("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "local".into());
        settings.fetch_loopback = lookup("GESTOR_FETCH_LOOPBACK").as_deref() != Some("false");
        settings
    }

    /// Looks up `declared` and nothing else.
    pub fn read(
        declared: &[Setting],
        lookup: impl Fn(&str) -> Option<String>,
        dev_defaults: bool,
    ) -> Result<Self, SettingError> {
        let mut values = BTreeMap::new();
        for &setting in declared {
            let value = match (lookup(setting.name()), setting.default_value()) {
                (Some(v), _) => v,
                (None, Some(default)) => default.to_owned(),
                (None, None) if dev_defaults => setting.development_value(),
                (None, None) => return Err(SettingError::Missing(setting.name())),
            };
            values.insert(setting, value);
        }
        Ok(Self {
            values,
            function_name: lookup("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "local".into()),
            fetch_loopback: dev_defaults && lookup("GESTOR_FETCH_LOOPBACK").as_deref() != Some("false"),
        })
    }

    /// These settings narrowed to `declared`, under a function's name: how the local server
    /// gives each function what its Lambda would have.
    pub fn only(&self, declared: &[Setting], function_name: &str) -> Self {
        Self {
            values: declared.iter().filter_map(|s| Some((*s, self.values.get(s)?.clone()))).collect(),
            function_name: function_name.to_owned(),
            fetch_loopback: self.fetch_loopback,
        }
    }

    /// The value of a declared setting.
    pub fn get(&self, setting: Setting) -> Result<&str, SettingError> {
        self.values.get(&setting).map(String::as_str).ok_or(SettingError::Undeclared(setting.name()))
    }

    /// Sets a value (tests point a function at their fakes).
    pub fn set(&mut self, setting: Setting, value: impl Into<String>) {
        self.values.insert(setting, value.into());
    }

    /// The settings this value holds.
    pub fn declared(&self) -> impl Iterator<Item = Setting> + '_ {
        self.values.keys().copied()
    }
}

fn derive_key(secret: &[u8], label: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(label);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => label.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_function_looks_up_only_what_it_declares() {
        let asked = RefCell::new(Vec::new());
        let lookup = |name: &str| {
            asked.borrow_mut().push(name.to_owned());
            Some(format!("value-of-{name}"))
        };
        let settings = Settings::read(&[Setting::CursorSecret, Setting::TableName], lookup, false);
        let settings = settings.unwrap_or_else(|e| panic!("{e}"));
        let asked = asked.into_inner();
        assert!(
            asked
                .iter()
                .all(|n| ["CURSOR_SECRET", "TABLE_NAME", "AWS_LAMBDA_FUNCTION_NAME"].contains(&n.as_str()))
        );
        assert_eq!(settings.get(Setting::TableName), Ok("value-of-TABLE_NAME"));
        assert_eq!(settings.get(Setting::MetaAppSecret), Err(SettingError::Undeclared("META_APP_SECRET")));
    }

    #[test]
    fn deployed_functions_refuse_to_start_without_their_secrets() {
        for secret in Setting::ALL.into_iter().filter(|s| s.is_secret()) {
            let err = Settings::read(&[Setting::TableName, secret], |_| None, false).err();
            assert_eq!(err, Some(SettingError::Missing(secret.name())));
        }
        let fine = Settings::read(&[Setting::TableName, Setting::MetaGraphUrl], |_| None, false);
        assert!(fine.is_ok());
    }

    #[test]
    fn every_setting_but_the_secrets_has_a_default() {
        for setting in Setting::ALL {
            assert_eq!(setting.default_value().is_none(), setting.is_secret(), "{}", setting.name());
        }
    }

    #[test]
    fn local_settings_have_every_value_and_debug_hides_secrets() {
        let s = Settings::local_with(|_| None);
        assert_eq!(s.get(Setting::TableName), Ok("gestor"));
        let printed = format!("{s:?}");
        assert!(!printed.contains("dev-meta_app_secret"));
        let keys = s.get(Setting::ChannelTokenKeys).unwrap_or_default().to_owned();
        assert!(keys.starts_with("dev:") && !printed.contains(&keys));
        assert!(crate::crypto::TokenCipher::parse(&keys).is_ok());
        let narrowed = s.only(&[Setting::CursorSecret], "contacts");
        assert_eq!(narrowed.declared().collect::<Vec<_>>(), vec![Setting::CursorSecret]);
        assert_eq!(narrowed.function_name, "contacts");
    }
}
