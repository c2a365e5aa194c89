//! What a partial cancellation names, checked when it is filed: exactly one of
//! `conversation_ids`, `message_ids`, `media_message_ids` (the contact's own, each once; for
//! media, messages that carry some) or `fields` (of
//! [`ERASABLE_FIELDS`]). The items it covers are read here too, so that the filing hides them
//! before it answers.

use gestor_shared::domain::TenantId;
use gestor_shared::http::{ApiError, FieldError};
use gestor_shared::ids::{ConversationId, MessageId};
use gestor_shared::ports::{Index, Item, Table};
use gestor_shared::repo::partial_erasure::{self, ERASABLE_FIELDS, Part};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The most ids or fields one request names.
pub const MOST_NAMED: usize = 100;

const WAYS: [&str; 4] = ["conversation_ids", "message_ids", "media_message_ids", "fields"];

/// The part `details` name, as stored on the request, and the contact's items it covers.
pub async fn checked(
    table: &dyn Table,
    tenant: &TenantId,
    contact_id: &str,
    details: &Map<String, Value>,
) -> Result<(Value, Vec<Item>), ApiError> {
    if let Some(unknown) = details.keys().find(|k| !WAYS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            format!("details.{unknown}"),
            "a partial cancellation names conversation_ids, message_ids, media_message_ids or fields",
        ));
    }
    if details.len() != 1 {
        return Err(ApiError::invalid_field(
            "details",
            "must name one of conversation_ids, message_ids, media_message_ids or fields",
        ));
    }
    let (way, raw) = details.iter().next().ok_or_else(|| ApiError::invalid_field("details", "is empty"))?;
    let field = format!("details.{way}");
    let named: Vec<&str> =
        raw.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let unique: BTreeSet<&str> = named.iter().copied().collect();
    let listed = raw.as_array().map_or(0, Vec::len);
    if named.is_empty() || named.len() != listed || unique.len() != listed || listed > MOST_NAMED {
        return Err(ApiError::invalid_field(field, format!("must list 1 to {MOST_NAMED} different strings")));
    }
    let mut errors = Vec::new();
    for (n, value) in named.iter().enumerate() {
        let valid = match way.as_str() {
            "conversation_ids" => ConversationId::parse(value).is_ok(),
            "message_ids" | "media_message_ids" => MessageId::parse(value).is_ok(),
            _ => ERASABLE_FIELDS.contains(value),
        };
        if !valid {
            let expected = match way.as_str() {
                "conversation_ids" => "must be cv_...".to_owned(),
                "message_ids" | "media_message_ids" => "must be ms_...".to_owned(),
                _ => format!("must be one of {}", ERASABLE_FIELDS.join(", ")),
            };
            errors.push(FieldError::new(format!("{field}[{n}]"), expected));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let details = json!({way.as_str(): named});
    let Some(part) = Part::of(&details) else {
        return Err(ApiError::invalid_field(field, "names nothing"));
    };
    let items = partial_erasure::items_of_part(table, tenant, contact_id, &part).await?;
    // Each id named must be the contact's: another's, or none, is refused before anything is
    // stored.
    let kind = if way == "conversation_ids" { "CONVERSATION#" } else { "MESSAGE#" };
    let found: BTreeSet<&str> = items
        .iter()
        .filter(|i| {
            i.get(Index::Subject.sort_attribute())
                .and_then(Value::as_str)
                .is_some_and(|k| k.starts_with(kind))
        })
        // Media only of a message that carries some, and is not on its way out (the sender
        // writes the media back when the channel answers).
        .filter(|i| {
            let leaving = matches!(i.get("status").and_then(Value::as_str), Some("queued" | "sending"));
            way != "media_message_ids" || (i.get("media").is_some_and(Value::is_object) && !leaving)
        })
        .filter_map(|i| i.get("id").and_then(Value::as_str))
        .collect();
    if way != "fields" {
        let missing: Vec<FieldError> = named
            .iter()
            .enumerate()
            .filter(|(_, id)| !found.contains(**id))
            .map(|(n, _)| {
                let why = match way.as_str() {
                    "media_message_ids" => {
                        "is not one of this contact's messages with media (a reply still being sent: file it once sent)"
                    }
                    _ => "is not one of this contact's",
                };
                FieldError::new(format!("{field}[{n}]"), why)
            })
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::invalid_fields(missing));
        }
    }
    Ok((details, items))
}
