//! Key formats of the conversation item, its thread pointer and its customer pointer
//! (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::time::fixed_time;
use crate::domain::{ConversationStatus, TenantId};
use crate::ports::{Index, Key};

/// Internal revision of a conversation item (never shown): see `conversations`.
pub const REV: &str = "rev";
pub const UNREAD: &str = "unread_count";
/// The pointer's attribute naming the conversation of a (contact, channel account).
pub const CONVERSATION_ID: &str = "conversation_id";

pub fn conversation(tenant: &TenantId, id: &str) -> Key {
    Key::new(format!("{tenant}#CONVERSATION"), id)
}

/// The one conversation of a contact on a channel account: created only if absent, so two
/// workers racing on a contact's first message create one conversation.
pub fn thread(tenant: &TenantId, contact_id: &str, channel_account_id: &str) -> Key {
    Key::new(threads_partition(tenant), format!("{contact_id}#{channel_account_id}"))
}

/// Every thread pointer of the tenant; `begins_with({contact id}#)` gives a contact's.
pub fn threads_partition(tenant: &TenantId) -> String {
    format!("{tenant}#CONVERSATION#THREAD")
}

/// gsi1: the inbox by status, newest activity first.
pub fn status_partition(tenant: &TenantId, status: &str) -> String {
    format!("{tenant}#CONVERSATION#STATUS#{status}")
}

/// gsi2: the inbox of one assignee (or of nobody) in one status, newest activity first. The
/// status is part of the partition because "mine, open" is the view agents live in, and a
/// filter over every resolved conversation they ever had would read pages of nothing.
pub fn assignee_partition(tenant: &TenantId, assignee: Option<&str>, status: &str) -> String {
    format!("{tenant}#CONVERSATION#ASSIGNEE#{}#{status}", assignee.unwrap_or("NONE"))
}

/// The inbound path's way from a customer's channel id on a channel account to their contact
/// and conversation, read with the message's own claim in one request. Only a shortcut: the
/// thread pointer stays the rule, and a customer pointer that disagrees with the identity
/// claim or names a conversation that is gone is ignored and rewritten.
pub fn customer(tenant: &TenantId, channel_account_id: &str, external_id: &str) -> Key {
    Key::new(format!("{tenant}#CUSTOMER#{channel_account_id}#{external_id}"), "THREAD")
}

/// The index and its partitions holding the conversations in `status` (every status when
/// `None`) of `assignee` (`Some(None)`: nobody's; `None`: anyone's). Without a status the four
/// status partitions are read side by side and merged by activity.
pub fn inbox(
    tenant: &TenantId,
    status: Option<ConversationStatus>,
    assignee: Option<Option<&str>>,
) -> (Index, Vec<String>) {
    let statuses = match status {
        Some(status) => vec![status],
        None => ConversationStatus::ALL.to_vec(),
    };
    let partitions = statuses.into_iter().map(|status| match assignee {
        Some(who) => assignee_partition(tenant, who, status.as_str()),
        None => status_partition(tenant, status.as_str()),
    });
    (if assignee.is_some() { Index::Gsi2 } else { Index::Gsi1 }, partitions.collect())
}

/// The sort value of both inbox indexes: last activity, then the id so that it is unique.
pub fn activity(last_message_at: OffsetDateTime, id: &str) -> String {
    format!("{}#{id}", fixed_time(last_message_at))
}
