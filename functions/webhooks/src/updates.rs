//! From a delivery to queue messages: verify, split into updates (each channel's parser), and
//! wrap each update in an [`InboundEnvelope`] with its FIFO group and deduplication ids.
//!
//! Everything here is pure (no I/O), so the bench times exactly this part of the path.
//!
//! Parsing is structural only: the delivery, its entries and their lists of updates must have
//! the channel's documented shape (otherwise the delivery is quarantined whole), while each
//! update is copied as sent and only read for the few ids routing needs. An update whose ids
//! cannot be read is still forwarded, without a sender and deduplicated by its bytes.

use gestor_shared::inbound::{
    Channel, ENVELOPE_VERSION, InboundEnvelope, OVERFLOW_PREFIX, PayloadRef, UpdateKind, to_queue_body,
    to_queue_body_with_capacity,
};
use gestor_shared::ports::queue::MESSAGE_SIZE_LIMIT;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::time::SystemTime;
use time::{Date, OffsetDateTime};

use crate::signature::{META_HEADER, Secrets, SignatureError, TIKTOK_HEADER};
use crate::wire::{MetaDelivery, NotEnvelope, Update};
use crate::{meta_messaging, tiktok, whatsapp};

/// Longest `MessageGroupId` SQS accepts.
const GROUP_ID_LIMIT: usize = 128;

/// What a verified delivery turned into.
#[derive(Debug)]
pub enum Prepared {
    /// One queue message per update, in the delivery's order (possibly none).
    Updates(Vec<QueueMessage>),
    /// Signed correctly but not the channel's envelope: to be kept raw, with the reason.
    Unparsable(&'static str),
}

#[derive(Debug, Clone)]
pub struct QueueMessage {
    /// The channel the delivery's envelope names (Meta's `object`), which can differ from
    /// the route's when one callback URL serves several Meta products.
    pub channel: Channel,
    pub kind: UpdateKind,
    /// `{channel}:{account}:{customer}` (hashed when SQS would refuse it): a conversation's
    /// updates are delivered in order, one at a time.
    pub group_id: String,
    /// Lowercase hex SHA-256 of the channel, kind, account and the update's own id (or its
    /// bytes when it has none): a redelivered update is dropped by the queue.
    pub dedup_id: String,
    /// The envelope as JSON: the whole update, or a pointer to `overflow`.
    pub body: String,
    /// An update too large for a queue message: the object to store before sending `body`.
    pub overflow: Option<Overflow>,
}

#[derive(Debug, Clone)]
pub struct Overflow {
    pub key: String,
    pub bytes: Vec<u8>,
}

/// The webhook path without its I/O: the signature on the raw bytes, then the split.
pub fn prepare(
    secrets: &Secrets,
    channel: Channel,
    headers: &http::HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Prepared, SignatureError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if channel.is_meta() {
        secrets.verify_meta(header(META_HEADER), body)?;
    } else {
        secrets.verify_tiktok(header(TIKTOK_HEADER), body, now)?;
    }
    Ok(split(channel, body, now))
}

/// Splits a delivery (already verified) into queue messages. Never panics, whatever the bytes.
pub fn split(channel: Channel, body: &[u8], now: SystemTime) -> Prepared {
    let updates = match parse(channel, body) {
        Ok(updates) => updates,
        Err(reason) => return Prepared::Unparsable(reason),
    };
    let received_at = OffsetDateTime::from(now);
    let mut messages = Vec::with_capacity(updates.len());
    for update in updates {
        match queue_message(update, received_at) {
            Some(message) => messages.push(message),
            None => return Prepared::Unparsable("an update could not be written as a queue message"),
        }
    }
    Prepared::Updates(messages)
}

fn parse(channel: Channel, body: &[u8]) -> Result<Vec<Update<'_>>, NotEnvelope> {
    if !channel.is_meta() {
        return tiktok::parse(body);
    }
    let delivery: MetaDelivery<'_> =
        serde_json::from_slice(body).map_err(|_| "not a Meta webhook delivery (object and entry[])")?;
    let mut updates = Vec::new();
    match delivery.object.as_deref() {
        Some("whatsapp_business_account") => whatsapp::split(&delivery.entry, &mut updates),
        Some("page") => meta_messaging::split(Channel::Messenger, &delivery.entry, &mut updates),
        Some("instagram") => meta_messaging::split(Channel::Instagram, &delivery.entry, &mut updates),
        _ => return Err("a Meta delivery for an object this function does not serve"),
    }
    Ok(updates)
}

fn queue_message(update: Update<'_>, received_at: OffsetDateTime) -> Option<QueueMessage> {
    let channel = update.channel;
    let group_id = group_id(channel, &update.account_id, update.sender_id.as_deref());
    let dedup_id = dedup_id(&update);
    let mut envelope = InboundEnvelope::<&RawValue> {
        v: ENVELOPE_VERSION,
        channel,
        account_id: update.account_id.into_owned(),
        sender_id: update.sender_id.map(Cow::into_owned),
        kind: update.kind,
        field: update.field.into_owned(),
        entry_id: update.entry_id.map(Cow::into_owned),
        update_id: update.update_id.map(Cow::into_owned),
        received_at,
        profile: update.profile,
        payload: update.payload,
        payload_ref: None,
    };
    // The raw JSON copied, plus the envelope's own fields.
    let copied = [envelope.payload, envelope.profile].iter().flatten().map(|r| r.get().len()).sum::<usize>();
    let body = to_queue_body_with_capacity(&envelope, copied + 512).ok()?;
    let kind = envelope.kind;
    if body.len() <= MESSAGE_SIZE_LIMIT {
        return Some(QueueMessage { channel, kind, group_id, dedup_id, body, overflow: None });
    }
    // Named by the update's dedup id, so that a redelivery overwrites rather than adds.
    let key = overflow_key(channel, received_at.date(), &dedup_id);
    envelope.payload = None;
    envelope.profile = None;
    envelope.payload_ref =
        Some(PayloadRef { key: key.clone(), bytes: body.len(), sha256: hex::encode(Sha256::digest(&body)) });
    let pointer = to_queue_body(&envelope).ok().filter(|p| p.len() <= MESSAGE_SIZE_LIMIT)?;
    let overflow = Some(Overflow { key, bytes: body.into_bytes() });
    Some(QueueMessage { channel, kind, group_id, dedup_id, body: pointer, overflow })
}

pub(crate) fn overflow_key(channel: Channel, date: Date, dedup_id: &str) -> String {
    format!("{OVERFLOW_PREFIX}{channel}/{date}/{dedup_id}.json")
}

/// `{channel}:{account}:{customer}`, or `{channel}:#{sha256}` of it when longer than SQS
/// allows or holding characters it refuses (it accepts ASCII letters, digits and punctuation).
pub(crate) fn group_id(channel: Channel, account: &str, sender: Option<&str>) -> String {
    let id = format!("{channel}:{account}:{}", sender.unwrap_or("-"));
    if id.len() <= GROUP_ID_LIMIT && id.bytes().all(|b| b.is_ascii_graphic()) {
        id
    } else {
        format!("{channel}:#{}", hex::encode(Sha256::digest(id.as_bytes())))
    }
}

fn dedup_id(update: &Update<'_>) -> String {
    let mut hash = Sha256::new();
    for part in [update.channel.as_str(), kind_name(update.kind), &update.account_id] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    match &update.update_id {
        Some(id) => {
            hash.update(b"id\0");
            hash.update(id.as_bytes());
            if let Some(extra) = &update.dedup_extra {
                hash.update([0]);
                hash.update(extra.as_bytes());
            }
        }
        None => {
            hash.update(b"bytes\0");
            hash.update(update.field.as_bytes());
            hash.update([0]);
            hash.update(update.payload.map(RawValue::get).unwrap_or_default().as_bytes());
        }
    }
    hex::encode(hash.finalize())
}

fn kind_name(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Message => "message",
        UpdateKind::Status => "status",
        UpdateKind::Event => "event",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_readable_when_sqs_allows_and_hashed_otherwise() {
        assert_eq!(group_id(Channel::Whatsapp, "1065", Some("5215512345678")), "whatsapp:1065:5215512345678");
        assert_eq!(group_id(Channel::Whatsapp, "1065", None), "whatsapp:1065:-");
        for (account, sender) in [("1065", "José"), ("10 65", "x"), (&*"9".repeat(120), "1")] {
            let id = group_id(Channel::Tiktok, account, Some(sender));
            assert!(id.starts_with("tiktok:#") && id.len() == 8 + 64, "{id}");
            assert_eq!(id, group_id(Channel::Tiktok, account, Some(sender)), "stable");
        }
    }

    #[test]
    fn updates_are_copied_as_sent_with_only_what_the_queue_refuses_escaped() {
        let body = "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"messaging\":[{\"sender\":{\"id\":\"2\"},\
                    \"recipient\":{\"id\":\"1\"},\"message\":{\"mid\":\"m\",\"text\":\"a\u{85}b \\u00e9\\/\"}}]}]}";
        let Prepared::Updates(messages) = split(Channel::Messenger, body.as_bytes(), SystemTime::UNIX_EPOCH)
        else {
            panic!("a Messenger delivery")
        };
        assert_eq!(messages.len(), 1);
        assert!(messages[0].body.contains(r#""text":"a\u0085b \u00e9\/""#), "{}", messages[0].body);
        assert!(messages[0].body.contains(r#""received_at":"1970-01-01T00:00:00Z""#));
    }
}
