use gestor_shared::backend::Backend;
use gestor_shared::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    gestor_shared::logging::init();
    let settings = Settings::from_env()?;
    let backend = Backend::aws(&settings).await;
    gestor_shared::worker::run_lambda(gestor_inbound::Deferred::new(&backend, &settings)?).await
}
