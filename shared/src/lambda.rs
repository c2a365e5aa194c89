//! A Lambda binary's whole `main`: read exactly the declared settings, build the AWS clients
//! and the function once per cold start, and serve what the declaration says it serves.

use crate::adapters::aws;
use crate::adapters::secrets_manager::SecretsManager;
use crate::backend::Backend;
use crate::ports::secrets::{SecretSource, settings_with};
use crate::registry::{Declaration, Deps, Serves};
use std::sync::Arc;

pub async fn run(declaration: &'static Declaration) -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let sdk = aws::sdk_config().await;
    // `SECRETS_PREFIX` names where the function's secrets live; the environment overrides.
    let source: Option<Arc<dyn SecretSource>> = std::env::var("SECRETS_PREFIX")
        .ok()
        .filter(|prefix| !prefix.is_empty())
        .map(|prefix| Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk), prefix)) as _);
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut settings = settings_with(declaration.settings, lookup, source.as_deref()).await?;
    if settings.function_name == "local" {
        settings.function_name = declaration.name.to_owned();
    }
    let backend = Backend::aws_with(&sdk, &settings);
    let deps = Deps::new(backend, settings).with_secrets(source);
    match &declaration.serves {
        Serves::Http(http) => crate::http::run_lambda((http.build)(&deps)?.as_ref()).await,
        Serves::Queue(queue) => crate::worker::run_lambda((queue.build)(&deps)?.as_ref()).await,
        Serves::Schedule(schedule) => {
            crate::worker::run_schedule_lambda((schedule.build)(&deps)?.as_ref()).await
        }
    }
}
