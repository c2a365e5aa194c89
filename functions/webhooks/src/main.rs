use gestor_shared::adapters::{aws, s3::S3Files, sqs::SqsQueue};
use gestor_shared::settings::Settings;
use gestor_webhooks::Webhooks;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gestor_shared::logging::init();
    let settings = Settings::from_env()?;
    // The queue and the bucket only: this function never touches the table.
    let sdk = aws::sdk_config().await;
    let queue = Arc::new(SqsQueue::new(aws::sqs_client(&sdk)));
    let files = Arc::new(S3Files::new(aws::s3_client(&sdk), settings.bucket_name.clone()));
    let webhooks = Webhooks::new(&settings, queue, files);
    let webhooks = &webhooks;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(webhooks.handle(req).await)
    }))
    .await
}
