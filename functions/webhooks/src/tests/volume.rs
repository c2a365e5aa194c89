//! Large deliveries: as few batch calls as SQS's limits allow, every update stored, each
//! customer's order kept.

use gestor_shared::inbound::InboundEnvelope;
use gestor_shared::ports::OutgoingMessage;
use gestor_shared::ports::queue::{MESSAGE_SIZE_LIMIT, SEND_BATCH_LIMIT};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

use super::doubles::RecordingQueue;
use super::fixtures::*;
use super::{world, world_with};

/// `count` text messages from `customers` customers, each text `text_len` characters long.
fn big_delivery(count: usize, customers: usize, text_len: usize) -> String {
    let customer = |i: usize| format!("52155{:08}", i % customers);
    let contacts = (0..customers).map(|i| wa_contact(&customer(i), &format!("Cliente {i}"))).collect();
    let messages = (0..count)
        .map(|i| wa_text(&format!("wamid.{i:06}"), &customer(i), &format!("{i:06} {}", "á".repeat(text_len))))
        .collect();
    meta_bytes(&wa_delivery(vec![(WABA_ID, vec![wa_change(contacts, messages, vec![])])]))
}

fn bytes(batch: &[OutgoingMessage]) -> usize {
    batch.iter().map(|m| m.body.len()).sum()
}

/// Each call within SQS's limits, and none could have taken the next message: greedy packing
/// in order, which for messages of equal size is the fewest calls possible.
fn assert_packed(calls: &[Vec<OutgoingMessage>]) {
    for (i, batch) in calls.iter().enumerate() {
        assert!(!batch.is_empty() && batch.len() <= SEND_BATCH_LIMIT, "call {i}: {} entries", batch.len());
        assert!(bytes(batch) <= MESSAGE_SIZE_LIMIT, "call {i}: {} bytes", bytes(batch));
        if let Some(next) = calls.get(i + 1).and_then(|b| b.first()) {
            let full = batch.len() == SEND_BATCH_LIMIT || bytes(batch) + next.body.len() > MESSAGE_SIZE_LIMIT;
            assert!(full, "call {i} had room for the next message");
        }
    }
}

/// Update ids in the order they were sent, per FIFO group.
fn order_by_group(
    envelopes: impl Iterator<Item = (String, InboundEnvelope)>,
) -> HashMap<String, Vec<String>> {
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for (group, envelope) in envelopes {
        groups.entry(group).or_default().push(envelope.update_id.unwrap_or_default());
    }
    groups
}

#[tokio::test]
async fn a_thousand_update_delivery_takes_a_hundred_calls_of_ten() {
    let recording = Arc::new(RecordingQueue::default());
    let w = world_with(Some(recording.clone()), None);
    let body = big_delivery(1000, 37, 470);
    assert!(body.len() > 2_900_000 && body.len() < 6 * 1024 * 1024, "about WhatsApp's 3 MB: {}", body.len());
    assert_eq!(w.deliver("whatsapp", &body).await, (200, json!({"received": 1000})));

    let calls = recording.calls();
    assert_eq!(calls.len(), 1000usize.div_ceil(SEND_BATCH_LIMIT));
    assert_packed(&calls);
    let mut ids: Vec<&str> = calls.iter().flatten().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "entry ids unique");
    // Calls of one round may complete in any order, but never two holding the same group:
    // per group, the recorded order is the delivery's order.
    let envelopes = calls.iter().flatten().map(|m| {
        let envelope: InboundEnvelope = serde_json::from_str(&m.body).unwrap_or_else(|e| panic!("{e}"));
        (m.group_id.clone().unwrap_or_default(), envelope)
    });
    let groups = order_by_group(envelopes);
    assert_eq!(groups.len(), 37);
    for ids in groups.values() {
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, &sorted);
    }
    assert!(w.stored().await.is_empty());
}

#[tokio::test]
async fn large_updates_fill_calls_up_to_the_byte_limit() {
    let recording = Arc::new(RecordingQueue::default());
    let w = world_with(Some(recording.clone()), None);
    // Each text is ~70 KB as sent (`\u00e1` escapes); three envelopes fit in a call, not four.
    let body = big_delivery(40, 5, 11_500);
    assert_eq!(w.deliver("whatsapp", &body).await, (200, json!({"received": 40})));
    let calls = recording.calls();
    assert_packed(&calls);
    let size = calls[0][0].body.len();
    let per_call = (MESSAGE_SIZE_LIMIT / size).min(SEND_BATCH_LIMIT);
    assert_eq!(per_call, 3, "envelope of {size} bytes");
    assert_eq!(calls.len(), 40usize.div_ceil(per_call));
}

#[tokio::test]
async fn every_update_of_a_large_delivery_reaches_the_queue_in_each_customers_order() {
    let w = world();
    // Smaller than the test above: the embedded queue commits every ack to disk.
    let body = big_delivery(250, 25, 200);
    assert_eq!(w.deliver("whatsapp", &body).await, (200, json!({"received": 250})));
    let queued = w.drain().await;
    assert_eq!(queued.len(), 250);
    let groups = order_by_group(queued.into_iter());
    assert_eq!(groups.len(), 25);
    for (group, ids) in &groups {
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, &sorted, "{group}");
        assert_eq!(ids.len(), 10);
    }
}
