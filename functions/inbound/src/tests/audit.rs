//! What the worker changes is in the business's audit log, in the change's own transaction:
//! one entry per change that took, naming the fields and the channel account (or the worker)
//! that made it, never a value; a repeat that changes nothing writes nothing.

use super::*;
use gestor_shared::repo::audit::{Actor, AuditEntry, AuditRepo};
use gestor_shared::testing::doubles::FailingTable;
use std::sync::atomic::Ordering;

impl World {
    async fn log(&self) -> Vec<AuditEntry> {
        let audit = AuditRepo::new(self.backend.table.clone());
        let (entries, _) = audit.list(&self.tenant, &Default::default(), 100, None).await.unwrap_or_default();
        entries
    }

    async fn account(&self) -> String {
        let channels = ChannelRepo::new(self.backend.table.clone());
        let (accounts, _) = channels.list(&self.tenant, 10, None).await.unwrap_or_else(|e| panic!("{e}"));
        accounts[0].id.to_string()
    }
}

fn updates_of<'a>(log: &'a [AuditEntry], message_id: &str) -> Vec<&'a AuditEntry> {
    log.iter()
        .filter(|e| e.action == "message.update" && e.resource.id.as_deref() == Some(message_id))
        .collect()
}

#[tokio::test]
async fn statuses_and_reactions_are_logged_once_by_the_channel_account_with_field_names_only() {
    let w = world().await;
    let account = w.account().await;
    let hello = whatsapp_message(
        "wamid.A1",
        "5215512345678",
        1_795_859_990,
        json!({"type": "text", "text": {"body": "Quiero la blusa roja"}}),
    );
    assert!(w.deliver(&[hello, echo("wamid.AOUT")]).await.is_empty());
    let delivered = whatsapp_status("wamid.AOUT", "delivered", 1_795_860_010, "5215512345678");
    let read = whatsapp_status("wamid.AOUT", "read", 1_795_860_020, "5215512345678");
    assert!(w.deliver(&[delivered.clone(), read]).await.is_empty());
    // A late or repeated status changes nothing, and logs nothing.
    assert!(w.deliver(&[delivered]).await.is_empty());
    let reaction = whatsapp_message(
        "wamid.A2",
        "5215512345678",
        1_795_860_030,
        json!({"type": "reaction", "reaction": {"message_id": "wamid.AOUT", "emoji": "❤️"}}),
    );
    assert!(w.deliver(&[reaction]).await.is_empty());

    let messages = w.messages().await;
    let out = messages.iter().find(|m| m.channel_message_id.as_deref() == Some("wamid.AOUT"));
    let out = out.map(|m| m.id.to_string()).unwrap_or_default();
    let log = w.log().await;
    let created: Vec<_> = log.iter().filter(|e| e.action == "message.create").collect();
    assert_eq!(created.len(), 2, "the customer's message and the business's echo: {log:?}");
    let changes = updates_of(&log, &out);
    let fields: Vec<Vec<String>> = changes.iter().rev().map(|e| e.changed_fields.clone()).collect();
    assert_eq!(
        fields,
        vec![
            vec!["status".to_owned(), "status_at".to_owned()],
            vec!["status".into(), "status_at".into()],
            vec!["reactions".into()]
        ],
        "delivered, read, the reaction; the repeat wrote nothing"
    );
    assert!(log.iter().all(|e| e.actor == Actor::channel(&account)), "{log:?}");
    let text = serde_json::to_string(&log).unwrap_or_default();
    for value in ["blusa", "¡Sí!", "❤️", "María", "5215512345678"] {
        assert!(!text.contains(value), "the log holds no values: {value}");
    }
}

#[tokio::test]
async fn a_status_parked_before_its_message_is_logged_when_it_applies() {
    let w = world().await;
    let account = w.account().await;
    let early = whatsapp_status("wamid.P1", "delivered", 1_795_860_010, "5215512345678");
    assert!(w.deliver(&[early]).await.is_empty());
    assert!(w.log().await.is_empty(), "a parked status changed nothing yet");
    assert!(w.deliver(&[echo("wamid.P1")]).await.is_empty());
    let id = w.messages().await.first().map(|m| m.id.to_string()).unwrap_or_default();
    let log = w.log().await;
    let changes = updates_of(&log, &id);
    assert_eq!(changes.len(), 1, "{log:?}");
    assert_eq!(changes[0].actor, Actor::channel(&account));
}

#[tokio::test]
async fn a_change_whose_transaction_fails_leaves_neither_the_change_nor_its_entry() {
    let w = world().await;
    assert!(w.deliver(&[echo("wamid.F1")]).await.is_empty());
    let failing = Arc::new(FailingTable::new(w.backend.table.clone()));
    let backend = Backend { table: failing.clone(), ..w.backend.clone() };
    let inbound = Inbound::new(&backend, &Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let delivered = whatsapp_status("wamid.F1", "delivered", 1_795_860_010, "5215512345678");
    failing.fail_transactions.store(1, Ordering::SeqCst);
    let event = sqs_event(vec![record(0, &delivered)]);
    assert_eq!(inbound.handle(event.clone()).await.batch_item_failures.len(), 1, "retried later");
    let id = w.messages().await[0].id.to_string();
    assert_eq!(w.messages().await[0].status, MessageStatus::Sent, "not moved");
    assert!(updates_of(&w.log().await, &id).is_empty(), "and not logged");
    // The redelivery moves it, with one entry.
    assert!(inbound.handle(event).await.batch_item_failures.is_empty());
    assert_eq!(w.messages().await[0].status, MessageStatus::Delivered);
    let log = w.log().await;
    assert_eq!(updates_of(&log, &id).len(), 1, "{log:?}");
}

#[tokio::test]
async fn an_edit_delivered_twice_is_logged_once() {
    let w = world().await;
    let hello = whatsapp_message(
        "wamid.E1",
        "5215512345678",
        1_795_859_990,
        json!({"type": "text", "text": {"body": "mañana a las 4"}}),
    );
    assert!(w.deliver(&[hello]).await.is_empty());
    let edit = whatsapp_message(
        "wamid.E2",
        "5215512345678",
        1_795_860_000,
        json!({"type": "edit", "edit": {"original_message_id": "wamid.E1",
            "message": {"type": "text", "text": {"body": "mañana a las 5"}}}}),
    );
    assert!(w.deliver(std::slice::from_ref(&edit)).await.is_empty());
    assert!(w.deliver(&[edit]).await.is_empty(), "the channel delivered it again");
    let message = w.messages().await.into_iter().next();
    assert_eq!(message.as_ref().and_then(|m| m.text.as_deref()), Some("mañana a las 5"));
    let id = message.map(|m| m.id.to_string()).unwrap_or_default();
    let log = w.log().await;
    let edits = updates_of(&log, &id);
    assert_eq!(edits.len(), 1, "{log:?}");
    assert_eq!(edits[0].changed_fields, vec!["edited_at".to_owned(), "text".to_owned()]);
}

#[tokio::test]
async fn a_customer_writing_to_a_resolved_conversation_reopens_it_in_the_log() {
    let w = world().await;
    let account = w.account().await;
    let text = |id: &str, ts: i64| {
        whatsapp_message(id, "5215512345678", ts, json!({"type": "text", "text": {"body": "hola"}}))
    };
    assert!(w.deliver(&[text("wamid.O1", 1_795_859_990)]).await.is_empty());
    let conversation = w.conversations().await.remove(0);
    let resolve = gestor_shared::repo::conversations::ConversationChange {
        status: Some(gestor_shared::repo::conversations::ConversationStatus::Resolved),
        ..Default::default()
    };
    let repo = ConversationRepo::new(w.backend.table.clone());
    repo.change(&w.tenant, &conversation.id, &resolve, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(w.deliver(&[text("wamid.O2", 1_795_860_000)]).await.is_empty());
    let log = w.log().await;
    let reopened: Vec<_> = log
        .iter()
        .filter(|e| e.action == "conversation.update" && e.resource.id == Some(conversation.id.to_string()))
        .collect();
    assert_eq!(reopened.len(), 1, "{log:?}");
    assert_eq!(reopened[0].changed_fields, vec!["status".to_owned()]);
    assert_eq!(reopened[0].actor, Actor::channel(&account));
    // The next message of the open conversation changes only its activity: no entry.
    assert!(w.deliver(&[text("wamid.O3", 1_795_860_010)]).await.is_empty());
    let again = w.log().await;
    assert_eq!(again.iter().filter(|e| e.action == "conversation.update").count(), 1);
}
