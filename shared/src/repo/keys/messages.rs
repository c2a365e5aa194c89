//! Key formats of the message item and of its media file (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::time::fixed_time;
use crate::domain::TenantId;
use crate::ids::MessageId;
use crate::ports::Key;

/// Internal revision of a message item, for reactions and unsends (read, then write if
/// unchanged). Status updates condition on the status itself instead.
pub const REV: &str = "rev";

/// A conversation's messages, in the channel's order.
pub fn messages_partition(tenant: &TenantId, conversation_id: &str) -> String {
    format!("{tenant}#MESSAGES#{conversation_id}")
}

/// Ordered by the channel's own timestamp, then by id (messages of one second on WhatsApp),
/// never by when we processed them: a late retry lands in its place.
pub fn message(tenant: &TenantId, conversation_id: &str, created_at: OffsetDateTime, id: &str) -> Key {
    Key::new(messages_partition(tenant, conversation_id), format!("{}#{id}", fixed_time(created_at)))
}

/// Where the downloaded file of a message's media is kept in the bucket: one object per
/// message, so a retried download overwrites and an unsend knows what to delete.
pub fn media_file_key(tenant: &TenantId, message_id: &MessageId) -> String {
    format!("{tenant}/media/{message_id}")
}
