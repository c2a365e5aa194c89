//! Key formats of the conversation item and its thread pointer, and the items as stored:
//! keys, index attributes and subject marks (infra/DATA-MODEL.md).

use time::{OffsetDateTime, UtcOffset};

use super::conversations::{Conversation, ConversationFilter, ConversationStatus};
use super::{personal, to_item};
use crate::domain::TenantId;
use crate::ids::MemberId;
use crate::ports::table::{PK, SK};
use crate::ports::{Index, Item, Key, TableError};

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

/// The conversation item: the record, its key, both inbox index entries and its subject.
pub fn conversation_item(tenant: &TenantId, c: &Conversation, rev: u64) -> Result<Item, TableError> {
    let mut item = to_item(c)?;
    let key = conversation(tenant, c.id.as_str());
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    let activity = activity(c.last_message_at, c.id.as_str());
    let status = c.status.as_str();
    item.insert(Index::Gsi1.partition_attribute().into(), status_partition(tenant, status).into());
    item.insert(Index::Gsi1.sort_attribute().into(), activity.clone().into());
    let assignee = c.assignee_id.as_ref().map(MemberId::as_str);
    item.insert(
        Index::Gsi2.partition_attribute().into(),
        assignee_partition(tenant, assignee, status).into(),
    );
    item.insert(Index::Gsi2.sort_attribute().into(), activity.into());
    item.insert(REV.into(), rev.into());
    personal::mark(&mut item, tenant, c.contact_id.as_str(), "CONVERSATION");
    Ok(item)
}

/// The pointer of a (contact, channel account) to its conversation.
pub fn thread_item(tenant: &TenantId, c: &Conversation) -> Item {
    let key = thread(tenant, c.contact_id.as_str(), c.channel_account_id.as_str());
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    item.insert(CONVERSATION_ID.into(), c.id.as_str().into());
    item.insert("contact_id".into(), c.contact_id.as_str().into());
    personal::mark(&mut item, tenant, c.contact_id.as_str(), "CONVERSATION_INDEX");
    item
}

/// The inbound path's way from a customer's channel id on a channel account to their contact
/// and conversation, read with the message's own claim in one request. Only a shortcut: the
/// thread pointer stays the rule, and a customer pointer that disagrees with the identity
/// claim or names a conversation that is gone is ignored and rewritten.
pub fn customer(tenant: &TenantId, channel_account_id: &str, external_id: &str) -> Key {
    Key::new(format!("{tenant}#CUSTOMER#{channel_account_id}#{external_id}"), "THREAD")
}

pub fn customer_item(tenant: &TenantId, key: &Key, c: &Conversation) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.clone().into());
    item.insert(SK.into(), key.sk.clone().into());
    item.insert(CONVERSATION_ID.into(), c.id.as_str().into());
    item.insert("contact_id".into(), c.contact_id.as_str().into());
    personal::mark(&mut item, tenant, c.contact_id.as_str(), "CONVERSATION_INDEX");
    item
}

/// The index and its partitions holding the conversations a filter matches. Without a
/// status the four status partitions are read side by side and merged by activity.
pub fn inbox(tenant: &TenantId, filter: &ConversationFilter) -> (Index, Vec<String>) {
    let statuses = match filter.status {
        Some(status) => vec![status],
        None => ConversationStatus::ALL.to_vec(),
    };
    let assignee = match (&filter.assignee, filter.unassigned) {
        (Some(member), _) => Some(Some(member.as_str())),
        (None, true) => Some(None),
        (None, false) => None,
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

/// UTC RFC 3339 with exactly three fraction digits (`2026-11-28T10:00:00.000Z`): one width
/// for every instant, so that string order is time order. Times before year 0 clamp to its
/// start (the `time` crate stops at 9999 at the other end).
pub fn fixed_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    if t.year() < 0 {
        return "0000-01-01T00:00:00.000Z".to_owned();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_time_has_one_width_and_sorts_as_time() {
        let times = [
            datetime!(1969-12-31 23:59:59.5 UTC),
            datetime!(2026-11-28 10:00:00 UTC),
            datetime!(2026-11-28 04:00:00.001 -06:00),
            datetime!(2026-11-28 10:00:00.010 UTC),
            datetime!(9999-12-31 23:59:59.999 UTC),
        ];
        let formatted: Vec<String> = times.iter().map(|t| fixed_time(*t)).collect();
        assert_eq!(formatted[1], "2026-11-28T10:00:00.000Z");
        assert_eq!(formatted[2], "2026-11-28T10:00:00.001Z");
        assert!(formatted.iter().all(|f| f.len() == 24), "{formatted:?}");
        assert!(formatted.windows(2).all(|w| w[0] < w[1]), "{formatted:?}");
        assert_eq!(fixed_time(datetime!(-0001-06-01 0:00 UTC)), "0000-01-01T00:00:00.000Z");
    }
}
