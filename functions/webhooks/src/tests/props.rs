//! Property tests: the parsers never panic, whatever the bytes or JSON, and whatever they
//! produce is a message the queue accepts and the worker can read.

use gestor_shared::inbound::{Channel, InboundEnvelope};
use gestor_shared::ports::queue::MESSAGE_SIZE_LIMIT;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::now;
use crate::{Prepared, split};

const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "contacts",
    "messages",
    "statuses",
    "from",
    "from_user_id",
    "wa_id",
    "user_id",
    "status",
    "recipient_id",
    "recipient_user_id",
    "messaging",
    "standby",
    "sender",
    "recipient",
    "message",
    "mid",
    "is_echo",
    "postback",
    "delivery",
    "read",
    "event",
    "user_openid",
    "content",
    "message_id",
    "from_user",
    "to_user",
    "conversation_id",
    "text",
    "body",
];

const WORDS: &[&str] = &[
    "whatsapp_business_account",
    "page",
    "instagram",
    "messages",
    "im_receive_msg",
    "im_send_msg",
    "im_mark_read_msg",
    "delivered",
    "read",
    "wamid.X",
    "5215512345678",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(KEYS).prop_map(str::to_owned), "[a-z_]{1,8}", ".{0,4}"]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// What every produced message must be; answers how many updates there were.
fn check(prepared: Prepared) -> Result<Option<usize>, TestCaseError> {
    let Prepared::Updates(messages) = prepared else { return Ok(None) };
    for m in &messages {
        prop_assert!(m.group_id.len() <= 128 && !m.group_id.is_empty());
        prop_assert!(m.group_id.bytes().all(|b| b.is_ascii_graphic()), "{}", m.group_id);
        prop_assert!(m.dedup_id.len() == 64 && m.dedup_id.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assert!(m.body.len() <= MESSAGE_SIZE_LIMIT);
        let refused = |c: char| {
            (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        };
        prop_assert!(!m.body.chars().any(refused), "{}", m.body);
        let envelope: Result<InboundEnvelope, _> = serde_json::from_str(&m.body);
        prop_assert!(envelope.is_ok(), "{:?}: {}", envelope.err(), m.body);
    }
    Ok(Some(messages.len()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for channel in Channel::ALL {
            check(split(channel, &bytes, now()))?;
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let bytes = value.to_string();
        for channel in Channel::ALL {
            check(split(channel, bytes.as_bytes(), now()))?;
        }
    }

    #[test]
    fn every_whatsapp_update_is_forwarded_whatever_it_holds(
        entry_id in json_value(), account in json_value(), contact in json_value(),
        message in json_value(), status in json_value(),
    ) {
        let delivery = json!({"object": "whatsapp_business_account", "entry": [{"id": entry_id, "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": account},
             "contacts": [contact], "messages": [message], "statuses": [status]}}]}]});
        prop_assert_eq!(check(split(Channel::Whatsapp, delivery.to_string().as_bytes(), now()))?, Some(2));
    }

    #[test]
    fn every_messenger_event_is_forwarded_whatever_it_holds(
        entry_id in json_value(), first in json_value(), second in json_value(),
    ) {
        for object in ["page", "instagram"] {
            let delivery = json!({"object": object, "entry": [{"id": entry_id, "messaging": [first, second]}]});
            prop_assert_eq!(check(split(Channel::Messenger, delivery.to_string().as_bytes(), now()))?, Some(2));
        }
    }

    #[test]
    fn every_tiktok_event_is_forwarded_whatever_its_content(content in json_value(), as_string in any::<bool>()) {
        let content = if as_string { Value::from(content.to_string()) } else { content };
        let delivery = json!({"event": "im_receive_msg", "user_openid": "-000Bus", "content": content});
        prop_assert_eq!(check(split(Channel::Tiktok, delivery.to_string().as_bytes(), now()))?, Some(1));
    }
}
