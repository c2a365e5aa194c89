//! Turns a channel update, as the `webhooks` function enqueued it ([`InboundEnvelope`]), into
//! the CRM's model of it ([`Normalized`]): a message, a status, a reaction, a deletion, or an
//! update deliberately ignored with its reason.
//!
//! Pure functions, no I/O. The channels' payloads change without notice and TikTok's shape
//! is known only from integrations, so every field is optional here: nothing panics, a
//! message with an id is never dropped (what cannot be read becomes kind `unsupported`), and
//! whatever is ignored says why.

mod meta_messaging;
mod model;
mod read;
mod tiktok;
mod whatsapp;
mod whatsapp_kinds;

pub use model::{
    ChannelError, CustomerRef, DeliveryStatus, Direction, IncomingMessage, InteractiveReply, Location,
    MediaKind, MediaRef, MessageKind, Normalized, Reaction, ReplyKind, StatusUpdate, StoryRef,
};

use crate::inbound::{Channel, InboundEnvelope};

/// What an update means to the CRM; one entry for a single update, several when the payload
/// is a whole change (a batch of WhatsApp echoes, a Messenger delivery of several messages).
/// Never empty.
///
/// An envelope whose payload sits in the bucket (`payload_ref`) must be loaded first: the
/// object is the whole envelope, payload included.
pub fn normalize(envelope: &InboundEnvelope) -> Vec<Normalized> {
    let Some(payload) = envelope.payload.as_ref() else {
        let reason = if envelope.payload_ref.is_some() {
            "payload kept in the bucket (payload_ref): load the envelope from there first"
        } else {
            "envelope without payload"
        };
        return vec![Normalized::ignored(reason)];
    };
    let out = match envelope.channel {
        Channel::Whatsapp => whatsapp::normalize(envelope, payload),
        Channel::Messenger | Channel::Instagram => meta_messaging::normalize(envelope, payload),
        Channel::Tiktok => tiktok::normalize(envelope, payload),
    };
    if out.is_empty() {
        vec![Normalized::ignored(format!("{} update with nothing in it", envelope.channel))]
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::read::*;
    use super::*;
    use crate::inbound::{ENVELOPE_VERSION, PayloadRef, UpdateKind};
    use proptest::prelude::*;
    use serde_json::Value;
    use serde_json::json;
    use std::sync::LazyLock;
    use time::OffsetDateTime;
    use time::macros::datetime;

    pub(crate) const RECEIVED: OffsetDateTime = datetime!(2026-11-28 10:00:00 UTC);

    /// An envelope as the webhook writes it.
    pub(crate) fn envelope(
        channel: Channel,
        kind: UpdateKind,
        field: &str,
        payload: Value,
    ) -> InboundEnvelope {
        InboundEnvelope {
            v: ENVELOPE_VERSION,
            channel,
            account_id: "ACCOUNT".into(),
            sender_id: None,
            kind,
            field: field.into(),
            entry_id: None,
            update_id: None,
            received_at: RECEIVED,
            profile: None,
            payload: Some(payload),
            payload_ref: None,
        }
    }

    /// A fixture file under `shared/tests/fixtures/channels/`.
    pub(crate) fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    /// The single output of an update, which must be a message.
    pub(crate) fn one_message(out: Vec<Normalized>) -> IncomingMessage {
        match <[Normalized; 1]>::try_from(out) {
            Ok([Normalized::Message(m)]) => m,
            other => panic!("expected one message, got {other:?}"),
        }
    }

    pub(crate) fn one(out: Vec<Normalized>) -> Normalized {
        match <[Normalized; 1]>::try_from(out) {
            Ok([n]) => n,
            other => panic!("expected one result, got {other:?}"),
        }
    }

    #[test]
    fn timestamps_are_read_in_the_documented_unit_and_tolerate_the_other() {
        let at = datetime!(2026-11-28 09:59:30 UTC);
        let at_ms = datetime!(2026-11-28 09:59:30.123 UTC);
        assert_eq!(unix_time(Some(&json!("1795859970")), Unit::Seconds), Some(at));
        assert_eq!(unix_time(Some(&json!(1795859970)), Unit::Seconds), Some(at));
        assert_eq!(unix_time(Some(&json!(1795859970123_i64)), Unit::Millis), Some(at_ms));
        assert_eq!(unix_time(Some(&json!("1795859970123")), Unit::Millis), Some(at_ms));
        assert_eq!(
            unix_time(Some(&json!(1795859970123_i64)), Unit::Seconds),
            Some(at_ms),
            "ms where s documented"
        );
        assert_eq!(unix_time(Some(&json!(1795859970)), Unit::Millis), Some(at), "s where ms documented");
        assert_eq!(unix_time(Some(&json!(1795859970.5)), Unit::Seconds), Some(at));
        for bad in [
            json!(null),
            json!(""),
            json!("soon"),
            json!(-5),
            json!(0),
            json!(i64::MAX),
            json!(1e300),
            json!([]),
        ] {
            assert_eq!(unix_time(Some(&bad), Unit::Millis), None, "{bad}");
            assert_eq!(unix_time(Some(&bad), Unit::Seconds), None, "{bad}");
        }
        assert_eq!(unix_time(None, Unit::Seconds), None);
    }

    #[test]
    fn meta_errors_keep_code_title_and_details() {
        let error = json!({"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                           "error_data": {"details": "Message failed to send because more than 24 hours have passed"}});
        let read = meta_error(&error);
        assert_eq!(read.code, Some(131047));
        assert_eq!(read.title.as_deref(), Some("Re-engagement message"));
        assert!(read.details.is_some_and(|d| d.starts_with("Message failed")));
        let bare = meta_error(&json!({"code": "10", "message": "Outside the window"}));
        assert_eq!(
            (bare.code, bare.title.as_deref(), bare.details),
            (Some(10), Some("Outside the window"), None)
        );
    }

    #[test]
    fn envelopes_without_payload_are_ignored_with_the_reason() {
        let mut env = envelope(Channel::Whatsapp, UpdateKind::Message, "messages", json!({}));
        env.payload = None;
        env.payload_ref =
            Some(PayloadRef { key: "inbound-overflow/x".into(), bytes: 10, sha256: "00".into() });
        assert!(
            matches!(one(normalize(&env)), Normalized::Ignored { reason } if reason.contains("payload_ref"))
        );
        env.payload_ref = None;
        assert!(matches!(one(normalize(&env)), Normalized::Ignored { .. }));
    }

    /// Keys the parsers read that say what a message contains (not who sent it or its id).
    const CONTENT_KEYS: &str = "type text body image audio video document sticker location latitude longitude \
        interactive button_reply list_reply nfm_reply response_json button payload context forwarded referral \
        errors code title system revoke attachments url coordinates quick_reply reply_to story is_unsupported \
        is_deleted timestamp media_id referenced_message_info reply_source_payload template elements caption \
        voice contacts unsupported";
    /// Keys that identify a message, its sender or the update itself.
    const IDENTITY_KEYS: &str = "id mid from from_user_id sender recipient message postback message_id \
        from_user to_user event content statuses messages delivery is_echo";
    /// Values the parsers look for, so that mutations reach the branches they select.
    const WORDS: &str = "text image audio video document sticker location contacts interactive button reaction \
        order system revoke unsupported button_reply list_reply nfm_reply story_mention fallback template file \
        share read delivered failed played unreact REMOVE 1795859970 1795859970123 5215512345678 true {oops \
        {\"type\":\"text\",\"text\":{\"body\":\"x\"}}";

    static CONTENT: LazyLock<Vec<&str>> = LazyLock::new(|| CONTENT_KEYS.split_whitespace().collect());
    static EVERY_KEY: LazyLock<Vec<&str>> =
        LazyLock::new(|| CONTENT_KEYS.split_whitespace().chain(IDENTITY_KEYS.split_whitespace()).collect());

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            prop::sample::select(WORDS.split_whitespace().collect::<Vec<_>>()).prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            let keys = prop::sample::select(EVERY_KEY.as_slice());
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys, inner), 0..5).prop_map(|pairs| Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    /// A documented update of each channel and kind, as the webhook enqueues it.
    fn templates() -> Vec<InboundEnvelope> {
        let wa = |kind, payload: Value| {
            let mut env = envelope(Channel::Whatsapp, kind, "messages", payload);
            env.profile = Some(json!({"profile": {"name": "Ana"}, "wa_id": "5215512345678"}));
            env
        };
        let meta = |channel, kind, body: Value| {
            let mut event = json!({"sender": {"id": "PSID"}, "recipient": {"id": "PAGE"}, "timestamp": 1795859970123_i64});
            if let (Some(e), Some(b)) = (event.as_object_mut(), body.as_object()) {
                e.extend(b.clone());
            }
            envelope(channel, kind, "messaging", event)
        };
        let tiktok = |event: &str, content: Value| {
            let kind = if event == "im_mark_read_msg" { UpdateKind::Status } else { UpdateKind::Message };
            envelope(
                Channel::Tiktok,
                kind,
                event,
                json!({"event": event, "create_time": 1795859971,
                "user_openid": "BIZ", "content": content}),
            )
        };
        let message = json!({"from": "5215512345678", "id": "wamid.1", "timestamp": "1795859970", "type": "image",
            "context": {"id": "wamid.0", "forwarded": true}, "referral": {"source_type": "ad"},
            "image": {"id": "M1", "caption": "¿Así?", "mime_type": "image/jpeg", "sha256": "x"},
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": "{}"}},
            "errors": [{"code": 131051, "title": "Message type unknown", "error_data": {"details": "x"}}]});
        let tt = json!({"type": "text", "message_id": "T1", "conversation_id": "c", "timestamp": 1795859970123_i64,
            "from_user": {"id": "U"}, "to_user": {"id": "BIZ"}, "text": {"body": "hola"}, "image": {"media_id": "M"},
            "referenced_message_info": {"referenced_message_id": "T0"}, "read": {"last_read_timestamp": 1795859970123_i64}});
        vec![
            wa(UpdateKind::Message, message),
            wa(
                UpdateKind::Status,
                json!({"id": "wamid.0", "status": "failed", "timestamp": "1795859970",
                "recipient_id": "5215512345678", "errors": [{"code": 131047, "title": "Re-engagement message"}]}),
            ),
            wa(
                UpdateKind::Event,
                json!({"contacts": [{"wa_id": "5215512345678"}], "messages": [{"from": "5215512345678",
                "id": "wamid.2", "type": "text", "text": {"body": "x"}}], "statuses": [{"id": "wamid.0", "status": "read"}],
                "message_echoes": [{"to": "5215512345678", "id": "wamid.3", "type": "text", "text": {"body": "y"}}]}),
            ),
            meta(
                Channel::Messenger,
                UpdateKind::Message,
                json!({"message": {"mid": "m_1", "text": "hola",
                "quick_reply": {"payload": "P"}, "reply_to": {"mid": "m_0", "story": {"url": "https://cdn/s", "id": "S"}},
                "attachments": [{"type": "image", "payload": {"url": "https://cdn/i"}},
                                {"type": "location", "payload": {"coordinates": {"lat": 1.0, "long": 2.0}}}]}}),
            ),
            meta(
                Channel::Instagram,
                UpdateKind::Message,
                json!({"message": {"mid": "ig_1", "is_echo": true,
                "attachments": [{"type": "story_mention", "payload": {"url": "https://cdn/s"}}]}}),
            ),
            meta(
                Channel::Messenger,
                UpdateKind::Message,
                json!({"postback": {"mid": "m_2", "title": "Ver", "payload": "V"}}),
            ),
            meta(
                Channel::Messenger,
                UpdateKind::Status,
                json!({"delivery": {"mids": ["m_0"], "watermark": 1795859970000_i64},
                "read": {"watermark": 1795859970000_i64, "mid": "m_0"}}),
            ),
            meta(
                Channel::Instagram,
                UpdateKind::Event,
                json!({"reaction": {"mid": "m_0", "action": "react", "emoji": "❤️"}}),
            ),
            tiktok("im_receive_msg", tt.clone()),
            tiktok("im_send_msg", tt.clone()),
            tiktok("im_mark_read_msg", tt),
        ]
    }

    /// Replaces the value of `key` wherever it occurs (or adds it at the top) with `with`.
    fn mutate(node: &mut Value, key: &str, with: &Value, top: bool) {
        match node {
            Value::Object(map) => {
                // Recurse first: the replacement may hold the key itself.
                map.iter_mut().filter(|(k, _)| *k != key).for_each(|(_, v)| mutate(v, key, with, false));
                if let Some(slot) = map.get_mut(key) {
                    *slot = with.clone();
                } else if top {
                    map.insert(key.to_owned(), with.clone());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| mutate(v, key, with, false)),
            Value::String(s) if s.starts_with('{') => {
                // TikTok's content is JSON inside a string: mutate inside it too.
                if let Ok(mut inner) = serde_json::from_str::<Value>(s) {
                    mutate(&mut inner, key, with, top);
                    *s = inner.to_string();
                }
            }
            _ => {}
        }
    }

    /// Every object key in `node`, inside JSON strings too.
    fn keys_in(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                out.push(k.clone());
                keys_in(v, out);
            }),
            Value::Array(items) => items.iter().for_each(|v| keys_in(v, out)),
            Value::String(s) => serde_json::from_str::<Value>(s).iter().for_each(|v| keys_in(v, out)),
            _ => {}
        }
    }

    /// A template with some of its fields (mostly ones it has) replaced by arbitrary JSON or by
    /// words the parsers look for; TikTok's content stringified or not.
    fn mutated(keys: &'static [&'static str], only_messages: bool) -> impl Strategy<Value = InboundEnvelope> {
        let templates: Vec<InboundEnvelope> =
            templates().into_iter().filter(|t| !only_messages || t.kind == UpdateKind::Message).collect();
        (prop::sample::select(templates), any::<bool>())
            .prop_flat_map(move |(env, stringify)| {
                let mut present = Vec::new();
                keys_in(env.payload.as_ref().unwrap_or(&Value::Null), &mut present);
                let mut pool: Vec<&'static str> =
                    keys.iter().filter(|k| present.iter().any(|p| p == *k)).copied().collect();
                pool.extend(pool.clone());
                pool.extend(keys);
                let value = prop_oneof![
                    arbitrary_json(),
                    prop::sample::select(WORDS.split_whitespace().collect::<Vec<_>>()).prop_map(Value::from),
                ];
                let edits = prop::collection::vec((prop::sample::select(pool), value, any::<bool>()), 1..6);
                (Just(env), Just(stringify), edits)
            })
            .prop_map(|(mut env, stringify, edits)| {
                if let Some(payload) = env.payload.as_mut() {
                    if stringify && let Some(content) = payload.get_mut("content") {
                        *content = Value::from(content.to_string());
                    }
                    for (key, with, top) in &edits {
                        mutate(payload, key, with, *top);
                    }
                }
                env
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn normalize_never_panics_on_arbitrary_payloads(
            payload in arbitrary_json(),
            profile in proptest::option::of(arbitrary_json()),
            channel in prop::sample::select(Channel::ALL.to_vec()),
            kind in prop::sample::select(vec![UpdateKind::Message, UpdateKind::Status, UpdateKind::Event]),
            field in prop::sample::select(vec!["messages", "smb_message_echoes", "messaging", "im_receive_msg"]),
        ) {
            let mut env = envelope(channel, kind, field, payload);
            env.profile = profile;
            prop_assert!(!normalize(&env).is_empty());
        }

        #[test]
        fn normalize_never_panics_on_damaged_updates_of_every_channel_and_kind(
            env in mutated(EVERY_KEY.as_slice(), false),
        ) {
            let out = normalize(&env);
            prop_assert!(!out.is_empty());
            for n in out {
                if let Normalized::Message(m) = n {
                    prop_assert!(!m.channel_message_id.is_empty() && !m.customer.external_id.is_empty());
                }
            }
        }

        /// Whatever its content, a message with its id and sender is stored (or, when it says
        /// so, is a deletion); only reactions, which are not messages, may be refused.
        #[test]
        fn a_message_with_id_and_sender_is_never_dropped(env in mutated(CONTENT.as_slice(), true)) {
            let payload = env.payload.clone().unwrap_or_default();
            let tiktok_type = payload.get("content").and_then(|c| match c {
                Value::String(s) => serde_json::from_str::<Value>(s).ok(),
                other => Some(other.clone()),
            }).and_then(|c| c.get("type").cloned());
            prop_assume!(payload.get("type") != Some(&json!("reaction")) && tiktok_type != Some(json!("reaction")));
            let out = normalize(&env);
            prop_assert!(
                matches!(&out[..], [Normalized::Message(_) | Normalized::Deleted { .. }]),
                "{:?} -> {:?}", env.payload, out
            );
        }
    }
}
