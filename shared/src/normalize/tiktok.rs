//! TikTok Business Messaging deliveries: `{client_key, event, create_time (s), user_openid,
//! content}`, `content` being a JSON document inside a string (`{type, message_id,
//! conversation_id, timestamp (ms), from_user{id, role}, to_user, from, to, text.body,
//! image.media_id, referenced_message_info ...}`).
//!
//! TikTok's own page for the message shape could not be read: this follows what independent
//! integrations agree on and reads every field as optional; `content` is also accepted as an
//! object, and `create_time` in milliseconds.

use serde_json::Value;
use time::OffsetDateTime;

use super::model::{
    CustomerRef, DeliveryStatus, Direction, IncomingMessage, InteractiveReply, MediaKind, MediaRef,
    MessageKind, Normalized, Reaction, ReplyKind, StatusUpdate,
};
use super::read::{Unit, items, name_of, object, text, unix_time};
use crate::inbound::{Channel, InboundEnvelope};

pub(super) fn normalize(env: &InboundEnvelope, delivery: &Value) -> Vec<Normalized> {
    let event = text(delivery, "event").unwrap_or_else(|| env.field.clone());
    let content = content(delivery);
    let c = content.as_ref().unwrap_or(&Value::Null);
    // The content's time in milliseconds, else the delivery's in seconds.
    let at = unix_time(c.get("timestamp"), Unit::Millis)
        .or_else(|| unix_time(delivery.get("create_time"), Unit::Seconds))
        .unwrap_or(env.received_at);
    match event.as_str() {
        "im_receive_msg" => message(env, c, Direction::In, at),
        "im_send_msg" => message(env, c, Direction::Out, at),
        "im_mark_read_msg" => vec![mark_read(env, c, at)],
        // TikTok withholds the sender and content of messages from the EEA, Switzerland and the
        // UK: there is nothing to store until the conversation is read through its API.
        "im_receive_msg_eu" => {
            vec![Normalized::ignored("tiktok message from the EEA/CH/UK without sender or content")]
        }
        other => vec![Normalized::ignored(format!(
            "tiktok `{}` event is not a conversation message",
            name_of(Some(other))
        ))],
    }
}

/// `content` as documented (a string holding JSON), or leniently the object itself.
fn content(delivery: &Value) -> Option<Value> {
    match delivery.get("content")? {
        Value::String(s) => serde_json::from_str::<Value>(s).ok().filter(Value::is_object),
        v @ Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

fn user_id(c: &Value, key: &str) -> Option<String> {
    object(c, key).and_then(|u| text(u, "id"))
}

fn message(env: &InboundEnvelope, c: &Value, direction: Direction, at: OffsetDateTime) -> Vec<Normalized> {
    let Some(id) = text(c, "message_id").or_else(|| env.update_id.clone()) else {
        return vec![Normalized::ignored("tiktok message without message_id")];
    };
    // The customer is the sender of what they wrote and the recipient of what the business sent.
    let (user, name) = if direction == Direction::In { ("from_user", "from") } else { ("to_user", "to") };
    let conversation_id = text(c, "conversation_id");
    let Some(customer_id) =
        user_id(c, user).or_else(|| env.sender_id.clone()).or_else(|| conversation_id.clone())
    else {
        return vec![Normalized::ignored(format!("tiktok message {} without customer", name_of(Some(&id))))];
    };
    let kind = text(c, "type");
    if kind.as_deref() == Some("reaction") {
        return reactions(env, c, (&customer_id, direction), &id, at);
    }
    let customer = CustomerRef { username: text(c, name), ..CustomerRef::id(customer_id) };
    let mut msg = IncomingMessage::new(Channel::Tiktok, &env.account_id, customer, id, at, direction);
    msg.conversation_id = conversation_id;
    msg.reply_to = object(c, "referenced_message_info").and_then(|r| text(r, "referenced_message_id"));
    if !read_content(&mut msg, kind.as_deref(), c) {
        msg.unsupported(kind.as_deref());
    }
    vec![Normalized::Message(msg)]
}

/// The content of a message type; false when the type is unknown or its content absent.
fn read_content(msg: &mut IncomingMessage, kind: Option<&str>, c: &Value) -> bool {
    let Some(kind) = kind else { return false };
    let Some(body) = object(c, kind) else { return false };
    let media = |media_kind: MediaKind| MediaRef {
        media_id: text(body, "media_id"),
        url: text(body, "url"),
        ..MediaRef::new(media_kind)
    };
    let (message_kind, media) = match kind {
        "text" => {
            msg.text = text(body, "body");
            // A text TikTok wrote for the customer when they tapped a Q&A card's button.
            msg.reply = object(c, "reply_source_payload").map(|r| InteractiveReply {
                kind: ReplyKind::ButtonReply,
                id: text(r, "reply_source_unique_id"),
                title: msg.text.clone(),
                description: None,
                response_json: None,
            });
            msg.kind = if msg.reply.is_some() { MessageKind::Interactive } else { MessageKind::Text };
            return msg.text.is_some();
        }
        "share_post" => {
            msg.kind = MessageKind::Text;
            msg.text = text(body, "embed_url");
            return msg.text.is_some();
        }
        "template" => {
            let element = items(body, "elements").first();
            msg.kind = MessageKind::Interactive;
            msg.text = element.and_then(|e| text(e, "title")).or_else(|| text(body, "title"));
            return true;
        }
        "image" => (MessageKind::Image, media(MediaKind::Image)),
        "video" => (MessageKind::Video, media(MediaKind::Video)),
        "sticker" | "emoji" => (MessageKind::Sticker, media(MediaKind::Sticker)),
        _ => return false,
    };
    if media.media_id.is_none() && media.url.is_none() {
        return false;
    }
    msg.kind = message_kind;
    msg.media = Some(media);
    true
}

/// `type: reaction` carries a list of `{operation: ADD | REMOVE, emoji, original_msg_id}`.
fn reactions(
    env: &InboundEnvelope,
    c: &Value,
    (customer_id, direction): (&str, Direction),
    id: &str,
    at: OffsetDateTime,
) -> Vec<Normalized> {
    let list: Vec<&Value> = match c.get("reaction") {
        Some(Value::Array(all)) => all.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let out: Vec<Normalized> = list
        .into_iter()
        .filter_map(|r| {
            let target = text(r, "original_msg_id").or_else(|| text(r, "message_id"))?;
            let removed = text(r, "operation").is_some_and(|o| o.eq_ignore_ascii_case("remove"));
            Some(Normalized::Reaction(Reaction {
                channel: Channel::Tiktok,
                account_id: env.account_id.clone(),
                customer_id: customer_id.to_owned(),
                direction,
                channel_message_id: Some(id.to_owned()),
                target_channel_message_id: target,
                emoji: if removed { None } else { text(r, "emoji").or_else(|| text(r, "ai_emoji_url")) },
                timestamp: unix_time(r.get("timestamp"), Unit::Millis).unwrap_or(at),
            }))
        })
        .collect();
    if out.is_empty() {
        return vec![Normalized::ignored(format!(
            "tiktok reaction {} without the message it is on",
            name_of(Some(id))
        ))];
    }
    out
}

/// The customer read the conversation: a message when one is named, else everything up to
/// `read.last_read_timestamp`.
fn mark_read(env: &InboundEnvelope, c: &Value, at: OffsetDateTime) -> Normalized {
    let customer = user_id(c, "from_user").or_else(|| env.sender_id.clone());
    if let Some(id) = text(c, "message_id") {
        return Normalized::Status(StatusUpdate {
            channel: Channel::Tiktok,
            account_id: env.account_id.clone(),
            channel_message_id: id,
            status: DeliveryStatus::Read,
            timestamp: at,
            recipient_id: customer,
            error: None,
        });
    }
    let Some(customer_id) = customer else {
        return Normalized::ignored("tiktok read receipt without reader");
    };
    let watermark =
        object(c, "read").and_then(|r| unix_time(r.get("last_read_timestamp"), Unit::Millis)).unwrap_or(at);
    Normalized::ReadUpTo {
        channel: Channel::Tiktok,
        account_id: env.account_id.clone(),
        customer_id,
        watermark,
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use super::super::tests::{envelope, fixture, one, one_message};
    use super::*;
    use crate::inbound::UpdateKind;
    use serde_json::json;
    use time::macros::datetime;

    const BUSINESS: &str = "-000AbCdEfGhIjKlMnOpQrStUvWxYz";
    const CUSTOMER: &str = "7311111111111111111";

    fn delivery(event: &str, content: Value) -> InboundEnvelope {
        let kind = if event == "im_mark_read_msg" { UpdateKind::Status } else { UpdateKind::Message };
        let mut env = envelope(
            Channel::Tiktok,
            kind,
            event,
            json!({
                "client_key": "awjzux1u41cywjgt", "event": event, "create_time": 1795859971,
                "user_openid": BUSINESS, "content": content.to_string()
            }),
        );
        env.account_id = BUSINESS.into();
        env
    }

    fn inbound(kind: &str, body: Value) -> Value {
        let mut c = json!({"type": kind, "message_id": "7400000000000000001", "conversation_id": "conv-1",
                           "timestamp": 1795859970123_i64, "from": "lupita.mx",
                           "from_user": {"id": CUSTOMER, "role": "personal_account"},
                           "to_user": {"id": BUSINESS, "role": "business_account"}});
        c[kind] = body;
        c
    }

    #[test]
    fn a_text_from_its_json_string_content() {
        let env = delivery("im_receive_msg", Value::Null);
        let mut env = env;
        env.payload = Some(fixture(include_str!("../../tests/fixtures/channels/tiktok/receive_text.json")));
        let msg = one_message(normalize(&env));
        assert_eq!((msg.channel, msg.account_id.as_str()), (Channel::Tiktok, BUSINESS));
        assert_eq!(
            (msg.customer.external_id.as_str(), msg.customer.username.as_deref()),
            (CUSTOMER, Some("lupita.mx"))
        );
        assert_eq!(
            (msg.kind, msg.text.as_deref()),
            (MessageKind::Text, Some("Hola, ¿tienen envíos a Monterrey? 🇲🇽"))
        );
        assert_eq!(msg.timestamp, datetime!(2026-11-28 09:59:30.123 UTC), "the content's milliseconds");
        assert_eq!((msg.direction, msg.conversation_id.as_deref()), (Direction::In, Some("conv-1")));
        assert_eq!(msg.reply_to.as_deref(), Some("7400000000000000000"));
    }

    #[test]
    fn images_videos_stickers_shares_and_unknown_types() {
        let image = one_message(normalize(&delivery(
            "im_receive_msg",
            inbound("image", json!({"media_id": "v0f025gc0000"})),
        )));
        assert_eq!(image.kind, MessageKind::Image);
        assert_eq!(image.media.and_then(|m| m.media_id).as_deref(), Some("v0f025gc0000"));
        let video =
            one_message(normalize(&delivery("im_receive_msg", inbound("video", json!({"media_id": "v1"})))));
        assert_eq!(video.kind, MessageKind::Video);
        let sticker = one_message(normalize(&delivery(
            "im_receive_msg",
            inbound("sticker", json!({"url": "https://p16.tiktokcdn.com/s.webp"})),
        )));
        assert_eq!(sticker.kind, MessageKind::Sticker);
        let share = one_message(normalize(&delivery(
            "im_receive_msg",
            inbound(
                "share_post",
                json!({"embed_url": "https://www.tiktok.com/embed/v2/74", "video_id": "74"}),
            ),
        )));
        assert_eq!(
            (share.kind, share.text.as_deref()),
            (MessageKind::Text, Some("https://www.tiktok.com/embed/v2/74"))
        );
        let unknown = one_message(normalize(&delivery(
            "im_receive_msg",
            inbound("voice_note", json!({"media_id": "x"})),
        )));
        assert_eq!(
            (unknown.kind, unknown.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("voice_note"))
        );
        let empty = one_message(normalize(&delivery("im_receive_msg", inbound("image", json!({})))));
        assert_eq!(
            (empty.kind, empty.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("image"))
        );
    }

    #[test]
    fn business_messages_are_echoes_to_the_customer() {
        let c = json!({"type": "text", "message_id": "7400000000000000009", "conversation_id": "conv-1",
                       "timestamp": 1795859980000_i64, "from": "mi.tienda", "to": "lupita.mx",
                       "from_user": {"id": BUSINESS, "role": "business_account"},
                       "to_user": {"id": CUSTOMER, "role": "personal_account"},
                       "text": {"body": "¡Sí! Envío gratis desde $499"}, "message_tag": {"source": "APP"}});
        let msg = one_message(normalize(&delivery("im_send_msg", c)));
        assert_eq!((msg.direction, msg.is_echo), (Direction::Out, true));
        assert_eq!(
            (msg.customer.external_id.as_str(), msg.customer.username.as_deref()),
            (CUSTOMER, Some("lupita.mx"))
        );
    }

    #[test]
    fn content_as_an_object_and_missing_fields_are_tolerated() {
        let mut env = delivery("im_receive_msg", Value::Null);
        env.payload =
            Some(json!({"event": "im_receive_msg", "create_time": 1795859971, "user_openid": BUSINESS,
                                  "content": inbound("text", json!({"body": "hola"}))}));
        assert_eq!(one_message(normalize(&env)).text.as_deref(), Some("hola"));
        // No content time: the delivery's seconds.
        let c =
            json!({"type": "text", "message_id": "m1", "from_user": {"id": CUSTOMER}, "text": {"body": "x"}});
        assert_eq!(
            one_message(normalize(&delivery("im_receive_msg", c))).timestamp,
            datetime!(2026-11-28 09:59:31 UTC)
        );
        // No content at all: the webhook's ids keep the message.
        let mut env = delivery("im_receive_msg", Value::Null);
        env.payload = Some(json!({"event": "im_receive_msg", "content": "not json"}));
        env.update_id = Some("m2".into());
        env.sender_id = Some(CUSTOMER.into());
        let msg = one_message(normalize(&env));
        assert_eq!((msg.kind, msg.channel_message_id.as_str()), (MessageKind::Unsupported, "m2"));
        env.update_id = None;
        assert!(matches!(one(normalize(&env)), Normalized::Ignored { .. }));
    }

    #[test]
    fn read_marks_reactions_and_other_events() {
        let read = json!({"from": "lupita.mx", "from_user": {"id": CUSTOMER, "role": "personal_account"},
                          "to_user": {"id": BUSINESS}, "conversation_id": "conv-1", "timestamp": 1795860000000_i64,
                          "read": {"last_read_timestamp": 1795859990000_i64}});
        assert_eq!(
            one(normalize(&delivery("im_mark_read_msg", read))),
            Normalized::ReadUpTo {
                channel: Channel::Tiktok,
                account_id: BUSINESS.into(),
                customer_id: CUSTOMER.into(),
                watermark: datetime!(2026-11-28 09:59:50 UTC)
            }
        );
        let named = json!({"from_user": {"id": CUSTOMER}, "message_id": "7400000000000000009", "timestamp": 1795860000000_i64});
        assert!(matches!(one(normalize(&delivery("im_mark_read_msg", named))),
                         Normalized::Status(s) if s.status == DeliveryStatus::Read && s.channel_message_id == "7400000000000000009"));
        let mut reaction = inbound("reaction", Value::Null);
        reaction["reaction"] = json!([{"operation": "ADD", "type": "EMOJI", "emoji": "👍", "original_msg_id": "7400000000000000009"},
                                      {"operation": "REMOVE", "type": "EMOJI", "emoji": "😂", "original_msg_id": "7400000000000000008"}]);
        let out = normalize(&delivery("im_receive_msg", reaction));
        assert!(matches!(&out[..], [Normalized::Reaction(a), Normalized::Reaction(b)]
            if a.emoji.as_deref() == Some("👍") && b.emoji.is_none() && a.direction == Direction::In && b.target_channel_message_id == "7400000000000000008"));
        for event in ["im_receive_msg_eu", "im_referral_msg", "tiktok.ping"] {
            assert!(
                matches!(one(normalize(&delivery(event, json!({})))), Normalized::Ignored { .. }),
                "{event}"
            );
        }
    }
}
