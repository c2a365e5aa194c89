//! Creating the whole stack's resources (table, queues, bucket) from [`crate::resources`],
//! for the emulator bootstrap and the AWS contract tests. Deployed stacks get theirs from
//! `template.yaml` instead.

use super::aws::{dynamodb_client, s3_client, sqs_client};
use crate::ports::{FileError, QueueError, TableError};
use crate::resources;
use aws_config::SdkConfig;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub table_name: String,
    pub bucket_name: String,
    /// Each queue's URL by its logical name (`QueueSpec::name`).
    pub queue_urls: HashMap<&'static str, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("creating the table: {0}")]
    Table(#[from] TableError),
    #[error("creating the queues: {0}")]
    Queue(#[from] QueueError),
    #[error("creating the bucket: {0}")]
    Bucket(#[from] FileError),
}

/// The table's name for a prefix, e.g. `gestor-dev-` gives `gestor-dev-table`.
pub fn table_name(prefix: &str) -> String {
    format!("{prefix}table")
}

/// The bucket's name for a prefix. S3 wants it lowercase, so the prefix should be.
pub fn bucket_name(prefix: &str) -> String {
    format!("{prefix}files")
}

/// Creates every resource, named with `prefix`. Running it again on the same prefix answers
/// the same names.
pub async fn provision(config: &SdkConfig, prefix: &str) -> Result<Provisioned, ProvisionError> {
    let table_name = table_name(prefix);
    super::dynamo::create_table(&dynamodb_client(config), &table_name).await?;
    let queue_urls = super::sqs::create_queues(&sqs_client(config), prefix).await?;
    let bucket_name = bucket_name(prefix);
    super::s3::create_bucket(&s3_client(config), &bucket_name).await?;
    Ok(Provisioned { table_name, bucket_name, queue_urls })
}

impl Provisioned {
    /// The settings the functions read to find these resources, as environment variables.
    pub fn env_exports(&self) -> Vec<(String, String)> {
        let mut exports = vec![
            ("TABLE_NAME".to_owned(), self.table_name.clone()),
            ("BUCKET_NAME".to_owned(), self.bucket_name.clone()),
        ];
        for spec in resources::QUEUES {
            if let Some(url) = self.queue_urls.get(spec.name) {
                exports.push((spec.url_setting.name().to_owned(), url.clone()));
            }
        }
        exports
    }
}
