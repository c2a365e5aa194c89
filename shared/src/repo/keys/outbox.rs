//! Key format of a reply waiting to be sent (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::time::fixed_time;
use crate::domain::TenantId;
use crate::ports::Key;

/// Waiting replies are spread over this many partitions (by message id), so that no single
/// partition takes every tenant's replies.
pub const SHARDS: u32 = 8;

/// One partition of the waiting replies, oldest first.
pub fn partition(shard: u32) -> String {
    format!("OUTBOX#{shard}")
}

/// The first sort key of entries queued at `at` or later.
pub fn since(at: OffsetDateTime) -> String {
    fixed_time(at)
}

/// The entry of a reply queued at `queued_at`: ids only.
pub fn entry(tenant: &TenantId, message_id: &str, queued_at: OffsetDateTime) -> Key {
    let shard = super::shards::shard(message_id, SHARDS);
    Key::new(partition(shard), format!("{}#{tenant}#{message_id}", fixed_time(queued_at)))
}
