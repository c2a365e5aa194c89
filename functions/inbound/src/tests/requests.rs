//! The cost of an inbound message in table requests, as the table port meters it (the budget
//! test in `tests/` holds the same path to its budget on both adapters).

use super::*;
use gestor_shared::adapters::metered::measure;

/// The AWS requests behind one inbound message: printed for the record, bounded so that a
/// change that multiplies them fails here.
#[tokio::test]
async fn requests_per_inbound_message() {
    let w = world().await;
    let mut measured = Vec::new();
    for (case, id) in [
        ("first message of a new customer", "wamid.Q1"),
        ("next message of the same customer", "wamid.Q2"),
        ("a repeated delivery", "wamid.Q2"),
    ] {
        let event = sqs_event(vec![record(
            0,
            &whatsapp_message(
                id,
                "5215512345678",
                1_795_860_000,
                json!({"type": "text", "text": {"body": "hola"}}),
            ),
        )]);
        let (response, usage) = measure(w.inbound.handle(event)).await;
        assert!(response.batch_item_failures.is_empty());
        println!(
            "{case}: {} table requests {:?}, {} RCU, {} WCU",
            usage.request_count(),
            usage.requests,
            usage.read_units,
            usage.write_units
        );
        measured.push(usage.request_count());
    }
    assert!(measured[0] <= 14, "{measured:?}");
    assert!(measured[1] <= 12, "{measured:?}");
    assert!(measured[2] <= 3, "a repeat stops at the claim: {measured:?}");
}

/// A status of a message the business sent: the claim and the message read, and one
/// transaction of the message's move with its audit entry.
#[tokio::test]
async fn requests_per_status() {
    let w = world().await;
    let echo = echo("wamid.SOUT");
    assert!(w.deliver(&[echo]).await.is_empty());
    let status = whatsapp_status("wamid.SOUT", "delivered", 1_795_860_010, "5215512345678");
    let (response, usage) = measure(w.inbound.handle(sqs_event(vec![record(0, &status)]))).await;
    assert!(response.batch_item_failures.is_empty());
    println!(
        "a status: {} table requests {:?}, {} RCU, {} WCU",
        usage.request_count(),
        usage.requests,
        usage.read_units,
        usage.write_units
    );
    assert!(usage.request_count() <= 4, "{usage:?}");
    assert_eq!(usage.requests.iter().filter(|r| **r == "TransactWriteItems").count(), 1);
}
