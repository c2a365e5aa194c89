use gestor_shared::backend::Backend;
use gestor_shared::http::{Core, run_lambda};
use gestor_shared::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gestor_shared::logging::init();
    let settings = Settings::from_env()?;
    let table = Backend::aws_table(&settings).await;
    // The key ring and the Graph client (its TLS roots and connection pool) once per cold start.
    let channels = gestor_channels::Channels::from_settings(Core::new(table, &settings), &settings)?;
    run_lambda(channels).await
}
