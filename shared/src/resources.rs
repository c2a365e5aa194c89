//! The AWS resources the functions use, described once. `template.yaml` declares the same
//! table, queues and bucket (a test compares them), and the emulator bootstrap and the AWS
//! contract tests create them from here.

use crate::ports::Index;
use crate::settings::Setting;

pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [Index],
    pub ttl_attribute: &'static str,
}

pub const TABLE: TableSpec = TableSpec {
    partition_key: crate::ports::table::PK,
    sort_key: crate::ports::table::SK,
    indexes: &Index::ALL,
    ttl_attribute: crate::ports::table::TTL_ATTRIBUTE,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    /// The logical name; the deployed queue is named `{stack}-{name}` (plus `.fifo`).
    pub name: &'static str,
    /// The setting holding the queue's URL.
    pub url_setting: Setting,
    pub fifo: bool,
    /// The consumer's Lambda timeout; the queue's visibility timeout is six times it.
    pub consumer_timeout_secs: u32,
    /// Receives before a message moves to the queue's dead-letter queue.
    pub max_receive_count: u32,
}

impl QueueSpec {
    pub const fn visibility_timeout_secs(&self) -> u32 {
        self.consumer_timeout_secs * 6
    }

    pub fn queue_name(&self, prefix: &str) -> String {
        let suffix = if self.fifo { ".fifo" } else { "" };
        format!("{prefix}{}{suffix}", self.name)
    }

    pub fn dlq_name(&self, prefix: &str) -> String {
        let suffix = if self.fifo { ".fifo" } else { "" };
        format!("{prefix}{}-dlq{suffix}", self.name)
    }

    /// The dead-letter queue's URL, from the queue's: they differ by the name only (a bare
    /// name on the embedded queue).
    pub fn dlq_url(&self, queue_url: &str) -> Option<String> {
        let (base, last) = match queue_url.rsplit_once('/') {
            Some((base, last)) => (Some(base), last),
            None => (None, queue_url),
        };
        let prefix = last.strip_suffix(&self.queue_name(""))?;
        let dead = self.dlq_name(prefix);
        Some(match base {
            Some(base) => format!("{base}/{dead}"),
            None => dead,
        })
    }
}

pub const INBOUND: QueueSpec = QueueSpec {
    name: "inbound",
    url_setting: Setting::InboundQueueUrl,
    fifo: true,
    // Ten updates of table writes: no download happens on this path.
    consumer_timeout_secs: 30,
    max_receive_count: 5,
};
pub const OUTBOUND: QueueSpec = QueueSpec {
    name: "outbound",
    url_setting: Setting::OutboundQueueUrl,
    // Grouped by conversation: a conversation's replies leave in the order they were written.
    fifo: true,
    // A batch of 5 replies at up to 5 s per channel call, with room to record each.
    consumer_timeout_secs: 60,
    // SQS's highest: a reply held back behind earlier ones of its conversation is received
    // again each time they wait (each up to 6 failures and 30 waits for the channel's pace),
    // so only a job the sender keeps crashing on reaches the dead-letter queue.
    max_receive_count: 1000,
};
pub const AUTOMATION: QueueSpec = QueueSpec {
    name: "automation",
    url_setting: Setting::AutomationQueueUrl,
    fifo: false,
    consumer_timeout_secs: 60,
    max_receive_count: 5,
};
pub const PRIVACY: QueueSpec = QueueSpec {
    name: "privacy",
    url_setting: Setting::PrivacyQueueUrl,
    fifo: false,
    consumer_timeout_secs: 300,
    max_receive_count: 5,
};

/// Inbound work that must not wait on the conversation's path: media downloads, and the expiry
/// of updates parked for a message that never came. One job each, retried or re-checked with
/// its own delay: a standard queue, since FIFO queues take no per-message delay and order does
/// not matter here.
pub const DEFERRED: QueueSpec = QueueSpec {
    name: "deferred",
    url_setting: Setting::DeferredQueueUrl,
    fifo: false,
    // A batch of five downloads, 20 s at most each.
    consumer_timeout_secs: 120,
    max_receive_count: 5,
};

pub const QUEUES: [QueueSpec; 5] = [INBOUND, OUTBOUND, AUTOMATION, PRIVACY, DEFERRED];

/// How long a queue, and its dead-letter queue, keeps a message nobody took: 48 hours (from
/// when it was first sent), below the 72 hours within which an erasure is done, since SQS
/// cannot delete one person's messages (they are dropped on receipt instead). The hourly
/// drain moves dead letters into the bucket long before (`dead_letters.rs`).
pub const QUEUE_RETENTION_SECS: u32 = 48 * 3600;

/// The tag an export archive carries (`{tenant}/exports/{request id}.zip`), and the days
/// after which the bucket's lifecycle rule deletes archives so tagged. The rule runs daily
/// and late: a backstop. The download route refuses an archive past `expires_at` itself, and
/// the presigned link it answers lives minutes.
pub const EXPORT_TAG: (&str, &str) = ("retention", "export");
pub const EXPORTS_EXPIRE_DAYS: u32 = 7;

/// Where the export archive of a privacy request is kept.
pub fn export_key(tenant: &crate::domain::TenantId, request_id: &str) -> String {
    format!("{tenant}/exports/{request_id}.zip")
}
/// The tag an uploaded file carries (`x-amz-tagging`, signed into its upload link), and the
/// days after which the bucket's lifecycle rule deletes files so tagged: a file uploaded to
/// send is the business's working copy, not an archive. A message that sent it keeps its own
/// untagged copy.
pub const UPLOAD_TAG: (&str, &str) = ("retention", "upload");
pub const UPLOADS_EXPIRE_DAYS: u32 = 30;
