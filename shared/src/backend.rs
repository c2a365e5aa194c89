//! Choosing the adapters: AWS in Lambda (and against the emulator), embedded on a laptop.

use std::path::Path;
use std::sync::Arc;

use crate::adapters::{
    aws, dynamo, embedded, embedded_queue, embedded_table, local_files, local_mail, metered, s3, ses, sqs,
};
use crate::ports::{Files, Mailer, Queue, Table};
use crate::settings::{Setting, Settings};

#[derive(Clone)]
pub struct Backend {
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn Queue>,
    pub files: Arc<dyn Files>,
    pub mail: Arc<dyn Mailer>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the embedded backend: {0}")]
pub struct BackendError(String);

/// Every table request is metered (`adapters::metered`), whichever adapter serves it.
fn metered(table: Arc<dyn Table>) -> Arc<dyn Table> {
    Arc::new(metered::Metered::new(table))
}

impl Backend {
    /// The AWS adapters, from the SDK's standard environment. Clients are built here once per
    /// cold start and shared by every invocation.
    pub async fn aws(settings: &Settings) -> Self {
        Self::aws_with(&aws::sdk_config().await, settings)
    }

    /// The AWS adapters over a given SDK configuration (the emulator's, in tests). A function
    /// that does not declare `TABLE_NAME` or `BUCKET_NAME` gets no way to reach them
    /// (`registry::Deps`); building an SDK client makes no request.
    pub fn aws_with(config: &aws_config::SdkConfig, settings: &Settings) -> Self {
        let table_name = settings.get(Setting::TableName).unwrap_or_default();
        let bucket_name = settings.get(Setting::BucketName).unwrap_or_default();
        let mail_from = settings.get(Setting::MailFrom).unwrap_or_default();
        Self {
            table: metered(Arc::new(dynamo::DynamoTable::new(aws::dynamodb_client(config), table_name))),
            queue: Arc::new(sqs::SqsQueue::new(aws::sqs_client(config))),
            files: Arc::new(s3::S3Files::new(aws::s3_client(config), bucket_name)),
            mail: Arc::new(ses::SesMailer::new(aws::sesv2_client(config), mail_from)),
        }
    }

    /// The embedded adapters under `dir`: one database file for the table and the queues, and
    /// a folder for files whose presigned URLs point at `files_base_url`.
    pub fn embedded(dir: &Path, files_base_url: &str, signing_key: &[u8]) -> Result<Self, BackendError> {
        let db = embedded::open(&dir.join("gestor.redb")).map_err(|e| BackendError(e.to_string()))?;
        let table =
            embedded_table::EmbeddedTable::new(db.clone()).map_err(|e| BackendError(e.to_string()))?;
        let queue = embedded_queue::EmbeddedQueue::new(db).map_err(|e| BackendError(e.to_string()))?;
        let files = Self::embedded_files(dir, files_base_url, signing_key);
        let mail = Self::embedded_mailbox(dir, Setting::MailFrom.default_value().unwrap_or_default());
        Ok(Self {
            table: metered(Arc::new(table)),
            queue: Arc::new(queue),
            files: Arc::new(files),
            mail: Arc::new(mail),
        })
    }

    /// The embedded file store under `dir`; the local server also serves its presigned URLs.
    pub fn embedded_files(dir: &Path, files_base_url: &str, signing_key: &[u8]) -> local_files::LocalFiles {
        local_files::LocalFiles::new(dir.join("files"), files_base_url, signing_key)
    }

    /// The embedded mailbox under `dir`, which the local server shows at `GET /dev/mail`;
    /// its emails come `from` (the local server's `MAIL_FROM`).
    pub fn embedded_mailbox(dir: &Path, from: &str) -> local_mail::LocalMailbox {
        local_mail::LocalMailbox::new(dir.join("mail"), from)
    }
}
