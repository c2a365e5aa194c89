//! The inbound queue's message: one update of a channel's webhook delivery (a customer's
//! message, a status of a message we sent, or any other event), as the `webhooks` function
//! enqueues it and the `inbound` worker reads it.
//!
//! The `webhooks` function does no more than verify, split and enqueue: it keeps each update
//! as the channel sent it (`payload`) and adds what routing needs (the channel account, the
//! customer), so that every decision about an update is the worker's.

use serde::{Deserialize, Serialize};

pub use crate::domain::Channel;
use serde_json::Value;
use time::OffsetDateTime;

/// The envelope format this code writes; a reader refuses a newer one it does not know.
pub const ENVELOPE_VERSION: u32 = 1;

/// Bucket prefix of updates too large for a queue message: the queue carries a pointer
/// envelope (`payload_ref`) and the object holds the whole envelope.
pub const OVERFLOW_PREFIX: &str = "inbound-overflow/";
/// Bucket prefix of correctly signed deliveries that could not be parsed, kept raw.
pub const QUARANTINE_PREFIX: &str = "quarantine/";

/// What an update is, as far as the webhook can tell without interpreting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateKind {
    /// A message of the conversation, inbound or an echo of one the business sent (WhatsApp
    /// `messages[]`, Messenger/Instagram `message` and `postback`, TikTok `im_receive_msg` and
    /// `im_send_msg`).
    Message,
    /// What became of a message: WhatsApp `statuses[]`, Messenger `delivery` and `read`,
    /// TikTok `im_mark_read_msg`.
    Status,
    /// Anything else (template status updates, reactions on Messenger, referrals, unknown
    /// fields): forwarded so that the worker decides.
    Event,
}

/// Where a payload too large for a queue message was put instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// The object's key in the bucket; the object is the whole envelope, `payload` included.
    pub key: String,
    pub bytes: usize,
    /// Lowercase hex SHA-256 of the object's bytes.
    pub sha256: String,
}

/// One update, as the inbound queue carries it. The writer (`webhooks`) instantiates `P` with
/// the update's raw JSON so that it is copied as the channel sent it; the reader uses the
/// default, [`serde_json::Value`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEnvelope<P = Value> {
    /// [`ENVELOPE_VERSION`] when written.
    pub v: u32,
    pub channel: Channel,
    /// The channel account the update belongs to, the `external_id` of a connected channel:
    /// WhatsApp `metadata.phone_number_id` (the WABA id when a change has no metadata),
    /// the page id for Messenger, the Instagram account id, TikTok's `user_openid`.
    pub account_id: String,
    /// The customer the update is about: the sender of an inbound message, the recipient of
    /// an echo or a status. Absent for account-level events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    pub kind: UpdateKind,
    /// Where the update sat in the delivery: WhatsApp's `changes[].field` (`messages`,
    /// `message_template_status_update` ...), `messaging`, `standby` or `changes` for
    /// Messenger and Instagram, TikTok's `event`.
    pub field: String,
    /// The id of the delivery's entry: the WhatsApp Business Account id, the page or
    /// Instagram account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// The channel's own id of the update, when it has one (a message id, a status's message
    /// id, a `mid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// WhatsApp: the `value.contacts[]` entry of a message's sender (profile name, `wa_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<P>,
    /// The update exactly as the channel sent it: a WhatsApp message or status, the whole
    /// change for other fields; a Messenger/Instagram messaging event or change; TikTok's
    /// whole delivery (its `content` still a JSON string). Absent when `payload_ref` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<PayloadRef>,
}

/// Serializes for a queue message body: JSON in which the characters the queue refuses in a
/// body (control characters beyond tab, line feed and carriage return, U+FFFE, U+FFFF) are
/// written as `\uXXXX` escapes, in strings and in raw JSON copied verbatim alike.
pub fn to_queue_body<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    to_queue_body_with_capacity(value, 512)
}

/// [`to_queue_body`] into a buffer of `capacity` bytes to start with (a writer that knows the
/// size of what it copies saves the buffer's regrowth).
pub fn to_queue_body_with_capacity<T: Serialize + ?Sized>(
    value: &T,
    capacity: usize,
) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)?;
    let text = String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))?;
    // Serialized JSON holds no raw C0 control but tab, line feed and carriage return, so ASCII
    // text needs checking for DEL only (both checks run a word at a time); other text, char
    // by char.
    let clean =
        if text.is_ascii() { !text.as_bytes().contains(&0x7F) } else { !text.chars().any(refused_by_queue) };
    if clean {
        return Ok(text);
    }
    // Rare: written again, escaping as it goes.
    let mut out = text.into_bytes();
    out.clear();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, QueueSafe);
    value.serialize(&mut serializer)?;
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

struct QueueSafe;

impl serde_json::ser::Formatter for QueueSafe {
    fn write_string_fragment<W: std::io::Write + ?Sized>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        write_escaped(writer, fragment)
    }

    fn write_raw_fragment<W: std::io::Write + ?Sized>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // In valid JSON these characters can only sit inside strings, where an escape is
        // equivalent.
        write_escaped(writer, fragment)
    }
}

fn refused_by_queue(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

fn write_escaped<W: std::io::Write + ?Sized>(writer: &mut W, text: &str) -> std::io::Result<()> {
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if refused_by_queue(c) {
            writer.write_all(&text.as_bytes()[start..at])?;
            write!(writer, "\\u{:04x}", u32::from(c))?;
            start = at + c.len_utf8();
        }
    }
    writer.write_all(&text.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> InboundEnvelope {
        InboundEnvelope {
            v: ENVELOPE_VERSION,
            channel: Channel::Whatsapp,
            account_id: "106540352242922".into(),
            sender_id: Some("5215512345678".into()),
            kind: UpdateKind::Message,
            field: "messages".into(),
            entry_id: Some("102290129340398".into()),
            update_id: Some("wamid.HBgN".into()),
            received_at: time::macros::datetime!(2026-11-28 10:00:00 UTC),
            profile: Some(json!({"profile": {"name": "Ana"}, "wa_id": "5215512345678"})),
            payload: Some(
                json!({"id": "wamid.HBgN", "type": "text", "text": {"body": "Hola\u{85}\u{7f}\u{fffe} ñ"}}),
            ),
            payload_ref: None,
        }
    }

    #[test]
    fn queue_bodies_escape_what_the_queue_refuses_and_read_back_the_same() {
        let original = envelope();
        let body = to_queue_body(&original).unwrap_or_default();
        assert!(!body.chars().any(refused_by_queue), "{body}");
        assert!(body.contains("\\u0085") && body.contains("\\u007f") && body.contains("\\ufffe"));
        assert!(body.contains('ñ'), "other characters stay as they are");
        let read: InboundEnvelope = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(read, original);
    }

    #[test]
    fn ascii_bodies_are_checked_for_del_and_left_alone_otherwise() {
        let plain = json!({"t": "abc \\u00e9 /", "n": [1, 2]});
        assert_eq!(to_queue_body(&plain).ok(), Some(plain.to_string()));
        let with_del = json!({"t": "a\u{7f}b"});
        assert_eq!(to_queue_body(&with_del).ok().as_deref(), Some(r#"{"t":"a\u007fb"}"#));
    }

    #[test]
    fn channels_parse_their_route_names_only() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(Channel::parse("WhatsApp"), None);
        assert_eq!(Channel::parse("telegram"), None);
    }
}
