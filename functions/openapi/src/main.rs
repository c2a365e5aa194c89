#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gestor_shared::logging::init();
    lambda_http::run(lambda_http::service_fn(|req| async {
        Ok::<_, std::convert::Infallible>(gestor_openapi::handle(req).await)
    }))
    .await
}
