//! What a message owes survives every failure after it is stored: a refused event send, a
//! crash before the owed work is cleared. And a conversation never shows without its first
//! message, whatever write fails.

use super::*;
use gestor_shared::repo::scope::RowScope;
use gestor_shared::testing::doubles::{FailingTable, RefusingQueue};
use std::sync::atomic::Ordering;

fn first_message() -> InboundEnvelope {
    whatsapp_message(
        "wamid.OWE1",
        "5215512345678",
        1_795_860_000,
        json!({"type": "text", "text": {"body": "¿tienen envíos a Mérida?"}}),
    )
}

impl World {
    /// The worker over other ports, with the world's clock and metrics.
    fn inbound_over(&self, backend: &Backend) -> Inbound {
        let settings = Settings::local_with(|_| None);
        Inbound::new(backend, &settings)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(self.inbound.clock.clone())
    }

    /// The automation queue's messages as (type, id), sorted.
    async fn event_ids(&self) -> Vec<(String, String)> {
        let received = self.backend.queue.receive("automation", 10, std::time::Duration::from_secs(60)).await;
        let mut events: Vec<(String, String)> = received
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| serde_json::from_str::<Value>(&m.body).ok())
            .map(|v| (v["type"].as_str().unwrap_or("").to_owned(), v["id"].as_str().unwrap_or("").to_owned()))
            .collect();
        events.sort();
        events
    }
}

async fn handle(inbound: &Inbound, envelope: &InboundEnvelope) -> Vec<String> {
    let event = sqs_event(vec![record(0, envelope)]);
    inbound.handle(event).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

#[tokio::test]
async fn events_refused_by_the_queue_are_sent_by_the_retry_with_the_same_ids() {
    let w = world().await;
    let refusing = Arc::new(RefusingQueue::new(w.backend.queue.clone(), "automation", 1));
    let inbound = w.inbound_over(&Backend { queue: refusing.clone(), ..w.backend.clone() });

    assert_eq!(handle(&inbound, &first_message()).await, vec!["m0"], "the record comes back");
    assert_eq!(w.messages().await.len(), 1, "stored before the send");
    assert!(w.event_ids().await.is_empty());

    // The retry: the contact and conversation exist now, yet their creation is announced.
    assert!(handle(&inbound, &first_message()).await.is_empty());
    let events = w.event_ids().await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, vec!["contact.created", "conversation.created", "message.received"]);

    // Settled: a later redelivery owes nothing.
    assert!(handle(&inbound, &first_message()).await.is_empty());
    assert!(w.event_ids().await.is_empty());
    assert_eq!(w.messages().await.len(), 1);
}

#[tokio::test]
async fn a_crash_after_the_send_repeats_the_events_under_their_ids_and_no_more() {
    let w = world().await;
    let table = Arc::new(FailingTable::new(w.backend.table.clone()));
    table.fail_updates.store(1, Ordering::SeqCst);
    let inbound = w.inbound_over(&Backend { table: table.clone(), ..w.backend.clone() });

    // Sent, but clearing what was owed timed out: the record fails after the send.
    assert_eq!(handle(&inbound, &first_message()).await, vec!["m0"]);
    let first = w.event_ids().await;
    assert_eq!(first.len(), 3);
    assert!(handle(&inbound, &first_message()).await.is_empty());
    assert_eq!(w.event_ids().await, first, "the same events, the same ids: consumers drop the repeat");
    assert!(handle(&inbound, &first_message()).await.is_empty());
    assert!(w.event_ids().await.is_empty());
}

#[tokio::test]
async fn a_conversation_is_never_listed_without_its_first_message() {
    let w = world().await;
    // The write of the message itself fails, whatever else is written before it.
    let table =
        Arc::new(FailingTable { writing: "#MESSAGES#", ..FailingTable::new(w.backend.table.clone()) });
    table.fail_transactions.store(3, Ordering::SeqCst);
    let inbound = w.inbound_over(&Backend { table: table.clone(), ..w.backend.clone() });
    for _ in 0..3 {
        assert_eq!(handle(&inbound, &first_message()).await, vec!["m0"]);
        assert!(w.conversations().await.is_empty(), "no empty conversation in the inbox");
        let contacts = ContactRepo::new(w.backend.table.clone())
            .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
            .await
            .map(|(c, _)| c)
            .unwrap_or_default();
        assert!(contacts.is_empty(), "nor a contact without it");
    }
    assert!(handle(&inbound, &first_message()).await.is_empty());
    let conversations = w.conversations().await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].unread_count, 1);
    assert_eq!(w.messages().await.len(), 1);
}

#[tokio::test]
async fn a_deactivated_channel_stops_being_served_within_a_minute() {
    let w = world().await;
    assert!(w.deliver(&[first_message()]).await.is_empty());
    let channels = ChannelRepo::new(w.backend.table.clone());
    let (accounts, _) = channels.list(&w.tenant, 10, None).await.unwrap_or_else(|e| panic!("{e}"));
    channels.deactivate(&w.tenant, &accounts[0].id).await.unwrap_or_else(|e| panic!("{e}"));

    w.advance(time::Duration::seconds(60));
    let later = whatsapp_message(
        "wamid.OWE2",
        "5215512345678",
        1_795_860_070,
        json!({"type": "text", "text": {"body": "¿hola?"}}),
    );
    assert!(w.deliver(&[later]).await.is_empty());
    assert_eq!(w.messages().await.len(), 1, "not stored for a business that disconnected the number");
    assert_eq!(w.metrics.points("InboundUnroutable").len(), 1);
}
