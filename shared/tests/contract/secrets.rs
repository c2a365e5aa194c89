//! The Secrets Manager source against the emulator: one secret per setting under the
//! function's prefix, and a secret that is not there is said to be missing, not unreadable.

use gestor_shared::adapters::secrets_manager::SecretsManager;
use gestor_shared::ports::secrets::{SecretError, SecretSource, settings_with};
use gestor_shared::settings::Setting;

use super::aws_env;

#[tokio::test]
async fn secrets_are_read_one_per_setting_under_the_prefix() {
    let Some(config) = aws_env::config().await else { return };
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let prefix = format!("{}/", aws_env::unique_name("gestor"));
    let created = client
        .create_secret()
        .name(format!("{prefix}META_APP_SECRET"))
        .secret_string("el-secreto-de-la-app")
        .send()
        .await;
    assert!(created.is_ok(), "{created:?}");
    let source = SecretsManager::new(client, prefix.clone());
    assert_eq!(source.fetch(Setting::MetaAppSecret).await.ok().as_deref(), Some("el-secreto-de-la-app"));
    assert!(matches!(
        source.fetch(Setting::TiktokClientSecret).await,
        Err(SecretError::Missing("TIKTOK_CLIENT_SECRET"))
    ));

    let declared = [Setting::MetaAppSecret, Setting::InboundQueueUrl];
    let settings = settings_with(&declared, |_| None, Some(&source)).await;
    assert_eq!(
        settings.ok().and_then(|s| s.get(Setting::MetaAppSecret).ok().map(str::to_owned)).as_deref(),
        Some("el-secreto-de-la-app")
    );
}
