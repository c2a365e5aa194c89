use gestor_shared::backend::Backend;
use gestor_shared::http::{Core, run_lambda};
use gestor_shared::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gestor_shared::logging::init();
    let settings = Settings::from_env()?;
    let table = Backend::aws_table(&settings).await;
    run_lambda(gestor_conversations::Conversations::new(Core::new(table, &settings))).await
}
