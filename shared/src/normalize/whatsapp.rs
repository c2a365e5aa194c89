//! WhatsApp Cloud API updates: a message of `value.messages[]` (with its sender's
//! `value.contacts[]` entry as the envelope's profile), a status of `value.statuses[]`, or a
//! whole change's `value` for anything else (business-app echoes in `smb_message_echoes`,
//! template updates ...). Timestamps are strings of Unix seconds.
//!
//! What each message type carries is read in [`super::whatsapp_kinds`].

use serde_json::Value;

use super::model::{
    CustomerRef, DeliveryStatus, Direction, IncomingMessage, Normalized, Reaction, StatusUpdate,
};
use super::read::{Unit, items, meta_error, name_of, object, text, unix_time};
use super::whatsapp_kinds;
use crate::domain::Phone;
use crate::inbound::{Channel, InboundEnvelope, UpdateKind};

pub(super) fn normalize(env: &InboundEnvelope, payload: &Value) -> Vec<Normalized> {
    match env.kind {
        UpdateKind::Message => {
            vec![message(env, payload, env.profile.as_ref(), Sender::Customer, env.update_id.as_deref())]
        }
        UpdateKind::Status => vec![status(env, payload, env.update_id.as_deref())],
        UpdateKind::Event => change(env, payload),
    }
}

/// Who wrote a message: the customer (`messages[]`), or the business from the WhatsApp
/// Business app (`message_echoes[]`, where the customer is the recipient, `to`).
#[derive(Clone, Copy, PartialEq)]
enum Sender {
    Customer,
    Business,
}

/// A whole change's `value`: its messages, statuses and echoes if it has any (read the same
/// as single updates), else one `Ignored` naming the field.
fn change(env: &InboundEnvelope, value: &Value) -> Vec<Normalized> {
    if env.field == "message_template_status_update" {
        return vec![template_status(value)];
    }
    let contacts = items(value, "contacts");
    let mut out: Vec<Normalized> = items(value, "messages")
        .iter()
        .map(|m| message(env, m, profile_for(contacts, m), Sender::Customer, None))
        .collect();
    out.extend(items(value, "statuses").iter().map(|s| status(env, s, None)));
    out.extend(items(value, "message_echoes").iter().map(|m| message(env, m, None, Sender::Business, None)));
    if out.is_empty() {
        let codes: Vec<String> =
            items(value, "errors").iter().filter_map(|e| meta_error(e).code).map(|c| c.to_string()).collect();
        let errors = if codes.is_empty() { String::new() } else { format!(" (errors {})", codes.join(", ")) };
        out.push(Normalized::ignored(format!(
            "whatsapp `{}` change is not a conversation update{errors}",
            name_of(Some(&env.field))
        )));
    }
    out
}

/// `{event, message_template_id, message_template_name, message_template_language, reason}`;
/// Meta's `reason` is `NONE` when there is none.
fn template_status(value: &Value) -> Normalized {
    let (Some(name), Some(language), Some(status)) = (
        text(value, "message_template_name"),
        text(value, "message_template_language"),
        text(value, "event"),
    ) else {
        return Normalized::ignored("whatsapp template update without name, language or event");
    };
    let reason = text(value, "reason").filter(|r| !r.eq_ignore_ascii_case("NONE"));
    // Meta's events are not all statuses: some give a template back, some only warn.
    let status = match status.to_ascii_uppercase().as_str() {
        "REINSTATED" | "UNARCHIVED" => "APPROVED".to_owned(),
        "FLAGGED" | "LOCKED" | "LIMIT_EXCEEDED" => {
            return Normalized::ignored(format!("whatsapp template event {status}: its status stays"));
        }
        other => other.to_owned(),
    };
    Normalized::TemplateStatus { name, language, status, reason }
}

/// The `contacts[]` entry of a message's sender: by `wa_id` or user id, else the only one.
fn profile_for<'a>(contacts: &'a [Value], message: &Value) -> Option<&'a Value> {
    let from = text(message, "from");
    let user = text(message, "from_user_id");
    contacts
        .iter()
        .find(|c| {
            (from.is_some() && text(c, "wa_id") == from) || (user.is_some() && text(c, "user_id") == user)
        })
        .or(if contacts.len() == 1 { contacts.first() } else { None })
}

/// The customer of a message. A user known by username may come without a phone (`from`,
/// `wa_id`), identified by a business-scoped user id only; the phone is preferred as the key
/// when present, so contacts made before usernames existed keep matching.
fn customer(
    env: &InboundEnvelope,
    m: &Value,
    profile: Option<&Value>,
    sender: Sender,
) -> Option<CustomerRef> {
    let (wa_key, user_key) = match sender {
        Sender::Customer => ("from", "from_user_id"),
        Sender::Business => ("to", "to_user_id"),
    };
    let wa_id = text(m, wa_key).or_else(|| profile.and_then(|p| text(p, "wa_id")));
    let user_id = text(m, user_key).or_else(|| profile.and_then(|p| text(p, "user_id")));
    // The envelope's sender is the customer only for a customer's own message.
    let routed = if sender == Sender::Customer { env.sender_id.clone() } else { None };
    let external_id = wa_id.clone().or_else(|| user_id.clone()).or(routed)?;
    let names = profile.and_then(|p| object(p, "profile"));
    Some(CustomerRef {
        phone: wa_id.as_deref().and_then(|w| Phone::from_wa_id(w).ok()),
        user_id,
        username: names
            .and_then(|n| text(n, "username"))
            .or_else(|| profile.and_then(|p| text(p, "username"))),
        profile_name: names.and_then(|n| text(n, "name")),
        external_id,
    })
}

fn message(
    env: &InboundEnvelope,
    m: &Value,
    profile: Option<&Value>,
    sender: Sender,
    fallback_id: Option<&str>,
) -> Normalized {
    let Some(id) = text(m, "id").or_else(|| fallback_id.map(str::to_owned)) else {
        return Normalized::ignored("whatsapp message without id");
    };
    let Some(customer) = customer(env, m, profile, sender) else {
        return Normalized::ignored(format!("whatsapp message {} without sender", name_of(Some(&id))));
    };
    let timestamp = unix_time(m.get("timestamp"), Unit::Seconds).unwrap_or(env.received_at);
    let kind = text(m, "type");
    let direction = if sender == Sender::Business { Direction::Out } else { Direction::In };
    match kind.as_deref() {
        Some("reaction") => return reaction(env, m, (customer.external_id, direction), id, timestamp),
        Some("revoke" | "revoked") => return revoke(m, id, timestamp),
        Some("edit") => return edit(m, id, timestamp),
        Some("system") if object(m, "system").is_some_and(is_revoke_notice) => {
            return revoke(m, id, timestamp);
        }
        _ => {}
    }
    let mut msg =
        IncomingMessage::new(Channel::Whatsapp, &env.account_id, customer, id, timestamp, direction);
    whatsapp_kinds::fill(&mut msg, kind.as_deref(), m);
    Normalized::Message(msg)
}

fn is_revoke_notice(system: &Value) -> bool {
    matches!(text(system, "type").as_deref(), Some("revoke" | "revoked" | "message_revoked"))
}

/// WhatsApp `revoke` (a message deleted by its sender; `revoke.original_message_id`). Older
/// shapes (`revoked`, a `system` notice) name the message differently or not at all, in which
/// case the notice's own id is the deleted message's.
fn revoke(m: &Value, id: String, at: time::OffsetDateTime) -> Normalized {
    let target = ["revoke", "revoked", "system"]
        .iter()
        .filter_map(|key| object(m, key))
        .find_map(|r| {
            text(r, "original_message_id").or_else(|| text(r, "message_id")).or_else(|| text(r, "id"))
        })
        .unwrap_or(id);
    Normalized::Deleted { channel_message_id: target, at }
}

/// WhatsApp `edit` (`edit.original_message_id`, and the message as it now reads in
/// `edit.message`): its text, or the caption of its media.
fn edit(m: &Value, id: String, at: time::OffsetDateTime) -> Normalized {
    let body = object(m, "edit");
    let Some(target) = body.and_then(|e| text(e, "original_message_id")) else {
        return Normalized::ignored(format!(
            "whatsapp edit {} without the message it edits",
            name_of(Some(&id))
        ));
    };
    let new = body.and_then(|e| object(e, "message"));
    let new_text = new.and_then(|n| {
        let kind = text(n, "type").unwrap_or_else(|| "text".into());
        let part = object(n, &kind)?;
        text(part, "body").or_else(|| text(part, "caption"))
    });
    Normalized::Edited { channel_message_id: target, text: new_text, at }
}

/// WhatsApp `reaction` (`message_id` reacted to; no `emoji` when the reaction is removed).
fn reaction(
    env: &InboundEnvelope,
    m: &Value,
    (customer_id, direction): (String, Direction),
    id: String,
    timestamp: time::OffsetDateTime,
) -> Normalized {
    let body = object(m, "reaction");
    let Some(target) = body.and_then(|r| text(r, "message_id")) else {
        return Normalized::ignored(format!(
            "whatsapp reaction {} without the message it is on",
            name_of(Some(&id))
        ));
    };
    Normalized::Reaction(Reaction {
        channel: Channel::Whatsapp,
        account_id: env.account_id.clone(),
        customer_id,
        direction,
        channel_message_id: Some(id),
        target_channel_message_id: target,
        emoji: body.and_then(|r| text(r, "emoji")),
        timestamp,
    })
}

/// A status of a message the business sent: sent, delivered, read, failed (with `errors[]`),
/// played. Others (`deleted`, `warning` ...) are not tracked.
fn status(env: &InboundEnvelope, s: &Value, fallback_id: Option<&str>) -> Normalized {
    let Some(id) = text(s, "id").or_else(|| fallback_id.map(str::to_owned)) else {
        return Normalized::ignored("whatsapp status without message id");
    };
    let name = text(s, "status");
    let Some(status) = name.as_deref().and_then(DeliveryStatus::parse) else {
        return Normalized::ignored(format!("whatsapp status `{}` is not tracked", name_of(name.as_deref())));
    };
    let recipient = text(s, "recipient_id").or_else(|| text(s, "recipient_user_id"));
    Normalized::Status(StatusUpdate {
        channel: Channel::Whatsapp,
        account_id: env.account_id.clone(),
        channel_message_id: id,
        status,
        timestamp: unix_time(s.get("timestamp"), Unit::Seconds).unwrap_or(env.received_at),
        recipient_id: recipient.or_else(|| env.sender_id.clone()),
        error: items(s, "errors").first().map(meta_error),
    })
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use super::super::tests::{RECEIVED, envelope, fixture, one, one_message};
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const CUSTOMER: &str = "5215512345678";

    /// A customer's message as the webhook enqueues it: the message, its sender's profile.
    pub(crate) fn wa_message(message: Value) -> InboundEnvelope {
        let mut env = envelope(Channel::Whatsapp, UpdateKind::Message, "messages", message.clone());
        env.account_id = "106540352242922".into();
        env.sender_id = text(&message, "from");
        env.update_id = text(&message, "id");
        env.profile = Some(json!({"profile": {"name": "María Núñez"}, "wa_id": CUSTOMER}));
        env
    }

    fn wa_status(status: Value) -> InboundEnvelope {
        let mut env = envelope(Channel::Whatsapp, UpdateKind::Status, "messages", status);
        env.account_id = "106540352242922".into();
        env
    }

    #[test]
    fn a_mexican_text_message_gives_the_customer_and_the_e164_phone() {
        let payload = fixture(include_str!("../../tests/fixtures/channels/whatsapp/text.json"));
        let msg = one_message(normalize(&wa_message(payload)));
        assert_eq!(msg.channel, Channel::Whatsapp);
        assert_eq!(msg.account_id, "106540352242922");
        assert_eq!(msg.customer.external_id, CUSTOMER);
        assert_eq!(msg.customer.phone.as_ref().map(Phone::as_str), Some("+525512345678"));
        assert_eq!(msg.customer.profile_name.as_deref(), Some("María Núñez"));
        assert_eq!(msg.channel_message_id, "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDMEQ0RjU2");
        assert_eq!(msg.timestamp, datetime!(2026-11-28 09:59:30 UTC), "a string of seconds");
        assert_eq!((msg.direction, msg.is_echo), (Direction::In, false));
        assert_eq!(msg.kind, super::super::MessageKind::Text);
        assert_eq!(msg.text.as_deref(), Some("¿Cuánto cuesta el envío a Mérida? 🙏"));
        assert!(msg.media.is_none() && msg.reply_to.is_none() && !msg.forwarded && msg.errors.is_empty());
    }

    #[test]
    fn users_known_by_username_are_keyed_by_their_business_scoped_id_without_phone() {
        let mut env = wa_message(json!({"from_user_id": "MX.1502576394655843", "id": "wamid.U1",
                                        "timestamp": "1795859970", "type": "text", "text": {"body": "hola"}}));
        env.profile = Some(
            json!({"profile": {"name": "Beto", "username": "@beto.mx"}, "user_id": "MX.1502576394655843"}),
        );
        let msg = one_message(normalize(&env));
        assert_eq!(msg.customer.external_id, "MX.1502576394655843");
        assert_eq!(msg.customer.user_id.as_deref(), Some("MX.1502576394655843"));
        assert_eq!(msg.customer.phone, None);
        assert_eq!(msg.customer.username.as_deref(), Some("@beto.mx"));
        // With both, the phone stays the key and the user id comes along.
        let mut env = wa_message(json!({"from": CUSTOMER, "from_user_id": "MX.15", "id": "wamid.U2",
                                        "timestamp": "1795859970", "type": "text", "text": {"body": "hola"}}));
        env.profile = None;
        let msg = one_message(normalize(&env));
        assert_eq!(
            (msg.customer.external_id.as_str(), msg.customer.user_id.as_deref()),
            (CUSTOMER, Some("MX.15"))
        );
    }

    #[test]
    fn reactions_and_their_removal() {
        let add = wa_message(
            json!({"from": CUSTOMER, "id": "wamid.R1", "timestamp": "1795859970", "type": "reaction",
                                    "reaction": {"message_id": "wamid.OUT1", "emoji": "❤️"}}),
        );
        let Normalized::Reaction(r) = one(normalize(&add)) else { panic!("a reaction") };
        assert_eq!((r.target_channel_message_id.as_str(), r.emoji.as_deref()), ("wamid.OUT1", Some("❤️")));
        assert_eq!((r.customer_id.as_str(), r.channel_message_id.as_deref()), (CUSTOMER, Some("wamid.R1")));
        let removed = wa_message(json!({"from": CUSTOMER, "id": "wamid.R2", "timestamp": "1795859971",
                                        "type": "reaction", "reaction": {"message_id": "wamid.OUT1"}}));
        let Normalized::Reaction(r) = one(normalize(&removed)) else { panic!("a reaction") };
        assert_eq!(r.emoji, None);
        assert_eq!(r.direction, Direction::In);
        let broken =
            wa_message(json!({"from": CUSTOMER, "id": "wamid.R3", "type": "reaction", "reaction": {}}));
        assert!(matches!(one(normalize(&broken)), Normalized::Ignored { .. }));
    }

    #[test]
    fn edits_name_the_original_with_its_new_text_or_caption() {
        let edit = wa_message(
            json!({"from": CUSTOMER, "id": "wamid.EDIT", "timestamp": "1795859970", "type": "edit",
            "edit": {"original_message_id": "wamid.ORIG", "message": {"type": "text", "text": {"body": "mañana a las 5"}}}}),
        );
        assert_eq!(
            one(normalize(&edit)),
            Normalized::Edited {
                channel_message_id: "wamid.ORIG".into(),
                text: Some("mañana a las 5".into()),
                at: datetime!(2026-11-28 09:59:30 UTC)
            }
        );
        let caption = wa_message(
            json!({"from": CUSTOMER, "id": "wamid.EDIT2", "timestamp": "1795859971", "type": "edit",
            "edit": {"original_message_id": "wamid.IMG", "message": {"type": "image", "image": {"id": "77", "caption": "talla L"}}}}),
        );
        assert!(
            matches!(one(normalize(&caption)), Normalized::Edited { channel_message_id, text: Some(t), .. } if channel_message_id == "wamid.IMG" && t == "talla L")
        );
    }

    #[test]
    fn revoked_messages_become_deletions() {
        let revoke = wa_message(json!({"from": CUSTOMER, "id": "wamid.REV", "timestamp": "1795859970",
                                       "type": "revoke", "revoke": {"original_message_id": "wamid.ORIG"}}));
        assert_eq!(
            one(normalize(&revoke)),
            Normalized::Deleted {
                channel_message_id: "wamid.ORIG".into(),
                at: datetime!(2026-11-28 09:59:30 UTC)
            }
        );
        let legacy = wa_message(json!({"from": CUSTOMER, "id": "wamid.ORIG2", "timestamp": "1795859970",
                                       "type": "system", "system": {"type": "revoked", "body": "deleted"}}));
        assert!(
            matches!(one(normalize(&legacy)), Normalized::Deleted { channel_message_id, .. } if channel_message_id == "wamid.ORIG2")
        );
    }

    #[test]
    fn statuses_move_messages_and_failures_keep_the_error() {
        let read = wa_status(json!({"id": "wamid.OUT1", "status": "read", "timestamp": "1795859975",
                                    "recipient_id": CUSTOMER}));
        let Normalized::Status(s) = one(normalize(&read)) else { panic!("a status") };
        assert_eq!((s.channel_message_id.as_str(), s.status), ("wamid.OUT1", DeliveryStatus::Read));
        assert_eq!(s.timestamp, datetime!(2026-11-28 09:59:35 UTC));
        assert_eq!(s.recipient_id.as_deref(), Some(CUSTOMER));
        let failed =
            wa_status(fixture(include_str!("../../tests/fixtures/channels/whatsapp/status_failed.json")));
        let Normalized::Status(s) = one(normalize(&failed)) else { panic!("a status") };
        assert_eq!(s.status, DeliveryStatus::Failed);
        let error = s.error.unwrap_or_else(|| panic!("the error"));
        assert_eq!((error.code, error.title.as_deref()), (Some(131047), Some("Re-engagement message")));
        assert!(error.details.is_some_and(|d| d.contains("24 hours")));
        let played = wa_status(json!({"id": "wamid.OUT2", "status": "played", "timestamp": "1795859979",
                                      "recipient_user_id": "MX.15"}));
        let Normalized::Status(s) = one(normalize(&played)) else { panic!("a status") };
        assert_eq!((s.status, s.recipient_id.as_deref()), (DeliveryStatus::Played, Some("MX.15")));
    }

    #[test]
    fn statuses_without_id_or_of_unknown_kinds_are_ignored_with_a_reason() {
        let no_id = wa_status(json!({"status": "delivered", "timestamp": "1795859975"}));
        assert!(
            matches!(one(normalize(&no_id)), Normalized::Ignored { reason } if reason.contains("without message id"))
        );
        let odd = wa_status(json!({"id": "wamid.X", "status": "deleted"}));
        assert!(
            matches!(one(normalize(&odd)), Normalized::Ignored { reason } if reason.contains("`deleted`"))
        );
        let missing_time = wa_status(json!({"id": "wamid.X", "status": "sent"}));
        assert!(matches!(one(normalize(&missing_time)), Normalized::Status(s) if s.timestamp == RECEIVED));
    }

    #[test]
    fn messages_without_id_or_sender_are_ignored_not_invented() {
        let mut env = wa_message(json!({"from": CUSTOMER, "type": "text", "text": {"body": "x"}}));
        env.update_id = None;
        assert!(
            matches!(one(normalize(&env)), Normalized::Ignored { reason } if reason.contains("without id"))
        );
        let mut env = wa_message(json!({"id": "wamid.N", "type": "text", "text": {"body": "x"}}));
        env.profile = None;
        assert!(
            matches!(one(normalize(&env)), Normalized::Ignored { reason } if reason.contains("without sender"))
        );
    }

    #[test]
    fn business_app_echoes_are_outgoing_messages_to_the_customer() {
        let mut env = envelope(
            Channel::Whatsapp,
            UpdateKind::Event,
            "smb_message_echoes",
            json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "5215550001111", "phone_number_id": "106540352242922"},
                "message_echoes": [
                    {"from": "5215550001111", "to": CUSTOMER, "id": "wamid.ECHO1", "timestamp": "1795859980",
                     "type": "text", "text": {"body": "Claro, mañana te lo envío"}},
                    {"from": "5215550001111", "to": CUSTOMER, "id": "wamid.ECHO2", "timestamp": "1795859990",
                     "type": "image", "image": {"id": "1234", "mime_type": "image/jpeg", "sha256": "abc="}},
                    {"from": "5215550001111", "to": CUSTOMER, "id": "wamid.ECHO3", "timestamp": "1795859995",
                     "type": "reaction", "reaction": {"message_id": "wamid.IN1", "emoji": "🙏"}}
                ]
            }),
        );
        env.account_id = "106540352242922".into();
        let mut out = normalize(&env);
        assert!(matches!(out.pop(), Some(Normalized::Reaction(r)) if r.direction == Direction::Out
                         && r.customer_id == CUSTOMER && r.target_channel_message_id == "wamid.IN1"));
        assert_eq!(out.len(), 2);
        for n in out {
            let Normalized::Message(m) = n else { panic!("messages") };
            assert_eq!((m.direction, m.is_echo), (Direction::Out, true));
            assert_eq!(m.customer.external_id, CUSTOMER);
            assert_eq!(m.customer.phone.as_ref().map(Phone::as_str), Some("+525512345678"));
        }
    }

    #[test]
    fn template_updates_are_read_and_other_changes_are_ignored_naming_the_field_and_error_codes() {
        let template = envelope(
            Channel::Whatsapp,
            UpdateKind::Event,
            "message_template_status_update",
            json!({"event": "REJECTED", "message_template_id": 1, "message_template_name": "promo_otono",
                   "message_template_language": "es_MX", "reason": "INCORRECT_CATEGORY"}),
        );
        assert_eq!(
            one(normalize(&template)),
            Normalized::TemplateStatus {
                name: "promo_otono".into(),
                language: "es_MX".into(),
                status: "REJECTED".into(),
                reason: Some("INCORRECT_CATEGORY".into())
            }
        );
        let nameless = envelope(
            Channel::Whatsapp,
            UpdateKind::Event,
            "message_template_status_update",
            json!({"event": "APPROVED", "message_template_id": 1}),
        );
        assert!(matches!(one(normalize(&nameless)), Normalized::Ignored { .. }));
        let event = |e: &str| {
            envelope(
                Channel::Whatsapp,
                UpdateKind::Event,
                "message_template_status_update",
                json!({"event": e, "message_template_name": "promo", "message_template_language": "es"}),
            )
        };
        assert!(
            matches!(one(normalize(&event("REINSTATED"))), Normalized::TemplateStatus { status, .. } if status == "APPROVED")
        );
        assert!(matches!(one(normalize(&event("FLAGGED"))), Normalized::Ignored { .. }));
        let errors = envelope(
            Channel::Whatsapp,
            UpdateKind::Event,
            "messages",
            json!({"errors": [{"code": 131000, "title": "Something went wrong"}]}),
        );
        assert!(
            matches!(one(normalize(&errors)), Normalized::Ignored { reason } if reason.contains("131000"))
        );
        // A whole `messages` value is still read, each sender with their own profile.
        let whole = envelope(
            Channel::Whatsapp,
            UpdateKind::Event,
            "messages",
            json!({
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5215511111111"}, {"profile": {"name": "Luis"}, "wa_id": CUSTOMER}],
                "messages": [{"from": CUSTOMER, "id": "wamid.W1", "timestamp": "1795859970", "type": "text", "text": {"body": "hola"}}],
                "statuses": [{"id": "wamid.OUT1", "status": "delivered", "timestamp": "1795859971", "recipient_id": CUSTOMER}]
            }),
        );
        let out = normalize(&whole);
        assert!(
            matches!(&out[..], [Normalized::Message(m), Normalized::Status(_)] if m.customer.profile_name.as_deref() == Some("Luis"))
        );
    }
}
