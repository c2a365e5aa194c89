use gestor_shared::backend::Backend;
use gestor_shared::http::{Core, run_lambda};
use gestor_shared::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gestor_shared::logging::init();
    let settings = Settings::from_env()?;
    let backend = Backend::aws(&settings).await;
    run_lambda(gestor_contacts::Contacts::new(Core::new(backend.table, &settings), backend.files)).await
}
