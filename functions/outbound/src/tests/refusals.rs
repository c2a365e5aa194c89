//! Refusals the sender records: one whose record collided with another write, a marketing
//! template to a contact who opposed marketing while the reply waited, and a reply to a
//! customer whose data is being erased.

use super::*;
use gestor_shared::repo::contacts::ContactRepo;

#[tokio::test]
async fn a_refusal_whose_record_collides_with_another_write_is_recorded_all_the_same() {
    let w = world().await;
    Mock::given(method("POST"))
        .respond_with(graph_error(400, 131047, "Re-engagement message"))
        .expect(1)
        .mount(&w.graph)
        .await;
    // DynamoDB cancels the outcome's transaction once: it collided with a status, say.
    let failing = Arc::new(gestor_shared::testing::doubles::FailingTable {
        conflicts: 1.into(),
        ..gestor_shared::testing::doubles::FailingTable::new(w.backend.table.clone())
    });
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::MetaGraphUrl, w.graph.uri());
    let outbound =
        Outbound::new(failing.clone(), w.backend.files.clone(), w.backend.queue.clone(), &settings)
            .unwrap_or_else(|e| panic!("{e}"));
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    let handled = outbound.handle(sqs_event(vec![World::record(&job, 1)])).await;
    assert!(handled.batch_item_failures.is_empty());
    assert_eq!(failing.conflicts.load(std::sync::atomic::Ordering::SeqCst), 0, "the collision happened");
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Failed, "not left `sending`");
    assert_eq!(w.outcomes_logged(&reply).await, vec![vec!["error", "status", "status_at"]]);
}

#[tokio::test]
async fn a_template_to_a_contact_who_opposed_marketing_meanwhile_is_not_sent() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.NO")).expect(0).mount(&w.graph).await;
    let (conversation, contact) = w.conversation(Channel::Whatsapp, WA_ID).await;
    let mut message =
        text_message(&conversation, &contact, Direction::Out, "unused", OffsetDateTime::now_utc());
    message.channel_message_id = None;
    message.kind = MessageKind::Template;
    message.text = None;
    message.details =
        Some(json!({"template": {"name": "promo_otono", "language": "es_MX", "parameters": []}}));
    let job = SendJob::of(&w.tenant, &w.whatsapp, &message, Delivery::Template);
    let (stored, job) = ReplyRepo::new(w.backend.table.clone())
        .queue(&w.tenant, &conversation, &RowScope::Business, |_| {
            Ok::<_, std::convert::Infallible>((message.clone(), job.clone()))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The contact's opposition is carried out while the reply waits in the queue.
    let contacts = ContactRepo::new(w.backend.table.clone());
    let current =
        contacts.get(&w.tenant, &contact).await.ok().flatten().unwrap_or_else(|| panic!("the contact"));
    let mut opposed = current.clone();
    opposed.restrictions = vec!["marketing".into()];
    opposed.version += 1;
    contacts.replace(&w.tenant, &current, &opposed).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let failed = w.stored(&stored).await;
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error.map(|e| e.code).as_deref(), Some("opposed"));
}

#[tokio::test]
async fn a_reply_queued_before_its_customers_cancellation_never_goes() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.NO")).expect(0).mount(&w.graph).await;
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    // The cancellation is accepted while the job waits in the queue: what its filing does
    // after hiding the contact.
    gestor_shared::repo::erasure::hide_rest(
        w.backend.table.as_ref(),
        &w.tenant,
        reply.contact_id.as_str(),
        "pr_1",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(w.deliver(&[&job], 1).await.is_empty(), "the job is done with, not retried");
    let failed = w.stored(&reply).await;
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error.map(|e| e.code).as_deref(), Some("erased"));
    let outbox = gestor_shared::repo::outbox::OutboxRepo::new(w.backend.table.clone());
    let waiting = outbox
        .waiting(reply.created_at + time::Duration::hours(1), reply.created_at, 100)
        .await
        .unwrap_or_default();
    assert!(waiting.is_empty(), "nothing waits to be sent to them");
}
