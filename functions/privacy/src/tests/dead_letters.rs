//! Dead letters moved out of their queues into the bucket, under their business: erased with
//! the subject they name, and sent back to their queue by an operator.

use gestor_shared::dead_letters;
use gestor_shared::ports::{FileError, OutgoingMessage, Queue};
use gestor_shared::settings::Settings;
use serde_json::json;
use std::time::Duration;

use super::erasure::customer;
use super::{acme, world};
use crate::drain::Drain;

#[tokio::test]
async fn dead_letters_are_kept_under_their_business_erased_with_their_subject_and_replayed() {
    let w = world().await;
    let ana = customer(&w, "5215512340051", "Ana Atorada").await;
    let bea = customer(&w, "5215512340052", "Bea Espera").await;
    let send = |contact: &gestor_shared::repo::contacts::Contact, wa_id: &str| {
        json!({"kind": "send", "tenant": "acme", "conversation_id": "cv_x", "message_id": format!("ms_{}", contact.id),
               "recipient": wa_id})
        .to_string()
    };
    let outbound_dead = "outbound-dlq.fifo";
    for (n, body) in
        [send(&ana.contact, "5215512340051"), send(&bea.contact, "5215512340052")].into_iter().enumerate()
    {
        let message = OutgoingMessage::new("0", body).group("cv_x").dedup(format!("dead-{n}"));
        w.queue.send_batch(outbound_dead, vec![message]).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // An update of a channel no business connects, naming Ana's number.
    let unrouted = json!({"v": 1, "channel": "whatsapp", "account_id": "999000111", "sender_id": "5215512340051",
                          "kind": "message", "field": "messages", "received_at": "2026-12-03T10:00:00Z"});
    let message = OutgoingMessage::new("0", unrouted.to_string()).group("g").dedup("d1");
    w.queue.send_batch("inbound-dlq.fifo", vec![message]).await.unwrap_or_else(|e| panic!("{e}"));

    let drain =
        Drain::new(&w.backend, &Settings::local_with(|_| None), gestor_shared::metrics::Metrics::stdout())
            .unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    let drained = drain.drain(now).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((drained.kept, drained.unrouted), (3, 1), "{drained:?}");
    for queue in [outbound_dead, "inbound-dlq.fifo"] {
        let left = w.queue.receive(queue, 10, Duration::from_secs(1)).await.unwrap_or_default();
        assert!(left.is_empty(), "{queue} drained");
    }
    let kept =
        w.backend.files.list(&dead_letters::prefix(Some(&acme()), "outbound")).await.unwrap_or_default();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(
        w.backend.files.tags(&kept[0]).await.ok(),
        Some(vec![("retention".into(), "dead-letter".into())])
    );
    let stray = w.backend.files.list(dead_letters::UNROUTED_PREFIX).await.unwrap_or_default();
    assert_eq!(stray.len(), 1, "{stray:?}");

    // Ana's cancellation takes hers, kept under the business or under none.
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()}});
    assert_eq!(w.file(&w.admin, body).await.0, 202);
    assert!(w.work().await >= 1);
    let left =
        w.backend.files.list(&dead_letters::prefix(Some(&acme()), "outbound")).await.unwrap_or_default();
    assert_eq!(left.len(), 1, "Bea's stays: {left:?}");
    assert!(matches!(w.backend.files.get(&stray[0]).await, Err(FileError::NotFound)));

    // Bea's, once the cause is fixed, goes back to its queue.
    let prefix = dead_letters::prefix(Some(&acme()), "outbound");
    let sent = crate::drain::replay(
        w.backend.files.as_ref(),
        w.backend.queue.as_ref(),
        &gestor_shared::resources::OUTBOUND,
        "outbound.fifo",
        &prefix,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent, 1);
    let back = w.queue.receive("outbound.fifo", 10, Duration::from_secs(1)).await.unwrap_or_default();
    assert_eq!(back.len(), 1);
    assert!(back[0].body.contains("5215512340052"));
    assert!(w.backend.files.list(&prefix).await.unwrap_or_default().is_empty());
}
