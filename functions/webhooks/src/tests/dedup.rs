//! Updates that share a channel id (a message and its unsend, edit, revoke or reaction, each
//! status of one message) each reach the queue: only a true redelivery is dropped by the
//! queue's deduplication window.

use gestor_shared::inbound::Channel;
use serde_json::{Value, json};

use super::fixtures::*;
use super::world;

const MID: &str = "m_SHARED1";
const WAMID: &str = "wamid.SHARED1";

fn wa_message(kind: &str, timestamp: &str, body: Value) -> Value {
    let mut message = json!({"from": CUSTOMER, "id": WAMID, "timestamp": timestamp, "type": kind});
    if let (Some(m), Some(b)) = (message.as_object_mut(), body.as_object()) {
        m.extend(b.clone());
    }
    message
}

fn wa(messages: Vec<Value>, statuses: Vec<Value>) -> String {
    let contacts = if messages.is_empty() { vec![] } else { vec![wa_contact(CUSTOMER, "Ana")] };
    meta_bytes(&wa_delivery(vec![(WABA_ID, vec![wa_change(contacts, messages, statuses)])]))
}

fn page(object: &str, account: &str, customer: &str, event: Value) -> String {
    let mut event = event;
    event["sender"] = json!({"id": customer});
    event["recipient"] = json!({"id": account});
    meta_bytes(&page_delivery(
        object,
        vec![json!({"id": account, "time": 1795000009000_u64, "messaging": [event]})],
    ))
}

/// Delivers each body separately, as the channel does, and answers how many reached the queue.
async fn queued_each(channel: &str, bodies: &[String]) -> usize {
    let w = world();
    for body in bodies {
        assert_eq!(w.deliver(channel, body).await.0, 200);
    }
    // Each delivery once more: every one of these is dropped as a repeat.
    for body in bodies {
        assert_eq!(w.deliver(channel, body).await.0, 200);
    }
    w.drain().await.len()
}

#[tokio::test]
async fn whatsapp_updates_naming_one_message_id_are_each_queued() {
    let updates = [
        wa(vec![wa_message("text", "1795000000", json!({"text": {"body": "hola"}}))], vec![]),
        wa(
            vec![wa_message(
                "edit",
                "1795000030",
                json!({"edit": {"original_message_id": WAMID, "message": {"type": "text", "text": {"body": "hola!"}}}}),
            )],
            vec![],
        ),
        wa(
            vec![wa_message("revoke", "1795000060", json!({"revoke": {"original_message_id": WAMID}}))],
            vec![],
        ),
        wa(
            vec![wa_message(
                "reaction",
                "1795000070",
                json!({"reaction": {"message_id": WAMID, "emoji": "👍"}}),
            )],
            vec![],
        ),
        wa(vec![wa_message("reaction", "1795000080", json!({"reaction": {"message_id": WAMID}}))], vec![]),
        wa(vec![], vec![wa_status(WAMID, "sent", CUSTOMER)]),
        wa(vec![], vec![wa_status(WAMID, "delivered", CUSTOMER)]),
        wa(vec![], vec![wa_status(WAMID, "read", CUSTOMER)]),
        wa(vec![], vec![wa_status(WAMID, "failed", CUSTOMER)]),
    ];
    assert_eq!(queued_each("whatsapp", &updates).await, updates.len());
}

#[tokio::test]
async fn a_messenger_or_instagram_unsend_edit_and_reactions_are_not_taken_for_their_message() {
    for (channel, object, account, customer) in
        [(Channel::Messenger, "page", PAGE_ID, PSID), (Channel::Instagram, "instagram", IG_ACCOUNT, IGSID)]
    {
        let event = |at: u64, body: Value| {
            let mut event = body;
            event["timestamp"] = json!(at);
            page(object, account, customer, event)
        };
        let updates = [
            event(1795000000123, json!({"message": {"mid": MID, "text": "mi dirección es ..."}})),
            event(
                1795000010123,
                json!({"message_edit": {"mid": MID, "text": "mi dirección: ...", "num_edit": 1}}),
            ),
            event(
                1795000020123,
                json!({"message_edit": {"mid": MID, "text": "dirección: ...", "num_edit": 2}}),
            ),
            event(
                1795000030123,
                json!({"reaction": {"mid": MID, "action": "react", "reaction": "love", "emoji": "❤"}}),
            ),
            event(1795000040123, json!({"reaction": {"mid": MID, "action": "unreact"}})),
            event(1795000050123, json!({"message": {"mid": MID, "is_deleted": true}})),
        ];
        assert_eq!(queued_each(channel.as_str(), &updates).await, updates.len(), "{channel}");
    }
}
