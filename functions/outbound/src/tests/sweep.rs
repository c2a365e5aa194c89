//! The sweep finds replies whose job was lost; done replies leave the outbox.

use super::*;

#[tokio::test]
async fn a_reply_whose_job_was_lost_is_found_by_the_sweep_sent_once_and_forgotten() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.SWEPT")).expect(1).mount(&w.graph).await;
    // Stored and in the outbox, but its enqueue failed: nothing on the queue.
    let (reply, _) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::MetaGraphUrl, w.graph.uri());
    let sweep = crate::sweep::Sweep::new(w.backend.table.clone(), w.backend.queue.clone(), &settings)
        .unwrap_or_else(|e| panic!("{e}"));
    let run = async |at: OffsetDateTime| {
        let event = gestor_shared::testing::events::scheduled(at, "outbound-sweep");
        gestor_shared::worker::Scheduled::run(&sweep, event).await.unwrap_or_else(|e| panic!("{e}"));
    };
    let queue = settings.get(Setting::OutboundQueueUrl).unwrap_or_default().to_owned();
    let visible = async || {
        w.backend.queue.receive(&queue, 10, std::time::Duration::from_secs(60)).await.unwrap_or_default()
    };

    run(reply.created_at + time::Duration::seconds(30)).await;
    assert!(visible().await.is_empty(), "a reply just written is not stuck yet");
    run(reply.created_at + crate::sweep::STUCK_AFTER + time::Duration::seconds(1)).await;
    let jobs = visible().await;
    assert_eq!(jobs.len(), 1);
    run(reply.created_at + crate::sweep::STUCK_AFTER + time::Duration::minutes(1)).await;
    assert!(visible().await.is_empty(), "not enqueued again while its job may still be in the queue");

    let event = sqs_event(jobs.iter().map(gestor_shared::worker::record).collect());
    assert!(w.outbound.handle(event).await.batch_item_failures.is_empty());
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Sent);
    run(reply.created_at + time::Duration::hours(1)).await;
    assert!(visible().await.is_empty(), "a sent reply leaves the outbox");
}

#[tokio::test]
async fn failed_and_vanished_replies_leave_the_outbox() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(graph_error(400, 131026, "undeliverable")).mount(&w.graph).await;
    let (_, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let (other, mut lost) = w.reply(Channel::Whatsapp, WA_ID, "adiós", Delivery::Response).await;
    // The sweep's own job for a message that is gone.
    lost.message_id = gestor_shared::ids::MessageId::new();
    assert!(w.deliver(&[&lost], 1).await.is_empty());
    let outbox = gestor_shared::repo::outbox::OutboxRepo::new(w.backend.table.clone());
    let waiting = outbox
        .waiting(other.created_at + time::Duration::hours(1), other.created_at, 100)
        .await
        .unwrap_or_default();
    let ids: Vec<String> = waiting.iter().map(|e| e.job.message_id.to_string()).collect();
    assert_eq!(ids, vec![other.id.to_string()], "only the reply still queued waits");
}

#[tokio::test]
async fn replies_waiting_for_a_retry_never_hide_newer_lost_ones() {
    let w = world().await;
    let outbox = gestor_shared::repo::outbox::OutboxRepo::new(w.backend.table.clone());
    let mut replies = Vec::new();
    for text in ["uno", "dos", "tres"] {
        replies.push(w.reply(Channel::Whatsapp, WA_ID, text, Delivery::Response).await.0);
    }
    let later = replies[2].created_at + time::Duration::hours(1);
    // Every entry lands in one of 8 partitions; sweep all of them as just swept but the last.
    let all = outbox.waiting(later, OffsetDateTime::UNIX_EPOCH, 100).await.unwrap_or_default();
    assert_eq!(all.len(), 3);
    for entry in all.iter().filter(|e| e.job.message_id != replies[2].id) {
        outbox.swept(&entry.key, later).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // One entry per partition and read: the swept ones are paged past, not returned.
    let due = outbox.waiting(later, later - time::Duration::minutes(10), 1).await.unwrap_or_default();
    let ids: Vec<String> = due.iter().map(|e| e.job.message_id.to_string()).collect();
    assert_eq!(ids, vec![replies[2].id.to_string()]);
}

#[tokio::test]
async fn a_waiting_reply_is_its_contacts_data_and_erasure_finds_it() {
    let w = world().await;
    let (reply, _) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    let keys = gestor_shared::repo::personal::keys_of_subject(
        w.backend.table.as_ref(),
        &w.tenant,
        reply.contact_id.as_str(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(keys.iter().any(|k| k.pk.starts_with("OUTBOX#")), "{keys:?}");
}
