//! A restore from a backup taken before erasures: re-applied from the live table's proofs
//! before the restored table is put in its place.

use gestor_shared::adapters::embedded;
use gestor_shared::adapters::embedded_table::EmbeddedTable;
use gestor_shared::ports::{Index, Query, Table, TxOp};
use gestor_shared::repo::contacts::ContactRepo;
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::members::MemberRepo;
use gestor_shared::repo::privacy::PrivacyRepo;
use gestor_shared::settings::Settings;
use serde_json::json;
use std::sync::Arc;

use super::erasure::customer;
use super::{acme, world};

/// A copy of the table as it is now: the backup's moment.
pub(super) async fn backup(table: &dyn Table, dir: &std::path::Path) -> Arc<dyn Table> {
    let db = embedded::open(&dir.join("restored.redb")).unwrap_or_else(|e| panic!("{e}"));
    let copy: Arc<dyn Table> = Arc::new(EmbeddedTable::new(db).unwrap_or_else(|e| panic!("{e}")));
    let mut start = None;
    loop {
        let page = table.scan(100, start.take()).await.unwrap_or_else(|e| panic!("{e}"));
        for chunk in page.items.chunks(25) {
            let ops = chunk.iter().map(|i| TxOp::Put { item: i.clone(), condition: None }).collect();
            copy.transact(ops).await.unwrap_or_else(|e| panic!("{e}"));
        }
        match page.last_key {
            Some(last) => start = Some(last),
            None => return copy,
        }
    }
}

#[tokio::test]
async fn a_restored_table_loses_again_what_was_erased_after_its_backup() {
    let w = world().await;
    let table = w.app.core.table.clone();
    let ana = customer(&w, "5215512340041", "Ana Respaldada").await;
    let bea = customer(&w, "5215512340042", "Bea Queda").await;
    let members = MemberRepo::new(table.clone());
    let agent = members.get_by_sub(&acme(), &w.agent).await.ok().flatten().unwrap_or_else(|| panic!("agent"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let restored = backup(table.as_ref(), dir.path()).await;

    // After the backup: Ana's cancellation and the agent's.
    let body = json!({"kind": "cancellation", "subject": {"contact_id": ana.contact.id.as_str()}});
    let (status, filed) = w.file(&w.admin, body).await;
    assert_eq!(status, 202, "{filed}");
    let body = json!({"kind": "cancellation", "subject": {"member": "me"}});
    assert_eq!(w.file(&w.agent, body).await.0, 202);
    assert!(w.work().await >= 2);

    let ids = ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    let done =
        crate::restore::reapply(table.clone(), restored.clone(), w.backend.files.clone(), ids.clone(), now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((done.erasures, done.erased_again), (2, 2), "{done:?}");
    assert!(done.marks >= 3, "{done:?}");

    let contacts = ContactRepo::new(restored.clone());
    assert_eq!(contacts.get(&acme(), &ana.contact.id).await.ok().flatten(), None);
    assert!(
        contacts.get(&acme(), &bea.contact.id).await.ok().flatten().is_some(),
        "the rest is as backed up"
    );
    let query = Query::index(Index::Subject, format!("acme#{}", ana.contact.id)).limit(100);
    assert_eq!(restored.query(query).await.map(|p| p.items.len()).ok(), Some(0));
    assert_eq!(MemberRepo::new(restored.clone()).get_by_id(&acme(), &agent.id).await.ok().flatten(), None);
    let erased = ids.is_erased(restored.as_ref(), &acme(), "whatsapp", "wamid.5215512340041A").await;
    assert_eq!(erased.ok(), Some(true), "a late redelivery is dropped on the restored table too");
    let id = filed["id"].as_str().unwrap_or_default();
    let proof = PrivacyRepo::new(restored.clone()).get(&acme(), id).await.ok().flatten();
    assert!(proof.is_some_and(|r| r.subject.contact_id.is_none() && r.subject.contact_id_hash.is_some()));
    // Done twice, the same.
    let again = crate::restore::reapply(table.clone(), restored.clone(), w.backend.files.clone(), ids, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.erased_again, 0, "{again:?}");
}
