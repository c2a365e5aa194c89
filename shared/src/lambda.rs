//! A Lambda binary's whole `main`: read exactly the declared settings, build the AWS clients
//! and the function once per cold start, and serve what the declaration says it serves.

use crate::adapters::aws;
use crate::backend::Backend;
use crate::registry::{Declaration, Deps, Serves};
use crate::settings::Settings;

pub async fn run(declaration: &'static Declaration) -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    let mut settings = Settings::from_env(declaration.settings)?;
    if settings.function_name == "local" {
        settings.function_name = declaration.name.to_owned();
    }
    let backend = Backend::aws_with(&aws::sdk_config().await, &settings);
    let deps = Deps::new(backend, settings);
    match &declaration.serves {
        Serves::Http(http) => crate::http::run_lambda((http.build)(&deps)?.as_ref()).await,
        Serves::Queue(queue) => crate::worker::run_lambda((queue.build)(&deps)?.as_ref()).await,
        Serves::Schedule(schedule) => {
            crate::worker::run_schedule_lambda((schedule.build)(&deps)?.as_ref()).await
        }
    }
}
