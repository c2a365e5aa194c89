#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    gestor_shared::lambda::run(&gestor_privacy::DEAD_LETTERS).await
}
