//! Messenger and Instagram messaging events (`entry[].messaging[]` or `standby[]`, one per
//! update): `{sender, recipient, timestamp (ms), message | postback | reaction | delivery |
//! read | referral ...}`. Both channels share the shape; Instagram adds story mentions
//! (attachments of type `story_mention`), story replies (`reply_to.story`) and read receipts
//! naming a message (`read.mid`).
//!
//! The customer is the sender, except in an echo of a message the business sent
//! (`message.is_echo`), where it is the recipient.

use serde_json::Value;
use time::OffsetDateTime;

use super::model::{
    CustomerRef, DeliveryStatus, Direction, IncomingMessage, InteractiveReply, Location, MediaKind, MediaRef,
    MessageKind, Normalized, Reaction, ReplyKind, StatusUpdate, StoryRef,
};
use super::read::{Unit, flag, items, name_of, number, object, text, unix_time};
use crate::inbound::InboundEnvelope;

/// Events that are not about a message, named in the reason they are ignored.
const OTHER_EVENTS: &str = "referral optin account_linking pass_thread_control take_thread_control \
    request_thread_control policy_enforcement app_roles messaging_feedback";

pub(super) fn normalize(env: &InboundEnvelope, event: &Value) -> Vec<Normalized> {
    let at = unix_time(event.get("timestamp"), Unit::Millis).unwrap_or(env.received_at);
    let sender = object(event, "sender").and_then(|p| text(p, "id"));
    if let Some(message) = object(event, "message") {
        return vec![self::message(env, event, message, at)];
    }
    if let Some(postback) = object(event, "postback") {
        return vec![self::postback(env, event, postback, sender, at)];
    }
    let customer = sender.or_else(|| env.sender_id.clone());
    if let Some(reaction) = object(event, "reaction") {
        return vec![self::reaction(env, reaction, customer, at)];
    }
    if let Some(edit) = object(event, "message_edit") {
        return vec![match text(edit, "mid") {
            Some(mid) => Normalized::Edited { channel_message_id: mid, text: text(edit, "text"), at },
            None => Normalized::ignored(format!("{} message_edit without the message it edits", env.channel)),
        }];
    }
    let mut out = Vec::new();
    if let Some(delivery) = object(event, "delivery") {
        out.extend(self::delivery(env, delivery, customer.as_deref(), at));
    }
    if let Some(read) = object(event, "read") {
        out.extend(self::read(env, read, customer.as_deref(), at));
    }
    if out.is_empty() {
        let what = OTHER_EVENTS.split_whitespace().find(|key| event.get(*key).is_some());
        out.push(Normalized::ignored(match what {
            Some(key) => format!("{} `{key}` event is not stored", env.channel),
            None => {
                format!("{} `{}` update is not a messaging event", env.channel, name_of(Some(&env.field)))
            }
        }));
    }
    out
}

fn message(env: &InboundEnvelope, event: &Value, m: &Value, at: OffsetDateTime) -> Normalized {
    let channel = env.channel;
    let echo = flag(m, "is_echo");
    let party = if echo { "recipient" } else { "sender" };
    let customer = object(event, party).and_then(|p| text(p, "id")).or_else(|| env.sender_id.clone());
    let Some(mid) = text(m, "mid").or_else(|| env.update_id.clone()) else {
        return Normalized::ignored(format!("{channel} message without mid"));
    };
    if flag(m, "is_deleted") {
        return Normalized::Deleted { channel_message_id: mid, at };
    }
    let Some(customer) = customer else {
        return Normalized::ignored(format!("{channel} message {} without customer", name_of(Some(&mid))));
    };
    let direction = if echo { Direction::Out } else { Direction::In };
    let mut msg =
        IncomingMessage::new(channel, &env.account_id, CustomerRef::id(customer), mid, at, direction);
    msg.app_id = text(m, "app_id");
    msg.text = text(m, "text");
    msg.referral = object(m, "referral").or_else(|| object(event, "referral")).cloned();
    let reply_to = object(m, "reply_to");
    msg.reply_to = reply_to.and_then(|r| text(r, "mid"));
    if let Some(quick) = object(m, "quick_reply") {
        msg.reply = Some(InteractiveReply {
            kind: ReplyKind::QuickReply,
            id: text(quick, "payload"),
            title: msg.text.clone(),
            description: None,
            response_json: None,
        });
    }
    let attachments = items(m, "attachments");
    for (i, a) in attachments.iter().enumerate() {
        attachment(&mut msg, a, i == 0);
    }
    let story = reply_to.and_then(|r| object(r, "story"));
    if flag(m, "is_unsupported") {
        msg.unsupported(Some("is_unsupported"));
    } else if let Some(story) = story {
        msg.kind = MessageKind::StoryReply;
        msg.story = Some(StoryRef { id: text(story, "id"), url: text(story, "url") });
    } else if attachments.is_empty() {
        msg.kind = match (&msg.reply, &msg.text) {
            (Some(_), _) => MessageKind::Interactive,
            (None, Some(_)) => MessageKind::Text,
            (None, None) if text(m, "sticker_id").is_some() => MessageKind::Sticker,
            (None, None) => {
                msg.unsupported_type = Some("empty".into());
                MessageKind::Unsupported
            }
        };
    }
    Normalized::Message(msg)
}

/// Reads one attachment: the first decides the message's kind, later ones add their media.
fn attachment(msg: &mut IncomingMessage, a: &Value, first: bool) {
    let kind = text(a, "type");
    let payload = object(a, "payload").unwrap_or(&Value::Null);
    // Older deliveries put a fallback's `title` and `url` beside the payload.
    let url = text(payload, "url").or_else(|| text(a, "url"));
    let title = text(payload, "title").or_else(|| text(a, "title"));
    let media =
        |kind: MediaKind| MediaRef { url: url.clone(), caption: title.clone(), ..MediaRef::new(kind) };
    let (message_kind, media) = match kind.as_deref() {
        Some("image") if text(payload, "sticker_id").is_some() => {
            (MessageKind::Sticker, media(MediaKind::Sticker))
        }
        Some("image" | "animated_image") => (MessageKind::Image, media(MediaKind::Image)),
        Some("video" | "ig_reel" | "reel") => (MessageKind::Video, media(MediaKind::Video)),
        Some("audio") => (MessageKind::Audio, media(MediaKind::Audio)),
        Some("file") => (MessageKind::Document, media(MediaKind::Document)),
        Some("sticker" | "like_heart") => (MessageKind::Sticker, media(MediaKind::Sticker)),
        Some("story_mention") => {
            if first {
                msg.story = Some(StoryRef { id: text(payload, "id"), url: url.clone() });
            }
            (MessageKind::StoryMention, media(MediaKind::Story))
        }
        _ if !first => return,
        Some("location") => {
            let coordinates = object(payload, "coordinates").unwrap_or(&Value::Null);
            msg.kind = MessageKind::Location;
            msg.location = Some(Location {
                latitude: number(coordinates, "lat"),
                longitude: number(coordinates, "long"),
                name: title,
                address: None,
                url,
            });
            return;
        }
        // A shared link or post: its title and address are the message.
        Some("fallback" | "share" | "ig_post") if url.is_some() || title.is_some() => {
            msg.kind = MessageKind::Text;
            let link = [msg.text.take(), title, url].into_iter().flatten().collect::<Vec<_>>().join("\n");
            msg.text = Some(link);
            return;
        }
        // Echoes of templates the business sent (buttons, generic cards).
        Some("template") => {
            msg.kind = MessageKind::Interactive;
            let element = items(payload, "elements").first();
            msg.text = msg
                .text
                .take()
                .or_else(|| text(payload, "text"))
                .or_else(|| element.and_then(|e| text(e, "title")));
            return;
        }
        other => {
            msg.unsupported(Some(&name_of(other)));
            return;
        }
    };
    if first {
        msg.kind = message_kind;
        if media.url.is_none() && !matches!(message_kind, MessageKind::Sticker | MessageKind::StoryMention) {
            // An attachment without its file: the message shows, as what it was meant to be.
            msg.unsupported(kind.as_deref());
        }
        if media.caption.is_some() && msg.text.is_none() {
            msg.text.clone_from(&media.caption);
        }
        msg.media = Some(media);
    } else if media.url.is_some() {
        msg.extra_media.push(media);
    }
}

/// A tap on a button of a template or the persistent menu (`title`, `payload`, `mid`).
fn postback(
    env: &InboundEnvelope,
    event: &Value,
    p: &Value,
    sender: Option<String>,
    at: OffsetDateTime,
) -> Normalized {
    let channel = env.channel;
    let Some(customer) = sender.or_else(|| env.sender_id.clone()) else {
        return Normalized::ignored(format!("{channel} postback without sender"));
    };
    // Older postbacks have no `mid`: the sender and the channel's timestamp make a stable id
    // so that a redelivery dedupes.
    let raw_time = event.get("timestamp").map(Value::to_string).unwrap_or_default();
    let mid = text(p, "mid").unwrap_or_else(|| format!("postback:{customer}:{raw_time}"));
    let mut msg =
        IncomingMessage::new(channel, &env.account_id, CustomerRef::id(customer), mid, at, Direction::In);
    msg.kind = MessageKind::Postback;
    msg.text = text(p, "title");
    msg.reply = Some(InteractiveReply {
        kind: ReplyKind::Postback,
        id: text(p, "payload"),
        title: msg.text.clone(),
        description: None,
        response_json: None,
    });
    msg.referral = object(p, "referral").cloned();
    Normalized::Message(msg)
}

/// `reaction{mid, action: react | unreact, reaction, emoji}`.
fn reaction(env: &InboundEnvelope, r: &Value, customer: Option<String>, at: OffsetDateTime) -> Normalized {
    let channel = env.channel;
    let (Some(customer_id), Some(target)) = (customer, text(r, "mid")) else {
        return Normalized::ignored(format!("{channel} reaction without sender or message"));
    };
    let removed = text(r, "action").is_some_and(|a| a.eq_ignore_ascii_case("unreact"));
    Normalized::Reaction(Reaction {
        channel,
        account_id: env.account_id.clone(),
        customer_id,
        // Messenger and Instagram report only the customer's reactions.
        direction: Direction::In,
        channel_message_id: None,
        target_channel_message_id: target,
        // A reaction named without its emoji (`love`) must not read as a removal.
        emoji: if removed { None } else { text(r, "emoji").or_else(|| text(r, "reaction")) },
        timestamp: at,
    })
}

/// `delivery{mids[], watermark}`: each message named was delivered.
fn delivery(env: &InboundEnvelope, d: &Value, customer: Option<&str>, at: OffsetDateTime) -> Vec<Normalized> {
    let when = unix_time(d.get("watermark"), Unit::Millis).unwrap_or(at);
    let mids: Vec<Normalized> = items(d, "mids")
        .iter()
        .filter_map(|mid| mid.as_str().filter(|s| !s.is_empty()))
        .map(|mid| status(env, mid, DeliveryStatus::Delivered, when, customer))
        .collect();
    if mids.is_empty() {
        return vec![Normalized::ignored(format!("{} delivery without message ids", env.channel))];
    }
    mids
}

/// `read{watermark}` (Messenger: everything sent up to then is read) or `read{mid}`
/// (Instagram: that message is read).
fn read(env: &InboundEnvelope, r: &Value, customer: Option<&str>, at: OffsetDateTime) -> Vec<Normalized> {
    let mut out = Vec::new();
    if let Some(mid) = text(r, "mid") {
        out.push(status(env, &mid, DeliveryStatus::Read, at, customer));
    }
    if let Some(watermark) = unix_time(r.get("watermark"), Unit::Millis) {
        out.push(match customer {
            Some(customer) => Normalized::ReadUpTo {
                channel: env.channel,
                account_id: env.account_id.clone(),
                customer_id: customer.to_owned(),
                watermark,
            },
            None => Normalized::ignored(format!("{} read receipt without reader", env.channel)),
        });
    }
    if out.is_empty() {
        out.push(Normalized::ignored(format!("{} read receipt without message or watermark", env.channel)));
    }
    out
}

fn status(
    env: &InboundEnvelope,
    mid: &str,
    status: DeliveryStatus,
    at: OffsetDateTime,
    customer: Option<&str>,
) -> Normalized {
    Normalized::Status(StatusUpdate {
        channel: env.channel,
        account_id: env.account_id.clone(),
        channel_message_id: mid.to_owned(),
        status,
        timestamp: at,
        recipient_id: customer.map(str::to_owned),
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use super::super::tests::{RECEIVED, envelope, fixture, one, one_message};
    use super::*;
    use crate::inbound::{Channel, UpdateKind};
    use serde_json::json;
    use time::macros::datetime;

    const PSID: &str = "6789012345678901";
    const IGSID: &str = "1234567890123456";

    fn event(channel: Channel, kind: UpdateKind, payload: Value) -> InboundEnvelope {
        let mut env = envelope(channel, kind, "messaging", payload);
        env.account_id =
            if channel == Channel::Instagram { "17841400000000001" } else { "104857600000001" }.into();
        env
    }

    fn messenger(payload: Value) -> Vec<Normalized> {
        normalize(&event(Channel::Messenger, UpdateKind::Message, payload))
    }

    fn instagram(payload: Value) -> Vec<Normalized> {
        normalize(&event(Channel::Instagram, UpdateKind::Message, payload))
    }

    fn with_message(sender: &str, message: Value) -> Value {
        json!({"sender": {"id": sender}, "recipient": {"id": "104857600000001"}, "timestamp": 1795859970123_i64, "message": message})
    }

    #[test]
    fn quick_replies_carry_the_payload_the_reply_and_milliseconds() {
        let msg = one_message(messenger(fixture(include_str!(
            "../../tests/fixtures/channels/messenger/quick_reply.json"
        ))));
        assert_eq!((msg.channel, msg.account_id.as_str()), (Channel::Messenger, "104857600000001"));
        assert_eq!((msg.customer.external_id.as_str(), msg.customer.phone.as_ref()), (PSID, None));
        assert_eq!(msg.timestamp, datetime!(2026-11-28 09:59:30.123 UTC));
        assert_eq!((msg.kind, msg.text.as_deref()), (MessageKind::Interactive, Some("Quiero cotizar")));
        let reply = msg.reply.unwrap_or_else(|| panic!("quick reply"));
        assert_eq!((reply.kind, reply.id.as_deref()), (ReplyKind::QuickReply, Some("QUIERO_COTIZAR")));
        assert!(msg.reply_to.is_some_and(|r| r.starts_with("m_QBR3")));
    }

    fn attached(attachment: Value) -> IncomingMessage {
        one_message(messenger(with_message(PSID, json!({"mid": "m_A", "attachments": [attachment]}))))
    }

    #[test]
    fn texts_and_every_attachment_type() {
        let text = one_message(messenger(with_message(
            PSID,
            json!({"mid": "m_T", "text": "¿Abren el domingo? 😊"}),
        )));
        assert_eq!((text.kind, text.text.as_deref()), (MessageKind::Text, Some("¿Abren el domingo? 😊")));
        let two = one_message(messenger(fixture(include_str!(
            "../../tests/fixtures/channels/messenger/attachments.json"
        ))));
        assert_eq!(two.kind, MessageKind::Image);
        assert!(two.media.is_some_and(|m| m.url.is_some_and(|u| u.contains("foto1"))));
        assert!(matches!(&two.extra_media[..], [m] if m.url.as_deref().is_some_and(|u| u.contains("foto2"))));
        let url = "https://cdn.fbsbx.com/v/file";
        let cases = [
            (json!({"type": "video", "payload": {"url": url}}), MessageKind::Video, None),
            (json!({"type": "audio", "payload": {"url": url}}), MessageKind::Audio, None),
            (json!({"type": "file", "payload": {"url": url}}), MessageKind::Document, None),
            (
                json!({"type": "image", "payload": {"url": url, "sticker_id": 369239263222822_i64}}),
                MessageKind::Sticker,
                None,
            ),
            (json!({"type": "poll", "payload": {}}), MessageKind::Unsupported, Some("poll")),
            (json!({"type": "image", "payload": {}}), MessageKind::Unsupported, Some("image")),
        ];
        for (attachment, kind, unsupported) in cases {
            let msg = attached(attachment.clone());
            assert_eq!((msg.kind, msg.unsupported_type.as_deref()), (kind, unsupported), "{attachment}");
            assert_eq!(msg.media.and_then(|m| m.url).as_deref(), unsupported.is_none().then_some(url));
        }
        let place = attached(json!({"type": "location", "title": "Mérida",
                                    "payload": {"coordinates": {"lat": 20.9674, "long": -89.5926}}}));
        assert_eq!(place.kind, MessageKind::Location);
        assert!(
            place
                .location
                .is_some_and(|l| l.latitude == Some(20.9674) && l.name.as_deref() == Some("Mérida"))
        );
        let link = attached(
            json!({"type": "fallback", "payload": {"url": "https://tienda.example/p/42", "title": "Sudadera azul"}}),
        );
        assert_eq!(
            (link.kind, link.text.as_deref()),
            (MessageKind::Text, Some("Sudadera azul\nhttps://tienda.example/p/42"))
        );
        let unsupported =
            one_message(messenger(with_message(PSID, json!({"mid": "m_X", "is_unsupported": true}))));
        assert_eq!(
            (unsupported.kind, unsupported.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("is_unsupported"))
        );
        let empty = one_message(messenger(with_message(PSID, json!({"mid": "m_E"}))));
        assert_eq!(empty.kind, MessageKind::Unsupported, "a message id with nothing readable still shows");
    }

    #[test]
    fn echoes_are_outgoing_to_the_recipient_with_their_app() {
        let msg = one_message(messenger(fixture(include_str!(
            "../../tests/fixtures/channels/messenger/echo_template.json"
        ))));
        assert_eq!((msg.direction, msg.is_echo), (Direction::Out, true));
        assert_eq!(msg.customer.external_id, PSID, "the customer is the recipient of an echo");
        assert_eq!(msg.app_id.as_deref(), Some("263902037430900"));
        assert_eq!(
            (msg.kind, msg.text.as_deref()),
            (MessageKind::Interactive, Some("¿Te agendamos una cita?"))
        );
    }

    #[test]
    fn postbacks_with_and_without_mid() {
        let msg = one_message(messenger(fixture(include_str!(
            "../../tests/fixtures/channels/messenger/postback.json"
        ))));
        assert_eq!(
            (msg.kind, msg.channel_message_id.as_str(), msg.text.as_deref()),
            (MessageKind::Postback, "m_PB1", Some("Ver catálogo"))
        );
        assert!(
            msg.reply
                .is_some_and(|r| r.kind == ReplyKind::Postback && r.id.as_deref() == Some("VER_CATALOGO"))
        );
        assert_eq!(msg.referral.as_ref().map(|r| r["ref"].clone()), Some(json!("campana-navidad")));
        let old = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795859990000_i64,
                         "postback": {"title": "Empezar", "payload": "GET_STARTED"}});
        let first = one_message(messenger(old.clone()));
        assert_eq!(first.channel_message_id, format!("postback:{PSID}:1795859990000"));
        assert_eq!(
            one_message(messenger(old)).channel_message_id,
            first.channel_message_id,
            "stable across redeliveries"
        );
    }

    #[test]
    fn deliveries_reads_and_reactions() {
        let delivery = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795860000000_i64,
                              "delivery": {"mids": ["m_OUT1", "m_OUT2"], "watermark": 1795859999000_i64}});
        let out = normalize(&event(Channel::Messenger, UpdateKind::Status, delivery));
        assert_eq!(out.len(), 2);
        assert!(
            out.iter().all(|n| matches!(n, Normalized::Status(s) if s.status == DeliveryStatus::Delivered
            && s.timestamp == datetime!(2026-11-28 09:59:59 UTC) && s.recipient_id.as_deref() == Some(PSID)))
        );
        let read = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795860005000_i64, "read": {"watermark": 1795860004000_i64}});
        assert_eq!(
            one(normalize(&event(Channel::Messenger, UpdateKind::Status, read))),
            Normalized::ReadUpTo {
                channel: Channel::Messenger,
                account_id: "104857600000001".into(),
                customer_id: PSID.into(),
                watermark: datetime!(2026-11-28 10:00:04 UTC)
            }
        );
        let seen = json!({"sender": {"id": IGSID}, "recipient": {"id": "1"}, "timestamp": 1795860005000_i64, "read": {"mid": "aWdfOUT1"}});
        let Normalized::Status(s) = one(normalize(&event(Channel::Instagram, UpdateKind::Status, seen)))
        else {
            panic!("a status")
        };
        assert_eq!((s.channel_message_id.as_str(), s.status), ("aWdfOUT1", DeliveryStatus::Read));
        let react = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795860010000_i64,
                           "reaction": {"mid": "m_OUT1", "action": "react", "reaction": "love", "emoji": "❤️"}});
        let Normalized::Reaction(r) = one(messenger(react)) else { panic!("a reaction") };
        assert_eq!(
            (r.target_channel_message_id.as_str(), r.emoji.as_deref(), r.customer_id.as_str()),
            ("m_OUT1", Some("❤️"), PSID)
        );
        let unreact = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795860011000_i64,
                             "reaction": {"mid": "m_OUT1", "action": "unreact"}});
        assert!(matches!(one(messenger(unreact)), Normalized::Reaction(r) if r.emoji.is_none()));
        let bare = json!({"sender": {"id": PSID}, "delivery": {"watermark": 1795859999000_i64}});
        assert!(matches!(one(messenger(bare)), Normalized::Ignored { .. }));
    }

    #[test]
    fn messenger_and_instagram_edits_name_the_message_and_its_new_text() {
        let edit = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795860020000_i64,
                          "message_edit": {"mid": "m_IN1", "text": "mejor el viernes", "num_edit": 1}});
        let expected = Normalized::Edited {
            channel_message_id: "m_IN1".into(),
            text: Some("mejor el viernes".into()),
            at: datetime!(2026-11-28 10:00:20 UTC),
        };
        assert_eq!(one(messenger(edit.clone())), expected);
        assert_eq!(one(instagram(edit)), expected);
    }

    #[test]
    fn instagram_story_mentions_replies_and_deletions() {
        let mention = one_message(instagram(fixture(include_str!(
            "../../tests/fixtures/channels/instagram/story_mention.json"
        ))));
        assert_eq!((mention.channel, mention.kind), (Channel::Instagram, MessageKind::StoryMention));
        assert_eq!(mention.customer.external_id, IGSID);
        let cdn = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17952815534583311&signature=AbzH";
        assert_eq!(mention.story.and_then(|s| s.url).as_deref(), Some(cdn));
        assert!(mention.media.is_some_and(|m| m.kind == MediaKind::Story && m.url.as_deref() == Some(cdn)));
        let reply = one_message(instagram(fixture(include_str!(
            "../../tests/fixtures/channels/instagram/story_reply.json"
        ))));
        assert_eq!(
            (reply.kind, reply.text.as_deref()),
            (MessageKind::StoryReply, Some("¡Qué bonito! ¿Lo tienen en talla M?"))
        );
        assert_eq!(reply.story.and_then(|s| s.id).as_deref(), Some("17900000000000002"));
        let deleted = json!({"sender": {"id": IGSID}, "recipient": {"id": "1"}, "timestamp": 1795860000000_i64,
                             "message": {"mid": "aWdfDEL", "is_deleted": true}});
        assert_eq!(
            one(instagram(deleted)),
            Normalized::Deleted {
                channel_message_id: "aWdfDEL".into(),
                at: datetime!(2026-11-28 10:00:00 UTC)
            }
        );
        let reel = one_message(instagram(with_message(
            IGSID,
            json!({"mid": "aWdfREEL", "attachments": [{"type": "ig_reel",
            "payload": {"reel_video_id": "1790", "title": "Nuevos modelos", "url": "https://lookaside.fbsbx.com/reel"}}]}),
        )));
        assert_eq!((reel.kind, reel.text.as_deref()), (MessageKind::Video, Some("Nuevos modelos")));
    }

    #[test]
    fn other_events_and_odd_updates_are_ignored_with_a_reason() {
        let referral = json!({"sender": {"id": PSID}, "recipient": {"id": "1"}, "timestamp": 1795860000000_i64,
                              "referral": {"ref": "promo", "source": "SHORTLINK", "type": "OPEN_THREAD"}});
        assert!(
            matches!(one(messenger(referral)), Normalized::Ignored { reason } if reason.contains("`referral`"))
        );
        let comment =
            envelope(Channel::Instagram, UpdateKind::Event, "comments", json!({"id": "1", "text": "lindo"}));
        assert!(
            matches!(one(normalize(&comment)), Normalized::Ignored { reason } if reason.contains("`comments`"))
        );
        let no_mid = json!({"sender": {"id": PSID}, "message": {"text": "hola"}});
        assert!(
            matches!(one(messenger(no_mid)), Normalized::Ignored { reason } if reason.contains("without mid"))
        );
        // The id the webhook read, and the time it received the update, fill in for missing ones.
        let mut env = event(Channel::Messenger, UpdateKind::Message, json!({"message": {"text": "hola"}}));
        env.update_id = Some("m_FROM_ENV".into());
        env.sender_id = Some(PSID.into());
        let msg = one_message(normalize(&env));
        assert_eq!(
            (msg.channel_message_id.as_str(), msg.customer.external_id.as_str(), msg.timestamp),
            ("m_FROM_ENV", PSID, RECEIVED)
        );
    }
}
