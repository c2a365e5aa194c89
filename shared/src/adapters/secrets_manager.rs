//! Secrets Manager as the secret source: one secret per setting, named
//! `{SECRETS_PREFIX}{SETTING}` (`gestor/prod/META_APP_SECRET`), its `SecretString` the value.
//! One secret per setting is what lets each function's policy name exactly the secrets it
//! reads. A cold start costs one `GetSecretValue` per secret the function declares.

use async_trait::async_trait;

use crate::ports::secrets::{SecretError, SecretSource};
use crate::settings::Setting;

pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into() }
    }

    pub fn secret_id(&self, setting: Setting) -> String {
        format!("{}{}", self.prefix, setting.name())
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn fetch(&self, setting: Setting) -> Result<String, SecretError> {
        let answer = self.client.get_secret_value().secret_id(self.secret_id(setting)).send().await;
        match answer {
            Ok(output) => {
                output.secret_string.filter(|s| !s.is_empty()).ok_or(SecretError::Missing(setting.name()))
            }
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_resource_not_found_exception()) {
                    Err(SecretError::Missing(setting.name()))
                } else {
                    let cause = aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string();
                    Err(SecretError::Unreadable { name: setting.name(), cause })
                }
            }
        }
    }
}
