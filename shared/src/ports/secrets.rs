//! Where a deployed function's secrets come from: a store read at cold start (Secrets
//! Manager in AWS), not environment variables that anyone allowed
//! `lambda:GetFunctionConfiguration` could read. The environment still overrides, for the
//! local server and the tests.

use async_trait::async_trait;

use crate::settings::{Setting, SettingError, Settings};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} is not in the store")]
    Missing(&'static str),
    #[error("secret {name} could not be read: {cause}")]
    Unreadable { name: &'static str, cause: String },
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The current value of one secret setting.
    async fn fetch(&self, setting: Setting) -> Result<String, SecretError>;
}

/// A deployed function's settings: each declared secret from the environment when it is set
/// there, else from `source` (one fetch each); everything else as [`Settings::from_env`].
pub async fn settings_with(
    declared: &[Setting],
    lookup: impl Fn(&str) -> Option<String>,
    source: Option<&dyn SecretSource>,
) -> Result<Settings, SettingError> {
    let mut fetched = std::collections::BTreeMap::new();
    if let Some(source) = source {
        for &setting in declared.iter().filter(|s| s.is_secret()) {
            if lookup(setting.name()).is_none() {
                let value = source.fetch(setting).await.map_err(|e| SettingError::Store(e.to_string()))?;
                fetched.insert(setting.name(), value);
            }
        }
    }
    Settings::read(declared, |name| lookup(name).or_else(|| fetched.get(name).cloned()), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A store that answers `{name}-stored` and remembers what it was asked.
    #[derive(Default)]
    struct Store(Mutex<Vec<&'static str>>);

    #[async_trait]
    impl SecretSource for Store {
        async fn fetch(&self, setting: Setting) -> Result<String, SecretError> {
            if let Ok(mut asked) = self.0.lock() {
                asked.push(setting.name());
            }
            if setting == Setting::TiktokClientSecret {
                return Err(SecretError::Missing(setting.name()));
            }
            Ok(format!("{}-stored", setting.name()))
        }
    }

    #[tokio::test]
    async fn secrets_come_from_the_store_unless_the_environment_sets_them() {
        let store = Store::default();
        let declared = [Setting::MetaAppSecret, Setting::MetaVerifyToken, Setting::InboundQueueUrl];
        let env = |name: &str| (name == "META_VERIFY_TOKEN").then(|| "from-env".to_owned());
        let settings = settings_with(&declared, env, Some(&store)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.get(Setting::MetaAppSecret).ok(), Some("META_APP_SECRET-stored"));
        assert_eq!(settings.get(Setting::MetaVerifyToken).ok(), Some("from-env"));
        assert_eq!(settings.get(Setting::InboundQueueUrl).ok(), Some("inbound.fifo"));
        // Only the secrets the function declares, and only those the environment lacks.
        assert_eq!(store.0.lock().map(|a| a.clone()).unwrap_or_default(), vec!["META_APP_SECRET"]);
    }

    #[tokio::test]
    async fn a_secret_missing_everywhere_stops_the_cold_start() {
        let store = Store::default();
        let declared = [Setting::TiktokClientSecret];
        let refused = settings_with(&declared, |_| None, Some(&store)).await;
        assert!(matches!(refused, Err(SettingError::Store(_))));
        let refused = settings_with(&declared, |_| None, None).await;
        assert_eq!(refused.err(), Some(SettingError::Missing("TIKTOK_CLIENT_SECRET")));
    }
}
