//! Adapters of the ports: AWS (DynamoDB, SQS, S3 through the official SDK) and embedded
//! (redb on local disk, a local folder), honouring the same contract.

pub mod aws;
pub mod codec;
pub mod dynamo;
pub mod dynamo_expr;
pub mod embedded;
pub mod embedded_eval;
pub mod embedded_queue;
pub mod embedded_table;
pub mod local_files;
pub mod local_mail;
pub mod metered;
pub mod provision;
pub mod s3;
pub mod secrets_manager;
pub mod ses;
pub mod sqs;
pub mod table_rules;
