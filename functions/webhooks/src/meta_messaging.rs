//! Messenger (`object: page`) and Instagram (`object: instagram`) deliveries: `entry[]` (one
//! per page or Instagram account, `entry.id`) with `messaging[]` events, `standby[]` events
//! (when another app holds the thread) and `changes[]` (feed, comments, mentions).
//!
//! One update per event and per change. The customer of an event is its `sender`, except for
//! an echo of a message the business sent (`message.is_echo`), where it is the `recipient`.

use gestor_shared::inbound::{Channel, UpdateKind};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::wire::{Flag, MetaEntry, Text, Update, ids};

#[derive(serde::Deserialize, Default)]
struct Event<'a> {
    #[serde(borrow, default)]
    sender: Option<Party<'a>>,
    #[serde(borrow, default)]
    recipient: Option<Party<'a>>,
    #[serde(borrow, default)]
    message: Option<MessageIds<'a>>,
    #[serde(borrow, default)]
    postback: Option<PostbackIds<'a>>,
    #[serde(default)]
    delivery: Option<IgnoredAny>,
    #[serde(default)]
    read: Option<IgnoredAny>,
}

#[derive(serde::Deserialize, Default)]
struct Party<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
}

#[derive(serde::Deserialize, Default)]
struct MessageIds<'a> {
    #[serde(borrow, default)]
    mid: Text<'a>,
    #[serde(default)]
    is_echo: Flag,
    /// An unsend carries the `mid` of the message it removes.
    #[serde(default)]
    is_deleted: Flag,
}

#[derive(serde::Deserialize, Default)]
struct PostbackIds<'a> {
    #[serde(borrow, default)]
    mid: Text<'a>,
}

pub(crate) fn split<'a>(channel: Channel, entries: &[MetaEntry<'a>], out: &mut Vec<Update<'a>>) {
    for entry in entries {
        let entry_id = entry.id.clone().into_cow();
        let lists = [("messaging", &entry.messaging), ("standby", &entry.standby)];
        for (field, events) in lists {
            for raw in events {
                out.push(event(channel, entry_id.clone(), field, raw));
            }
        }
        for change in &entry.changes {
            out.push(Update {
                channel,
                kind: UpdateKind::Event,
                field: change.field.clone().into_cow().unwrap_or(Cow::Borrowed("changes")),
                account_id: entry_id.clone().unwrap_or(Cow::Borrowed("-")),
                sender_id: None,
                entry_id: entry_id.clone(),
                update_id: None,
                dedup_extra: None,
                profile: None,
                payload: change.value,
            });
        }
    }
}

fn event<'a>(
    channel: Channel,
    entry_id: Option<Cow<'a, str>>,
    field: &'static str,
    raw: &'a RawValue,
) -> Update<'a> {
    let event: Event<'a> = ids(raw);
    let echo = event.message.as_ref().is_some_and(|m| m.is_echo.0);
    let sender = event.sender.and_then(|p| p.id.into_cow());
    let recipient = event.recipient.and_then(|p| p.id.into_cow());
    let (customer, business) = if echo { (recipient, sender) } else { (sender, recipient) };
    let (kind, update_id, dedup_extra) = match (event.message, event.postback) {
        (Some(message), _) => {
            let variant = if message.is_deleted.0 { "deleted" } else { "message" };
            (UpdateKind::Message, message.mid.into_cow(), Some(Cow::Borrowed(variant)))
        }
        (None, Some(postback)) => {
            (UpdateKind::Message, postback.mid.into_cow(), Some(Cow::Borrowed("postback")))
        }
        (None, None) if event.delivery.is_some() || event.read.is_some() => (UpdateKind::Status, None, None),
        // Reactions, edits and the rest are deduplicated by their bytes, which carry their
        // own timestamp: a reaction and its removal, or two edits, never share an id.
        (None, None) => (UpdateKind::Event, None, None),
    };
    Update {
        channel,
        kind,
        field: Cow::Borrowed(field),
        account_id: entry_id.clone().or(business).unwrap_or(Cow::Borrowed("-")),
        sender_id: customer,
        entry_id,
        update_id,
        dedup_extra,
        profile: None,
        payload: Some(raw),
    }
}
