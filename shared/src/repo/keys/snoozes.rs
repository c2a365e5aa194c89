//! Key format of a snoozed conversation's wake-up (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::time::fixed_time;
use crate::domain::TenantId;
use crate::ports::Key;

/// Wake-ups are spread over this many partitions (by conversation id).
pub const SHARDS: u32 = 4;

pub fn partition(shard: u32) -> String {
    format!("SNOOZE#{shard}")
}

/// The first sort key of wake-ups due at `at` or later.
pub fn due_from(at: OffsetDateTime) -> String {
    fixed_time(at)
}

/// The wake-up of a conversation snoozed until `until`: ids only.
pub fn wake_up(tenant: &TenantId, conversation_id: &str, until: OffsetDateTime) -> Key {
    let shard = super::shards::shard(conversation_id, SHARDS);
    Key::new(partition(shard), format!("{}#{tenant}#{conversation_id}", fixed_time(until)))
}
