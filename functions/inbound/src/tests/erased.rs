//! After a contact's erasure: a late redelivery of one of their messages, or a status for
//! it, is dropped (their ids are known only by their digests), while a new message from the
//! same person is new data, a new contact.

use gestor_shared::inbound::Channel;
use gestor_shared::repo::contacts::{ContactFilter, ContactRepo};
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::erasure::Erasure;
use gestor_shared::repo::parked::ParkedRepo;
use gestor_shared::repo::scope::RowScope;
use gestor_shared::settings::Settings;
use serde_json::json;

use super::{whatsapp_message, whatsapp_status, world};

const CUSTOMER: &str = "5215511110000";

#[tokio::test]
async fn an_erased_message_delivered_again_or_its_status_is_dropped() {
    let w = world().await;
    let hello = whatsapp_message(
        "wamid.ERASED1",
        CUSTOMER,
        1_795_860_000,
        json!({"type": "text", "text": {"body": "hola"}}),
    );
    assert!(w.deliver(std::slice::from_ref(&hello)).await.is_empty());
    let contacts = ContactRepo::new(w.backend.table.clone());
    let (before, _) = contacts
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let [contact] = before.as_slice() else { panic!("one contact: {before:?}") };

    // The erasure, as the privacy worker runs it: every item of the contact.
    let ids = ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let erasure = Erasure::new(w.backend.table.clone(), w.backend.files.clone(), ids);
    let identities = vec![format!("whatsapp:{CUSTOMER}")];
    let found = erasure
        .survey(&w.tenant, contact.id.as_str(), &identities, &[], &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    erasure
        .erase(&w.tenant, &found, "prq_1", time::OffsetDateTime::now_utc())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(w.messages().await.is_empty());

    // Delivered again days later, and a status for it: nothing stored, nothing parked.
    assert!(
        w.deliver(&[hello, whatsapp_status("wamid.ERASED1", "read", 1_795_860_100, CUSTOMER)])
            .await
            .is_empty()
    );
    assert!(w.messages().await.is_empty());
    let parked =
        ParkedRepo::new(w.backend.table.clone()).get(&w.tenant, Channel::Whatsapp, "wamid.ERASED1").await;
    assert!(matches!(parked, Ok(None)), "{parked:?}");
    let (after, _) = contacts
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(after.is_empty(), "{after:?}");

    // The same person writing again: a new contact with the new message only.
    let again = whatsapp_message(
        "wamid.NEW2",
        CUSTOMER,
        1_795_870_000,
        json!({"type": "text", "text": {"body": "otra vez"}}),
    );
    assert!(w.deliver(&[again]).await.is_empty());
    let messages = w.messages().await;
    assert_eq!(
        messages.iter().map(|m| m.channel_message_id.as_deref()).collect::<Vec<_>>(),
        vec![Some("wamid.NEW2")]
    );
    assert_ne!(messages[0].contact_id, contact.id);
}

/// A worker that read the customer's identity claim just before the cancellation hid the
/// contact: its message must not open a new, visible conversation for the hidden contact.
#[tokio::test]
async fn a_message_read_against_a_hidden_contact_opens_no_conversation() {
    use gestor_shared::ports::{Index, Query, SortKey};
    use gestor_shared::repo::erasure::{hide_op, hide_rest};
    let w = world().await;
    let hello = whatsapp_message(
        "wamid.HID1",
        CUSTOMER,
        1_795_860_000,
        json!({"type": "text", "text": {"body": "hola"}}),
    );
    assert!(w.deliver(&[hello]).await.is_empty());
    let contacts = ContactRepo::new(w.backend.table.clone());
    let (listed, _) = contacts
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let [contact] = listed.as_slice() else { panic!("one contact: {listed:?}") };
    let claims = w
        .backend
        .table
        .query(
            Query::index(Index::Subject, format!("{}#{}", w.tenant, contact.id))
                .sort(SortKey::BeginsWith("CONTACT_INDEX#".into())),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.backend
        .table
        .transact(vec![hide_op(&w.tenant, contact, "prq_1")])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    hide_rest(w.backend.table.as_ref(), &w.tenant, contact.id.as_str(), "prq_1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // What that worker read: the claims as they were.
    for claim in claims.items {
        w.backend.table.put(claim, None).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let late = whatsapp_message(
        "wamid.HID2",
        CUSTOMER,
        1_795_860_100,
        json!({"type": "text", "text": {"body": "¿sigue?"}}),
    );
    let failed = w.deliver(&[late]).await;
    assert_eq!(failed.len(), 1, "it waits (retried) rather than landing");
    assert!(w.conversations().await.is_empty(), "nothing shows in the inbox");
}
