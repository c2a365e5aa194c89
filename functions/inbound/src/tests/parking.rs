//! Updates that come before their message are parked, never retried in their record: the
//! customer's later updates go on, the message's arrival applies them, and both orders end in
//! the same state.

use super::*;
use gestor_shared::repo::scope::RowScope;

const CUSTOMER: &str = "5215512345678";

fn text_message(id: &str, ts: i64, body: &str) -> InboundEnvelope {
    whatsapp_message(id, CUSTOMER, ts, json!({"type": "text", "text": {"body": body}}))
}

fn edit(id: &str, target: &str, ts: i64, body: &str) -> InboundEnvelope {
    whatsapp_message(
        id,
        CUSTOMER,
        ts,
        json!({"type": "edit", "edit": {"original_message_id": target, "message": {"type": "text", "text": {"body": body}}}}),
    )
}

fn reaction(id: &str, target: &str, ts: i64, emoji: Option<&str>) -> InboundEnvelope {
    let mut body = json!({"message_id": target});
    if let Some(emoji) = emoji {
        body["emoji"] = json!(emoji);
    }
    whatsapp_message(id, CUSTOMER, ts, json!({"type": "reaction", "reaction": body}))
}

fn revoke(id: &str, target: &str, ts: i64) -> InboundEnvelope {
    whatsapp_message(id, CUSTOMER, ts, json!({"type": "revoke", "revoke": {"original_message_id": target}}))
}

/// A message as the inbox shows it, without what differs between two runs (ids, times of
/// processing).
fn state(message: &gestor_shared::repo::messages::Message) -> Value {
    let mut value = serde_json::to_value(message).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for volatile in ["id", "conversation_id", "contact_id", "updated_at"] {
            map.remove(volatile);
        }
    }
    if let Some(reactions) = value["reactions"].as_array_mut() {
        for r in reactions {
            r["from"] = json!("the customer");
        }
    }
    value
}

/// Delivers `message` and `updates` in both orders, each in its own world, one update per
/// batch as the queue would deliver them apart; answers the message's state in each.
async fn both_orders(message: InboundEnvelope, updates: Vec<InboundEnvelope>) -> (Value, Value, World) {
    let first = world().await;
    assert!(first.deliver(std::slice::from_ref(&message)).await.is_empty());
    for update in &updates {
        assert!(first.deliver(std::slice::from_ref(update)).await.is_empty());
    }
    let after = world().await;
    for update in &updates {
        assert!(after.deliver(std::slice::from_ref(update)).await.is_empty(), "parked, not failed");
    }
    assert!(after.messages().await.is_empty(), "an update creates no message");
    assert!(after.deliver(std::slice::from_ref(&message)).await.is_empty());
    let one = first.messages().await;
    let other = after.messages().await;
    assert_eq!((one.len(), other.len()), (1, 1));
    (state(&one[0]), state(&other[0]), after)
}

#[tokio::test]
async fn an_edit_and_reactions_before_their_message_end_as_after_it() {
    let updates = vec![
        edit("wamid.E1", "wamid.M1", 1_795_860_030, "mejor el viernes a las 5"),
        reaction("wamid.R1", "wamid.M1", 1_795_860_040, Some("👍")),
        reaction("wamid.R2", "wamid.M1", 1_795_860_050, None),
        reaction("wamid.R3", "wamid.M1", 1_795_860_060, Some("🙏")),
        edit("wamid.E0", "wamid.M1", 1_795_860_020, "el jueves"),
    ];
    let (in_order, parked_first, w) =
        both_orders(text_message("wamid.M1", 1_795_860_000, "el jueves a las 5"), updates).await;
    assert_eq!(in_order, parked_first);
    assert_eq!(in_order["text"], "mejor el viernes a las 5", "the latest edit wins: {in_order}");
    assert_eq!(in_order["edited_at"], "2026-11-28T10:00:30Z");
    assert_eq!(
        in_order["reactions"],
        json!([{"emoji": "🙏", "from": "the customer", "at": "2026-11-28T10:01:00Z"}])
    );
    assert!(w.metrics.points("InboundParked").len() >= 5);
    // Applied and cleared: the expiry check finds nothing to drop.
    w.advance(time::Duration::hours(2));
    while w.run_deferred().await > 0 {}
    assert!(w.metrics.points("InboundParkedDropped").is_empty());
}

#[tokio::test]
async fn a_revoke_before_its_image_removes_it_and_its_file_is_never_fetched() {
    let image = whatsapp_message(
        "wamid.IMG9",
        CUSTOMER,
        1_795_860_000,
        json!({"type": "image", "image": {"id": "4411", "mime_type": "image/jpeg", "caption": "mi dirección"}}),
    );
    let (in_order, parked_first, w) =
        both_orders(image, vec![revoke("wamid.RV9", "wamid.IMG9", 1_795_860_010)]).await;
    assert_eq!(in_order, parked_first);
    assert_eq!(in_order["deleted"], true);
    assert_eq!(in_order["text"], Value::Null);
    assert_eq!(in_order["media"], Value::Null);
    // The download it owed finds the message unsent: nothing fetched, nothing kept.
    assert_eq!(w.run_deferred().await, 1);
    assert!(w.backend.files.list("tienda-1/").await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn statuses_before_an_echo_end_as_after_it() {
    let mut echo = text_message("wamid.OUT7", 1_795_860_000, "¡Listo!");
    if let Some(payload) = echo.payload.as_mut() {
        payload["from"] = json!("525500000000");
        payload["to"] = json!(CUSTOMER);
    }
    echo.field = "smb_message_echoes".into();
    echo.kind = UpdateKind::Event;
    echo.payload = Some(
        json!({"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID},
        "message_echoes": [{"from": "525500000000", "to": CUSTOMER, "id": "wamid.OUT7", "timestamp": "1795860000",
                            "type": "text", "text": {"body": "¡Listo!"}}]}),
    );
    let updates = vec![
        whatsapp_status("wamid.OUT7", "read", 1_795_860_020, CUSTOMER),
        whatsapp_status("wamid.OUT7", "delivered", 1_795_860_010, CUSTOMER),
    ];
    let (in_order, parked_first, _) = both_orders(echo, updates).await;
    assert_eq!(in_order, parked_first);
    assert_eq!(in_order["status"], "read");
}

#[tokio::test]
async fn a_parked_update_records_whose_data_it_is() {
    let w = world().await;
    assert!(w.deliver(&[text_message("wamid.A1", 1_795_860_000, "hola")]).await.is_empty());
    assert!(w.deliver(&[reaction("wamid.R5", "wamid.LATER", 1_795_860_010, Some("❤"))]).await.is_empty());
    let contacts = ContactRepo::new(w.backend.table.clone())
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .map(|(c, _)| c)
        .unwrap_or_default();
    let keys = gestor_shared::repo::personal::keys_of_subject(
        w.backend.table.as_ref(),
        &w.tenant,
        contacts[0].id.as_str(),
    )
    .await
    .unwrap_or_default();
    assert!(keys.iter().any(|k| k.sk == "PARKED"), "the parked reaction is the contact's data: {keys:?}");
}

#[tokio::test]
async fn an_expiry_check_that_failed_to_schedule_is_scheduled_by_the_retry() {
    use gestor_shared::testing::doubles::RefusingQueue;
    let w = world().await;
    let queue = Arc::new(RefusingQueue::new(w.backend.queue.clone(), "deferred", 1));
    let settings = Settings::local_with(|_| None);
    let inbound = Inbound::new(&Backend { queue, ..w.backend.clone() }, &settings)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_clock(w.inbound.clock.clone());
    let status = whatsapp_status("wamid.ELSEWHERE", "read", 1_795_860_020, CUSTOMER);
    let event = sqs_event(vec![record(0, &status)]);
    assert_eq!(
        inbound.handle(event.clone()).await.batch_item_failures.len(),
        1,
        "the check was not scheduled"
    );
    assert!(inbound.handle(event).await.batch_item_failures.is_empty());
    for _ in 0..5 {
        w.advance(time::Duration::minutes(15));
        w.run_deferred().await;
    }
    assert_eq!(w.metrics.points("InboundParkedDropped").len(), 1, "dropped, not left for the backstop");
}

#[tokio::test]
async fn erasing_a_contact_erases_what_was_parked_before_it_existed() {
    let w = world().await;
    // A status about a message sent from another tool, to a customer not known yet.
    assert!(
        w.deliver(&[whatsapp_status("wamid.ELSEWHERE2", "delivered", 1_795_860_000, CUSTOMER)])
            .await
            .is_empty()
    );
    assert!(w.deliver(&[text_message("wamid.HELLO", 1_795_860_010, "hola")]).await.is_empty());
    let contacts = ContactRepo::new(w.backend.table.clone());
    let (all, _) = contacts
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .unwrap_or_default();
    contacts.delete(&w.tenant, &all[0]).await.unwrap_or_else(|e| panic!("{e}"));
    let parked = gestor_shared::repo::parked::ParkedRepo::new(w.backend.table.clone())
        .get(&w.tenant, Channel::Whatsapp, "wamid.ELSEWHERE2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(parked.is_none(), "erased with the contact");
}

#[tokio::test]
async fn a_message_naming_itself_as_what_it_replies_to_is_stored() {
    let w = world().await;
    let odd = whatsapp_message(
        "wamid.SELF",
        CUSTOMER,
        1_795_860_000,
        json!({"type": "text", "text": {"body": "?"}, "context": {"id": "wamid.SELF"}}),
    );
    assert!(w.deliver(&[odd]).await.is_empty());
    assert_eq!(w.messages().await.len(), 1);
}
