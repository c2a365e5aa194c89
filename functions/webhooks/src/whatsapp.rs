//! WhatsApp Cloud API deliveries (`object: whatsapp_business_account`): `entry[]` (one per
//! WhatsApp Business Account) with `changes[]`; a `messages` change's `value` carries the
//! phone number it reached (`metadata.phone_number_id`, the channel account), the senders'
//! profiles (`contacts[]`), and `messages[]` or `statuses[]`.
//!
//! One update per message and per status. Any other change (`message_template_status_update`,
//! a `messages` change with only `errors` ...) is one event carrying the change's `value`, for
//! the phone number in its `metadata` when it has one, else for the WABA.

use gestor_shared::inbound::{Channel, UpdateKind};
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::wire::{MetaEntry, Text, Update, ids};

#[derive(serde::Deserialize)]
struct MessagesValue<'a> {
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    contacts: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    statuses: Vec<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    phone_number_id: Text<'a>,
}

#[derive(serde::Deserialize, Default)]
struct ReactionIds<'a> {
    /// Absent when the reaction is removed.
    #[serde(borrow, default)]
    emoji: Text<'a>,
}

#[derive(serde::Deserialize, Default)]
struct MessageIds<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    /// An edit, a revoke or a reaction can share the id of the message it changes: the type,
    /// the time and a reaction's emoji keep their deduplication ids apart, while a redelivery,
    /// which repeats all of them, keeps its own.
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    reaction: Option<ReactionIds<'a>>,
    #[serde(borrow, default)]
    from: Text<'a>,
    /// The business-scoped user id of a user known by username, who may have no `from`.
    #[serde(borrow, default)]
    from_user_id: Text<'a>,
}

#[derive(serde::Deserialize, Default)]
struct StatusIds<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(borrow, default)]
    recipient_id: Text<'a>,
    #[serde(borrow, default)]
    recipient_user_id: Text<'a>,
}

#[derive(serde::Deserialize, Default)]
struct ContactIds<'a> {
    #[serde(borrow, default)]
    wa_id: Text<'a>,
    #[serde(borrow, default)]
    user_id: Text<'a>,
}

pub(crate) fn split<'a>(entries: &[MetaEntry<'a>], out: &mut Vec<Update<'a>>) {
    for entry in entries {
        let waba = entry.id.clone().into_cow();
        for change in &entry.changes {
            let field = change.field.clone().into_cow().unwrap_or(Cow::Borrowed("-"));
            // Read leniently whatever the field: other fields can carry `metadata` too.
            let mut value =
                change.value.and_then(|raw| serde_json::from_str::<MessagesValue<'a>>(raw.get()).ok());
            let account = value
                .as_mut()
                .and_then(|v| v.metadata.take())
                .and_then(|m| m.phone_number_id.into_cow())
                .or_else(|| waba.clone())
                .unwrap_or(Cow::Borrowed("-"));
            let splits = field == "messages";
            let Some(value) = value.filter(|v| splits && !(v.messages.is_empty() && v.statuses.is_empty()))
            else {
                out.push(Update {
                    channel: Channel::Whatsapp,
                    kind: UpdateKind::Event,
                    field,
                    account_id: account,
                    sender_id: None,
                    entry_id: waba.clone(),
                    update_id: None,
                    dedup_extra: None,
                    profile: None,
                    payload: change.value,
                });
                continue;
            };
            let contacts: Vec<(ContactIds<'a>, &'a RawValue)> =
                value.contacts.iter().map(|raw| (ids(raw), *raw)).collect();
            for raw in &value.messages {
                let message: MessageIds<'a> = ids(raw);
                let variant = message.variant();
                let profile = profile_of(&contacts, &message);
                let sender = message
                    .from
                    .into_cow()
                    .or(message.from_user_id.into_cow())
                    .or_else(|| profile.and_then(|(c, _)| c.wa_id.clone().into_cow()));
                out.push(Update {
                    channel: Channel::Whatsapp,
                    kind: UpdateKind::Message,
                    field: field.clone(),
                    account_id: account.clone(),
                    sender_id: sender,
                    entry_id: waba.clone(),
                    dedup_extra: Some(Cow::Owned(variant)),
                    update_id: message.id.into_cow(),
                    profile: profile.map(|(_, raw)| *raw),
                    payload: Some(*raw),
                });
            }
            for raw in &value.statuses {
                let status: StatusIds<'a> = ids(raw);
                out.push(Update {
                    channel: Channel::Whatsapp,
                    kind: UpdateKind::Status,
                    field: field.clone(),
                    account_id: account.clone(),
                    sender_id: status.recipient_id.into_cow().or(status.recipient_user_id.into_cow()),
                    entry_id: waba.clone(),
                    update_id: status.id.into_cow(),
                    dedup_extra: status.status.into_cow(),
                    profile: None,
                    payload: Some(*raw),
                });
            }
        }
    }
}

impl MessageIds<'_> {
    /// What tells this update from another carrying the same id.
    fn variant(&self) -> String {
        let emoji = self.reaction.as_ref().map(|r| r.emoji.as_deref().unwrap_or("-"));
        format!(
            "{}|{}|{}",
            self.kind.as_deref().unwrap_or("-"),
            self.timestamp.as_deref().unwrap_or("-"),
            emoji.unwrap_or_default()
        )
    }
}

/// The `contacts[]` entry of a message's sender: by `wa_id` or business-scoped user id, else
/// the only one there is.
fn profile_of<'c, 'a>(
    contacts: &'c [(ContactIds<'a>, &'a RawValue)],
    message: &MessageIds<'a>,
) -> Option<&'c (ContactIds<'a>, &'a RawValue)> {
    let from = message.from.as_deref();
    let user = message.from_user_id.as_deref();
    contacts
        .iter()
        .find(|(c, _)| {
            (from.is_some() && c.wa_id.as_deref() == from) || (user.is_some() && c.user_id.as_deref() == user)
        })
        .or(if contacts.len() == 1 { contacts.first() } else { None })
}
