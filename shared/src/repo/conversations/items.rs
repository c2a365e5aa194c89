//! The items a conversation is stored as: the record with its two inbox index entries, and
//! the pointers that find it from a contact and a channel account.

use super::Conversation;
use crate::domain::TenantId;
use crate::ids::MemberId;
use crate::ports::table::{PK, SK};
use crate::ports::{Index, Item, Key, TableError};
use crate::repo::keys::conversations::{self as keys, CONVERSATION_ID, REV};
use crate::repo::{personal, to_item};

/// The conversation item: the record, its key, both inbox index entries and its subject.
pub(crate) fn conversation_item(tenant: &TenantId, c: &Conversation, rev: u64) -> Result<Item, TableError> {
    let mut item = to_item(c)?;
    let key = keys::conversation(tenant, c.id.as_str());
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    let activity = keys::activity(c.last_message_at, c.id.as_str());
    let status = c.status.as_str();
    item.insert(Index::Gsi1.partition_attribute().into(), keys::status_partition(tenant, status).into());
    item.insert(Index::Gsi1.sort_attribute().into(), activity.clone().into());
    let assignee = c.assignee_id.as_ref().map(MemberId::as_str);
    item.insert(
        Index::Gsi2.partition_attribute().into(),
        keys::assignee_partition(tenant, assignee, status).into(),
    );
    item.insert(Index::Gsi2.sort_attribute().into(), activity.into());
    item.insert(REV.into(), rev.into());
    personal::mark(&mut item, tenant, c.contact_id.as_str(), "CONVERSATION");
    Ok(item)
}

/// The pointer of a (contact, channel account) to its conversation.
pub(crate) fn thread_item(tenant: &TenantId, c: &Conversation) -> Item {
    let key = keys::thread(tenant, c.contact_id.as_str(), c.channel_account_id.as_str());
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    item.insert(CONVERSATION_ID.into(), c.id.as_str().into());
    item.insert("contact_id".into(), c.contact_id.as_str().into());
    personal::mark(&mut item, tenant, c.contact_id.as_str(), "CONVERSATION_INDEX");
    item
}

pub(crate) fn customer_item(tenant: &TenantId, key: &Key, c: &Conversation) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.clone().into());
    item.insert(SK.into(), key.sk.clone().into());
    item.insert(CONVERSATION_ID.into(), c.id.as_str().into());
    item.insert("contact_id".into(), c.contact_id.as_str().into());
    personal::mark(&mut item, tenant, c.contact_id.as_str(), "CONVERSATION_INDEX");
    item
}
