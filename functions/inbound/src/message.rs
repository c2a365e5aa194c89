//! A channel message as the CRM stores it.

use gestor_shared::ids::{ContactId, MessageId};
use gestor_shared::normalize::{IncomingMessage, MediaRef};
use gestor_shared::repo::conversations::Conversation;
use gestor_shared::repo::messages::{Direction, Media, Message, MessageStatus};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

fn media(reference: &MediaRef) -> Media {
    Media {
        channel_media_id: reference.media_id.clone().or_else(|| reference.url.clone()),
        mime_type: reference.mime_type.clone(),
        filename: reference.filename.clone(),
        caption: reference.caption.clone(),
        size: None,
        sha256: None,
        file_key: None,
    }
}

/// What a kind carries besides text and media, as one object (absent when nothing).
fn details(incoming: &IncomingMessage) -> Option<Value> {
    let mut details = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|v| !v.is_null()) {
            details.insert(name.to_owned(), value);
        }
    };
    put("location", incoming.location.as_ref().and_then(|l| serde_json::to_value(l).ok()));
    if !incoming.shared_contacts.is_empty() {
        put("contacts", Some(Value::Array(incoming.shared_contacts.clone())));
    }
    put("reply", incoming.reply.as_ref().and_then(|r| serde_json::to_value(r).ok()));
    put("referral", incoming.referral.clone());
    put("story", incoming.story.as_ref().and_then(|s| serde_json::to_value(s).ok()));
    put("order", incoming.order.clone());
    put("system", incoming.system.clone());
    if !incoming.extra_media.is_empty() {
        put(
            "extra_media",
            serde_json::to_value(incoming.extra_media.iter().map(media).collect::<Vec<_>>()).ok(),
        );
    }
    if !incoming.errors.is_empty() {
        put("errors", serde_json::to_value(&incoming.errors).ok());
    }
    if incoming.forwarded {
        put("forwarded", Some(json!(true)));
    }
    (!details.is_empty()).then_some(Value::Object(details))
}

pub fn from_incoming(
    incoming: &IncomingMessage,
    conversation: &Conversation,
    contact: &ContactId,
    reply_to: Option<MessageId>,
    now: OffsetDateTime,
) -> Message {
    let (direction, status) = match incoming.direction {
        Direction::In => (Direction::In, MessageStatus::Received),
        // An echo: the business sent it from the channel's own app, and the channel has it.
        Direction::Out => (Direction::Out, MessageStatus::Sent),
    };
    Message {
        id: MessageId::new(),
        conversation_id: conversation.id.clone(),
        contact_id: contact.clone(),
        channel: incoming.channel,
        direction,
        kind: incoming.kind,
        raw_kind: incoming.unsupported_type.clone(),
        text: incoming.text.clone(),
        media: incoming.media.as_ref().map(media),
        details: details(incoming),
        status,
        status_at: Some(incoming.timestamp),
        error: None,
        channel_message_id: Some(incoming.channel_message_id.clone()),
        reply_to,
        reactions: Vec::new(),
        deleted: false,
        edited_at: None,
        sent_by: None,
        created_at: incoming.timestamp,
        updated_at: now,
    }
}
