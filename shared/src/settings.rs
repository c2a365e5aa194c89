//! Settings from the environment, read once per cold start. Names are the contract's (API.md).

use std::env;

#[derive(Clone)]
pub struct Settings {
    pub meta_app_secret: String,
    pub meta_app_id: String,
    pub meta_verify_token: String,
    pub tiktok_client_secret: String,
    pub meta_graph_url: String,
    pub tiktok_api_url: String,
    pub ai_base_url: String,
    pub ai_api_key: String,
    pub ai_model: String,
    pub table_name: String,
    pub bucket_name: String,
    pub inbound_queue_url: String,
    pub outbound_queue_url: String,
    pub automation_queue_url: String,
    pub deferred_queue_url: String,
    pub privacy_queue_url: String,
    /// Signs pagination cursors. Defaults to a key derived from `META_APP_SECRET`, so that a
    /// deployment needs no extra secret; set `CURSOR_SECRET` to rotate it on its own.
    pub cursor_secret: Vec<u8>,
    /// `CHANNEL_TOKEN_KEYS`: the keys that encrypt channel access tokens at rest,
    /// comma-separated `kid:base64(32 bytes)`, the current key first (`crypto::TokenCipher`).
    /// A secret; locally it defaults to one key derived from `META_APP_SECRET`.
    pub channel_token_keys: String,
    /// The function's name in logs (`AWS_LAMBDA_FUNCTION_NAME` in Lambda).
    pub function_name: String,
    /// Media downloads may reach loopback addresses: the local server's fakes only, unless
    /// `GESTOR_FETCH_LOOPBACK=false`; never in a deployed function (`fetch_guard`).
    pub fetch_loopback: bool,
}

impl std::fmt::Debug for Settings {
    // Secrets never reach a log line, even through a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("meta_app_id", &self.meta_app_id)
            .field("meta_graph_url", &self.meta_graph_url)
            .field("tiktok_api_url", &self.tiktok_api_url)
            .field("ai_base_url", &self.ai_base_url)
            .field("ai_model", &self.ai_model)
            .field("table_name", &self.table_name)
            .field("bucket_name", &self.bucket_name)
            .field("inbound_queue_url", &self.inbound_queue_url)
            .field("outbound_queue_url", &self.outbound_queue_url)
            .field("automation_queue_url", &self.automation_queue_url)
            .field("deferred_queue_url", &self.deferred_queue_url)
            .field("privacy_queue_url", &self.privacy_queue_url)
            .field("function_name", &self.function_name)
            .field("fetch_loopback", &self.fetch_loopback)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("missing setting {0}: it has no default and must be set in the environment")]
pub struct MissingSetting(pub &'static str);

/// The secrets a deployed function cannot start without.
pub const REQUIRED_SECRETS: [&str; 5] =
    ["META_APP_SECRET", "META_VERIFY_TOKEN", "TIKTOK_CLIENT_SECRET", "AI_API_KEY", "CHANNEL_TOKEN_KEYS"];

impl Settings {
    /// Reads the settings of a deployed function: secrets must be present.
    pub fn from_env() -> Result<Self, MissingSetting> {
        Self::read(|name| env::var(name).ok().filter(|v| !v.is_empty()), false)
    }

    /// Reads the settings for a laptop: every secret falls back to a development value.
    pub fn from_env_for_local() -> Self {
        match Self::read(|name| env::var(name).ok().filter(|v| !v.is_empty()), true) {
            Ok(settings) => settings,
            // With development defaults every setting has a value.
            Err(_) => unreachable!("local settings have a default for every secret"),
        }
    }

    pub fn read(lookup: impl Fn(&str) -> Option<String>, dev_defaults: bool) -> Result<Self, MissingSetting> {
        let secret = |name: &'static str| -> Result<String, MissingSetting> {
            match lookup(name) {
                Some(v) => Ok(v),
                None if dev_defaults => Ok(format!("dev-{}", name.to_ascii_lowercase())),
                None => Err(MissingSetting(name)),
            }
        };
        let or = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.to_owned());
        let meta_app_secret = secret("META_APP_SECRET")?;
        let cursor_secret = match lookup("CURSOR_SECRET") {
            Some(v) => v.into_bytes(),
            None => derive_key(meta_app_secret.as_bytes(), b"gestor/cursor/v1"),
        };
        let channel_token_keys = match lookup("CHANNEL_TOKEN_KEYS") {
            Some(v) => v,
            // A laptop needs no key management: one key derived from the app secret. Deployed
            // functions get their own random keys, so that rotating one secret does not make
            // every stored token unreadable.
            None if dev_defaults => {
                use base64::Engine;
                let key = derive_key(meta_app_secret.as_bytes(), b"gestor/channel-tokens/v1");
                format!("dev:{}", base64::engine::general_purpose::STANDARD.encode(key))
            }
            None => return Err(MissingSetting("CHANNEL_TOKEN_KEYS")),
        };
        Ok(Self {
            meta_verify_token: secret("META_VERIFY_TOKEN")?,
            tiktok_client_secret: secret("TIKTOK_CLIENT_SECRET")?,
            ai_api_key: secret("AI_API_KEY")?,
            meta_app_secret,
            meta_app_id: or("META_APP_ID", "0"),
            meta_graph_url: or("META_GRAPH_URL", "https://graph.facebook.com/v21.0"),
            tiktok_api_url: or("TIKTOK_API_URL", "https://business-api.tiktok.com/open_api/v1.3"),
            ai_base_url: or("AI_BASE_URL", "https://api.openai.com/v1"),
            ai_model: or("AI_MODEL", "gpt-4o-mini"),
            table_name: or("TABLE_NAME", "gestor"),
            bucket_name: or("BUCKET_NAME", "gestor-files"),
            inbound_queue_url: or("INBOUND_QUEUE_URL", "inbound.fifo"),
            outbound_queue_url: or("OUTBOUND_QUEUE_URL", "outbound"),
            automation_queue_url: or("AUTOMATION_QUEUE_URL", "automation"),
            deferred_queue_url: or("DEFERRED_QUEUE_URL", "deferred"),
            privacy_queue_url: or("PRIVACY_QUEUE_URL", "privacy"),
            cursor_secret,
            channel_token_keys,
            function_name: or("AWS_LAMBDA_FUNCTION_NAME", "local"),
            fetch_loopback: dev_defaults && lookup("GESTOR_FETCH_LOOPBACK").as_deref() != Some("false"),
        })
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

    #[test]
    fn deployed_functions_refuse_to_start_without_secrets() {
        let err = Settings::read(|_| None, false).err();
        assert_eq!(err.map(|e| e.0), Some("META_APP_SECRET"));
    }

    #[test]
    fn local_settings_have_defaults_and_debug_hides_secrets() {
        let s = Settings::read(|_| None, true).ok();
        let s = s.as_ref();
        assert_eq!(s.map(|s| s.table_name.as_str()), Some("gestor"));
        let printed = format!("{s:?}");
        assert!(!printed.contains("dev-meta_app_secret"));
        let keys = s.map(|s| s.channel_token_keys.clone()).unwrap_or_default();
        assert!(keys.starts_with("dev:") && !printed.contains(&keys));
        assert!(crate::crypto::TokenCipher::parse(&keys).is_ok());
    }

    #[test]
    fn deployed_functions_need_channel_token_keys() {
        let given = |name: &str| (name != "CHANNEL_TOKEN_KEYS").then(|| format!("set-{name}"));
        assert_eq!(Settings::read(given, false).err().map(|e| e.0), Some("CHANNEL_TOKEN_KEYS"));
        for secret in REQUIRED_SECRETS {
            let missing = |name: &str| {
                (name != secret).then(|| "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned())
            };
            assert_eq!(Settings::read(missing, false).err().map(|e| e.0), Some(secret));
        }
    }
}
