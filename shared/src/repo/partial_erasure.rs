//! A contact's partial cancellation: the conversations, messages or fields chosen are
//! erased and the rest of the contact stays. Chosen conversations and messages are hidden
//! the moment the request is accepted (marked, read as absent, out of the inbox indexes),
//! then erased as a whole cancellation erases (`erasure.rs`): their items, files and parked
//! updates deleted, their channel ids kept as keyed digests only, so that a late redelivery
//! brings nothing back. Chosen media leave their messages (the files deleted, the messages
//! kept with their text). Chosen fields are emptied on the contact.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

use super::contacts::Contact;
use super::erasure::{self, Erasure, ErasureError, Found};
use super::personal::{self, ERASING, visible};
use crate::domain::TenantId;
use crate::outbound::SendJob;
use crate::ports::{Condition, Index, Item, Key, Table, TableError, Update};

/// The fields of a contact a partial cancellation can erase.
pub const ERASABLE_FIELDS: [&str; 5] = ["name", "phones", "emails", "tags", "attributes"];

/// What a partial cancellation covers:
/// `{"conversation_ids" | "message_ids" | "media_message_ids" | "fields": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Conversations(BTreeSet<String>),
    Messages(BTreeSet<String>),
    /// The media (file, caption, the channel's media id) of these messages; the messages stay
    /// (their text too, unless it was the caption).
    Media(BTreeSet<String>),
    Fields(BTreeSet<String>),
}

impl Part {
    /// The part a request's `details` name (as the filing checked them); `None` for a whole
    /// cancellation.
    pub fn of(details: &Value) -> Option<Part> {
        let list = |name: &str| -> Option<BTreeSet<String>> {
            details
                .get(name)?
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        };
        if let Some(ids) = list("conversation_ids") {
            return Some(Part::Conversations(ids));
        }
        if let Some(ids) = list("message_ids") {
            return Some(Part::Messages(ids));
        }
        if let Some(ids) = list("media_message_ids") {
            return Some(Part::Media(ids));
        }
        list("fields").map(Part::Fields)
    }

    /// `contact` with the chosen fields emptied, and the names of those that held something.
    pub fn emptied(&self, contact: &Contact) -> (Contact, Vec<&'static str>) {
        let mut next = contact.clone();
        let Part::Fields(fields) = self else { return (next, Vec::new()) };
        let mut changed = Vec::new();
        for field in ERASABLE_FIELDS.iter().filter(|f| fields.contains(**f)) {
            let held = match *field {
                "name" => next.name.take().is_some(),
                "phones" => !std::mem::take(&mut next.phones).is_empty(),
                "emails" => !std::mem::take(&mut next.emails).is_empty(),
                "tags" => !std::mem::take(&mut next.tags).is_empty(),
                _ => !std::mem::replace(&mut next.attributes, Map::new()).is_empty(),
            };
            if held {
                changed.push(*field);
            }
        }
        (next, changed)
    }
}

/// The contact's items the part covers: a conversation with its pointers, messages, their
/// claims and the replies waiting in the outbox; or the messages chosen, with theirs.
/// Parked updates go by the messages' channel ids (`Erasure::erase`).
pub async fn items_of_part(
    table: &dyn Table,
    tenant: &TenantId,
    contact_id: &str,
    part: &Part,
) -> Result<Vec<Item>, TableError> {
    let items = personal::items_of_subject(table, tenant, contact_id).await?;
    let text = |item: &Item, name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let job = |item: &Item| item.get("job").and_then(|j| serde_json::from_value::<SendJob>(j.clone()).ok());
    let mut messages = BTreeSet::new();
    for item in items.iter().filter(|i| kind(i) == "MESSAGE") {
        let chosen = match part {
            Part::Conversations(ids) => text(item, "conversation_id").is_some_and(|c| ids.contains(&c)),
            Part::Messages(ids) | Part::Media(ids) => text(item, "id").is_some_and(|m| ids.contains(&m)),
            Part::Fields(_) => false,
        };
        if let (true, Some(id)) = (chosen, text(item, "id")) {
            messages.insert(id);
        }
    }
    let conversations = match part {
        Part::Conversations(ids) => ids.clone(),
        _ => BTreeSet::new(),
    };
    if let Part::Media(_) = part {
        let chosen =
            |item: &Item| kind(item) == "MESSAGE" && text(item, "id").is_some_and(|m| messages.contains(&m));
        return Ok(items.into_iter().filter(chosen).collect());
    }
    Ok(items
        .into_iter()
        .filter(|item| match kind(item) {
            "CONVERSATION" => text(item, "id").is_some_and(|c| conversations.contains(&c)),
            "CONVERSATION_INDEX" => text(item, "conversation_id").is_some_and(|c| conversations.contains(&c)),
            "MESSAGE" => text(item, "id").is_some_and(|m| messages.contains(&m)),
            "MESSAGE_INDEX" => text(item, "message_id").is_some_and(|m| messages.contains(&m)),
            "OUTBOX" => job(item).is_some_and(|j| messages.contains(j.message_id.as_str())),
            _ => false,
        })
        .collect())
}

/// Hides what the part covers at once: its conversations out of the inbox, its messages
/// marked (read as absent), its waiting replies failed as `erased`; chosen media taken off
/// their messages. Repeatable.
pub async fn hide(
    table: &dyn Table,
    tenant: &TenantId,
    part: &Part,
    items: &[Item],
    request_id: &str,
) -> Result<(), TableError> {
    if let Part::Media(_) = part {
        for item in items {
            strip_media(table, item).await?;
        }
        return Ok(());
    }
    for item in items.iter().filter(|i| visible(i)) {
        match kind(item) {
            "CONVERSATION" => erasure::hide_conversation(table, item.clone(), request_id).await?,
            "MESSAGE" => {
                let Some(key) = Key::of(item) else { continue };
                let mark = Update::default().set(ERASING, request_id);
                match table.update(&key, mark, Some(Condition::Exists)).await {
                    Ok(_) | Err(TableError::ConditionFailed) => {}
                    Err(e) => return Err(e),
                }
            }
            "OUTBOX" => erasure::stop_reply(table, tenant, item).await?,
            _ => {}
        }
    }
    Ok(())
}

/// Takes the media off a message (the revision moved, so a download finishing meanwhile
/// finds the message changed, reads it again without media, and deletes its file).
pub async fn strip_media(table: &dyn Table, item: &Item) -> Result<(), TableError> {
    let Some(key) = Key::of(item) else { return Ok(()) };
    let mut update = Update::default().remove("media").add(super::keys::messages::REV, 1);
    // The channels' mappings copy a caption into the text as well.
    let caption = item.get("media").and_then(|m| m.get("caption")).and_then(Value::as_str);
    if caption.is_some_and(|c| item.get("text").and_then(Value::as_str) == Some(c)) {
        update = update.remove("text");
    }
    match table.update(&key, update, Some(Condition::Exists)).await {
        Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What erasing the part's items takes, the raw deliveries naming their messages included.
pub async fn survey(erasure: &Erasure, tenant: &TenantId, items: Vec<Item>) -> Result<Found, ErasureError> {
    let named: Vec<String> = items
        .iter()
        .filter(|i| kind(i) == "MESSAGE")
        .flat_map(|i| {
            ["channel_message_id", "id"].map(|name| i.get(name).and_then(Value::as_str).map(str::to_owned))
        })
        .flatten()
        .collect();
    let payloads = erasure.payloads_naming(tenant, &named).await?;
    Ok(Found::of(tenant, items, payloads))
}

fn kind(item: &Item) -> &str {
    let sort = item.get(Index::Subject.sort_attribute()).and_then(Value::as_str).unwrap_or_default();
    sort.split('#').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_name_one_part() {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        assert_eq!(
            Part::of(&json!({"conversation_ids": ["cv_1"]})),
            Some(Part::Conversations(ids(&["cv_1"])))
        );
        assert_eq!(
            Part::of(&json!({"message_ids": ["ms_1", "ms_2"]})),
            Some(Part::Messages(ids(&["ms_1", "ms_2"])))
        );
        assert_eq!(Part::of(&json!({"fields": ["name"]})), Some(Part::Fields(ids(&["name"]))));
        assert_eq!(Part::of(&json!({})), None);
    }
}
