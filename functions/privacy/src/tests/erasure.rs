//! A contact's cancellation: hidden the moment it is filed, then erased by the worker (or the
//! sweep, when the job never came or the worker died half-way), with counts as the proof and
//! the channel ids kept only as keyed digests.

use gestor_shared::domain::{Channel, Direction, Phone};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::ports::{Index, Query, Queue, Table};
use gestor_shared::repo::audit::Actor;
use gestor_shared::repo::contacts::{Contact, ContactRepo, Identity};
use gestor_shared::repo::conversations::{Conversation, ConversationRepo};
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::messages::{Media, MessageRepo, media_file_key};
use gestor_shared::repo::parked::{ParkedRepo, ParkedUpdate};
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::testing::doubles::FailingTable;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use time::OffsetDateTime;

use super::{World, acme, world};
use crate::erasing::{Erased, Eraser};

/// A customer who wrote on WhatsApp: contact, conversation, two messages (the first with a
/// downloaded file), and a status parked for a message still to come.
pub(super) struct Customer {
    pub(super) contact: Contact,
    pub(super) conversation: Conversation,
    pub(super) file: String,
}

pub(super) async fn customer(w: &World, wa_id: &str, name: &str) -> Customer {
    let table = w.app.core.table.clone();
    let phone = Phone::parse(&format!("+{wa_id}")).unwrap_or_else(|e| panic!("{e}"));
    let identity = Identity { channel: "whatsapp".into(), external_id: wa_id.into() };
    let (contact, _) = ContactRepo::new(table.clone())
        .upsert_from_channel(&acme(), &Actor::channel("ca_1"), &identity, Some(&phone), Some(name))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let at = OffsetDateTime::now_utc();
    let (conversation, _) = ConversationRepo::new(table.clone())
        .open_for(&acme(), &contact.id, Channel::Whatsapp, &ChannelAccountId::new(), at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let messages = MessageRepo::new(table.clone());
    let mut first = gestor_shared::testing::text_message(
        &conversation.id,
        &contact.id,
        Direction::In,
        &format!("wamid.{wa_id}A"),
        at,
    );
    first.text = Some(format!("soy {name}, mi correo es {wa_id}@correo.mx"));
    first.media = Some(Media {
        channel_media_id: Some("1234".into()),
        mime_type: Some("image/jpeg".into()),
        filename: None,
        caption: None,
        size: Some(3),
        sha256: None,
        file_key: None,
    });
    let second = gestor_shared::testing::text_message(
        &conversation.id,
        &contact.id,
        Direction::In,
        &format!("wamid.{wa_id}B"),
        at + time::Duration::seconds(1),
    );
    for message in [&first, &second] {
        messages.insert_once(&acme(), message).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let file = media_file_key(&acme(), &first.id);
    w.backend.files.put(&file, b"jpg".to_vec(), "image/jpeg").await.unwrap_or_else(|e| panic!("{e}"));
    let status = ParkedUpdate {
        update: json!({"status": "delivered", "recipient": wa_id}),
        received_at: at,
        account: None,
    };
    ParkedRepo::new(table)
        .park(&acme(), Channel::Whatsapp, &format!("wamid.{wa_id}C"), contact.id.as_str(), status, at)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Customer { contact, conversation, file }
}

/// Every item the subject index holds for the subject.
async fn items_of(table: &dyn Table, subject: &str) -> Vec<Value> {
    let query = Query::index(Index::Subject, format!("acme#{subject}")).limit(500);
    let page = table.query(query).await.unwrap_or_else(|e| panic!("{e}"));
    page.items.into_iter().map(Value::Object).collect()
}

fn erased_ids() -> ErasedIds {
    ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_cancellation_hides_the_contact_at_once_and_erases_all_of_theirs() {
    let w = world().await;
    let table = w.app.core.table.clone();
    let ana = customer(&w, "5215512340001", "Ana Canaria").await;
    let bea = customer(&w, "5215512340002", "Bea Otra").await;
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()}});
    let (status, filed) = w.file(&w.admin, body.clone()).await;
    assert_eq!((status, &filed["status"]), (202, &json!("received")), "{filed}");
    let deadline = |r: &Value, name: &str| {
        OffsetDateTime::parse(
            r[name].as_str().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    };
    assert_eq!(
        deadline(&filed, "deadline_at").zip(deadline(&filed, "received_at")).map(|(d, r)| d - r),
        Some(time::Duration::hours(72))
    );

    // Before the worker ran: no read finds Ana, by id or phone, nor her conversation.
    let contacts = ContactRepo::new(table.clone());
    assert_eq!(w.stored(&ana.contact).await, None);
    let phone = Phone::parse("+5215512340001").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(contacts.id_by_phone(&acme(), &phone).await.unwrap_or_default(), None);
    let conversations = ConversationRepo::new(table.clone());
    assert_eq!(conversations.get(&acme(), &ana.conversation.id).await.unwrap_or_default(), None);
    assert!(w.stored(&bea.contact).await.is_some(), "another customer stays");
    // Filed again while under way: the same request, not a 404.
    let (status, again) = w.file(&w.owner, body).await;
    assert_eq!((status, &again["id"]), (202, &filed["id"]), "{again}");

    assert!(w.work().await >= 1);
    let id = filed["id"].as_str().unwrap_or_default();
    let (_, done) = w.read(&w.admin, id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let counts = &done["result"]["counts"];
    assert_eq!(
        (&counts["contacts"], &counts["conversations"], &counts["messages"]),
        (&json!(1), &json!(1), &json!(2)),
        "{done}"
    );
    assert_eq!(
        (&counts["files"], &counts["parked_updates"], &counts["erased_message_ids"]),
        (&json!(1), &json!(1), &json!(3)),
        "{done}"
    );
    // Her phone's and WhatsApp id's claims, deleted when she was hidden.
    assert_eq!(counts["contact_claims"], json!(2), "{done}");
    assert_eq!(
        w.audited("privacy_request.complete").await,
        vec![json!({"type": "privacy_request", "id": filed["id"]})],
        "{done}"
    );
    // The proof keeps no identifier of hers: a digest only.
    let shown = done.to_string();
    assert!(!shown.contains(ana.contact.id.as_str()) && !shown.contains("5215512340001"), "{shown}");
    assert_eq!(done["subject"]["contact_id_hash"].as_str().map(str::len), Some(64), "{done}");

    assert_eq!(items_of(table.as_ref(), ana.contact.id.as_str()).await, Vec::<Value>::new());
    assert!(matches!(w.backend.files.get(&ana.file).await, Err(gestor_shared::ports::FileError::NotFound)));
    assert!(w.backend.files.get(&bea.file).await.is_ok(), "another customer's file stays");
    assert!(!items_of(table.as_ref(), bea.contact.id.as_str()).await.is_empty());
    let ids = erased_ids();
    for suffix in ["A", "B", "C"] {
        let erased =
            ids.is_erased(table.as_ref(), &acme(), "whatsapp", &format!("wamid.5215512340001{suffix}")).await;
        assert_eq!(erased.ok(), Some(true), "wamid {suffix} is kept as a digest");
    }
    assert_eq!(
        ids.is_erased(table.as_ref(), &acme(), "whatsapp", "wamid.5215512340002A").await.ok(),
        Some(false)
    );

    // The same person writing again is new data: a new contact.
    let identity = Identity { channel: "whatsapp".into(), external_id: "5215512340001".into() };
    let (new, created) = contacts
        .upsert_from_channel(&acme(), &Actor::channel("ca_1"), &identity, Some(&phone), Some("Ana"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created && new.id != ana.contact.id);
    // The job delivered again changes nothing, the new contact's claims included; the proof
    // stays the first run's.
    w.worker
        .carry_out(&crate::worker::Job { tenant_id: "acme".into(), request_id: id.into() })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, after) = w.read(&w.admin, id).await;
    assert_eq!(after, done);
    assert_eq!(contacts.id_by_phone(&acme(), &phone).await.ok().flatten(), Some(new.id));
}

#[tokio::test]
async fn a_crash_half_way_is_finished_by_the_sweep_with_the_first_counts() {
    let w = world().await;
    let ana = customer(&w, "5215512340003", "Ana Caída").await;
    let body = json!({"kind": "cancellation", "subject": {"phone": "+5215512340003"}});
    let (status, filed) = w.file(&w.owner, body).await;
    assert_eq!(status, 202, "{filed}");
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    // The worker's job is lost, and a run dies after the proof was recorded, mid-delete.
    for m in w.queue.receive("privacy", 10, std::time::Duration::from_secs(60)).await.unwrap_or_default() {
        let _ = w.queue.ack("privacy", &m.receipt).await;
    }
    let failing = Arc::new(FailingTable::new(w.app.core.table.clone()));
    // The erasure's batch delete of her items fails.
    failing.fail_batch_deletes.store(1, Ordering::SeqCst);
    let eraser = Eraser::new(failing.clone(), w.backend.files.clone(), erased_ids());
    let repo = gestor_shared::repo::privacy::PrivacyRepo::new(w.app.core.table.clone());
    let request = repo.get(&acme(), &id).await.ok().flatten().unwrap_or_else(|| panic!("filed"));
    let now = OffsetDateTime::now_utc();
    assert!(eraser.erase_contact(&acme(), &request, now).await.is_err());
    let (_, midway) = w.read(&w.owner, &id).await;
    assert_eq!(midway["status"], "in_progress", "{midway}");
    let planned = midway["result"]["counts"].clone();
    assert_eq!(planned["messages"], 2, "{midway}");
    assert_eq!(w.stored(&ana.contact).await, None, "still hidden");

    // An hour on, TTL never having fired: the sweep finishes it.
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::PrivacyQueueUrl, "privacy");
    let sweep = crate::sweep::Sweep::new(&w.backend, &settings, gestor_shared::metrics::Metrics::stdout())
        .unwrap_or_else(|e| panic!("{e}"));
    let swept = sweep.sweep(now + time::Duration::hours(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.erased, swept.residue), (1, 0), "{swept:?}");
    let (_, done) = w.read(&w.owner, &id).await;
    assert_eq!((&done["status"], &done["result"]["counts"]), (&json!("completed"), &planned), "{done}");
    assert_eq!(items_of(w.app.core.table.as_ref(), ana.contact.id.as_str()).await, Vec::<Value>::new());

    // A later run checks again: an item written meanwhile under her id is erased too.
    let again = Eraser::new(w.app.core.table.clone(), w.backend.files.clone(), erased_ids());
    let check =
        gestor_shared::repo::erasure::checks(w.app.core.table.as_ref(), &acme()).await.unwrap_or_default();
    assert_eq!(check.len(), 1);
    let mut stray = serde_json::Map::new();
    stray.insert("pk".into(), "acme#STRAY".into());
    stray.insert("sk".into(), "1".into());
    stray.insert("subject".into(), format!("acme#{}", ana.contact.id).into());
    stray.insert("subject_sk".into(), "STRAY#1".into());
    w.app.core.table.put(stray, None).await.unwrap_or_else(|e| panic!("{e}"));
    let swept = sweep.sweep(now + time::Duration::hours(2)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.verified, swept.residue), (1, 1), "{swept:?}");
    assert_eq!(again.verify(&acme(), &check[0], now).await.ok(), Some(0));
    // Past the deadline, the last check; then none is left.
    sweep.sweep(now + time::Duration::hours(73)).await.unwrap_or_else(|e| panic!("{e}"));
    let left =
        gestor_shared::repo::erasure::checks(w.app.core.table.as_ref(), &acme()).await.unwrap_or_default();
    assert!(left.is_empty());
    assert_eq!(
        Eraser::new(w.app.core.table.clone(), w.backend.files.clone(), erased_ids())
            .erase_contact(&acme(), &request, now)
            .await
            .ok(),
        Some(Erased::Completed)
    );
}
