//! Read receipts as each channel takes them.

use super::*;

fn receipt_record(job: &gestor_shared::outbound::ReceiptJob, receive: u32) -> SqsMessage {
    let body = serde_json::to_string(&gestor_shared::outbound::OutboundJob::Receipt(job.clone()))
        .unwrap_or_default();
    sqs_record("receipt", &body, Some(job.conversation_id.as_str()), receive)
}

#[tokio::test]
async fn read_receipts_go_out_as_each_channel_takes_them_and_failing_ones_are_dropped() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(body_json(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/me/messages"))
        .and(body_json(json!({"recipient": {"id": PSID}, "sender_action": "mark_seen"})))
        .respond_with(ResponseTemplate::new(503))
        .mount(&w.graph)
        .await;
    let (conversation, contact) = w.conversation(Channel::Whatsapp, WA_ID).await;
    let job = gestor_shared::outbound::ReceiptJob {
        tenant: w.tenant.clone(),
        conversation_id: conversation,
        channel_account_id: w.whatsapp.clone(),
        channel: Channel::Whatsapp,
        contact_id: contact,
        channel_message_id: "wamid.IN1".into(),
        recipient: None,
    };
    let handled = w.outbound.handle(sqs_event(vec![receipt_record(&job, 1)])).await;
    assert!(handled.batch_item_failures.is_empty());

    let (conversation, contact) = w.conversation(Channel::Messenger, PSID).await;
    let seen = gestor_shared::outbound::ReceiptJob {
        conversation_id: conversation,
        channel_account_id: w.messenger.clone(),
        channel: Channel::Messenger,
        contact_id: contact,
        channel_message_id: "m_IN1".into(),
        ..job
    };
    for receive in 1..3 {
        let handled = w.outbound.handle(sqs_event(vec![receipt_record(&seen, receive)])).await;
        assert_eq!(handled.batch_item_failures.len(), 1, "try {receive}");
    }
    let handled = w.outbound.handle(sqs_event(vec![receipt_record(&seen, 3)])).await;
    assert!(handled.batch_item_failures.is_empty(), "dropped after three tries");
    assert_eq!(w.metrics.points("OutboundReceiptDropped").len(), 1);
}
