//! Key formats of the message item and its channel id claim, and the items as stored
//! (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::conversations_keys::fixed_time;
use super::messages::Message;
use super::{personal, to_item};
use crate::domain::TenantId;
use crate::ports::table::{PK, SK};
use crate::ports::{Item, Key, TableError};

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

/// One message per channel message id in a tenant; the claim also points at the message.
/// Only ever read by key, so each claim has its own partition rather than one hot one.
pub fn channel_claim(tenant: &TenantId, channel: &str, channel_message_id: &str) -> Key {
    Key::new(format!("{tenant}#CHANNEL_MESSAGE#{channel}#{channel_message_id}"), "CLAIM")
}

pub fn message_key(tenant: &TenantId, m: &Message) -> Key {
    message(tenant, m.conversation_id.as_str(), m.created_at, m.id.as_str())
}

/// The message item: the record, its key in the thread and its subject.
pub fn message_item(tenant: &TenantId, m: &Message) -> Result<Item, TableError> {
    let mut item = to_item(m)?;
    let key = message_key(tenant, m);
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    item.insert(REV.into(), 0.into());
    personal::mark(&mut item, tenant, m.contact_id.as_str(), "MESSAGE");
    Ok(item)
}

/// The claim of a channel message id: unique, and the way from that id to the message.
pub fn claim_item(tenant: &TenantId, claim: &Key, m: &Message) -> Item {
    let message = message_key(tenant, m);
    let mut item = Item::new();
    item.insert(PK.into(), claim.pk.clone().into());
    item.insert(SK.into(), claim.sk.clone().into());
    item.insert("message_pk".into(), message.pk.into());
    item.insert("message_sk".into(), message.sk.into());
    item.insert("message_id".into(), m.id.as_str().into());
    personal::mark(&mut item, tenant, m.contact_id.as_str(), "MESSAGE_INDEX");
    item
}
