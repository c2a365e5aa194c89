//! An account's cancellation: the business hidden at once, its integrations turned off, every
//! item and object of it erased (another business's left alone), a global proof without
//! personal data, checked again by the sweep, and re-applied after a restore.

use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::http::{Role, serve};
use gestor_shared::inbound::Channel;
use gestor_shared::ports::{Item, Queue, Table};
use gestor_shared::repo::account_erasure;
use gestor_shared::repo::channels::{ChannelRepo, Connection};
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::privacy::PrivacyRepo;
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::testing::doubles::FailingFiles;
use gestor_shared::testing::{ApiRequest, answer, member};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::erasure::customer;
use super::{World, acme, world};

const WABA: &str = "102290129340877";
const NUMBER: &str = "106540352242877";

async fn scanned(table: &dyn Table) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = table.scan(500, start.take()).await.unwrap_or_else(|e| panic!("{e}"));
        items.extend(page.items);
        match page.last_key {
            Some(last) => start = Some(last),
            None => return items,
        }
    }
}

/// The business as it stands before it leaves: a connected number, a customer with messages,
/// media and a parked status, a quarantined delivery naming the number, and a neighbour
/// business that must keep all of its own.
async fn business(w: &World) -> String {
    let cipher =
        TokenCipher::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let channels = ChannelRepo::new(w.app.core.table.clone());
    let connected = channels
        .connect(
            &acme(),
            Channel::Whatsapp,
            NUMBER,
            "Óptica Cierre",
            &Secret::new("wa-token"),
            &cipher,
            Some(WABA),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (Connection::Connected(account) | Connection::Refreshed(account)) = connected;
    channels.set_business_account(&acme(), &account.id, WABA).await.unwrap_or_else(|e| panic!("{e}"));
    customer(w, "5215512340077", "Carla Cierre").await;
    let files = &w.backend.files;
    let quarantined = format!(
        "{{\"entry\":[{{\"changes\":[{{\"value\":{{\"metadata\":{{\"phone_number_id\":\"{NUMBER}\"}}}}}}]}}]}}"
    );
    files
        .put("quarantine/2026/12/03/q1.json", quarantined.into_bytes(), "application/json")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    files
        .put("quarantine/2026/12/03/q2.json", b"{\"another\":1}".to_vec(), "application/json")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    files.put("beta/media/msg_1", b"beta".to_vec(), "image/jpeg").await.unwrap_or_else(|e| panic!("{e}"));
    member(&w.app.core, "beta", "owner@beta.mx", Role::Owner).await
}

/// 620 items of the business (more than a page of the scan).
async fn filled(table: &dyn Table, tenant: &str) {
    for chunk in (0..620).collect::<Vec<_>>().chunks(25) {
        let ops = chunk
            .iter()
            .map(|n| {
                let item = Item::from_iter([
                    ("pk".to_owned(), json!(format!("{tenant}#FILLER#{n}"))),
                    ("sk".to_owned(), json!("FILLER")),
                ]);
                gestor_shared::ports::TxOp::Put { item, condition: None }
            })
            .collect();
        table.transact(ops).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

fn acme_items(items: &[Item]) -> Vec<&Item> {
    items.iter().filter(|i| account_erasure::belongs_to(i, &acme())).collect()
}

fn sweep(w: &World) -> crate::sweep::Sweep {
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::PrivacyQueueUrl, "privacy");
    settings.set(Setting::MetaGraphUrl, w.graph.uri());
    crate::sweep::Sweep::new(&w.backend, &settings, gestor_shared::metrics::Metrics::stdout())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_account_cancellation_erases_the_whole_business_and_nothing_of_another() {
    let w = world().await;
    let table = w.app.core.table.clone();
    let beta_owner = business(&w).await;
    Mock::given(method("DELETE"))
        .and(path(format!("/{WABA}/subscribed_apps")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&w.graph)
        .await;
    let before = acme_items(&scanned(table.as_ref()).await).len();

    let body = json!({"kind": "cancellation", "subject": {"account": true}});
    assert_eq!(w.file(&w.admin, body.clone()).await.0, 403, "an owner's alone");
    let detailed =
        json!({"kind": "cancellation", "subject": {"account": true}, "details": {"fields": ["name"]}});
    assert_eq!(w.file(&w.owner, detailed).await.0, 400);
    let (status, filed) = w.file(&w.owner, body).await;
    assert_eq!(status, 202, "{filed}");
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    // Hidden from the answer on: nobody is let in any more.
    for sub in [&w.owner, &w.agent] {
        let (status, _) =
            answer(serve(&w.app, ApiRequest::new("GET /v1/privacy/requests").as_user(sub).build()).await);
        assert!(status == 401 || status == 403, "{status}");
    }

    assert_eq!(w.work().await, 1);
    let items = scanned(table.as_ref()).await;
    let left: Vec<&Item> = acme_items(&items);
    assert!(left.is_empty(), "still held: {left:#?}");
    assert!(w.backend.files.list("acme/").await.unwrap_or_default().is_empty());
    let quarantine = w.backend.files.list("quarantine/").await.unwrap_or_default();
    assert_eq!(quarantine, vec!["quarantine/2026/12/03/q2.json".to_owned()], "only what names the business");
    // The neighbour keeps all of its own.
    assert_eq!(w.backend.files.list("beta/").await.unwrap_or_default().len(), 1);
    let (status, _) =
        answer(serve(&w.app, ApiRequest::new("GET /v1/privacy/requests").as_user(&beta_owner).build()).await);
    assert_eq!(status, 200);

    let proof = table.get(&account_erasure::proof_key(&id)).await.ok().flatten().unwrap_or_default();
    let counts = &proof["counts"];
    let counted: u64 = counts
        .as_object()
        .map(|c| c.iter().filter(|(k, _)| *k != "files").filter_map(|(_, n)| n.as_u64()).sum())
        .unwrap_or(0);
    assert!(counted + 4 >= before as u64 && counted > 10, "{counts} of {before}");
    assert!(counts["files"].as_u64().is_some_and(|n| n >= 2), "{counts}");
    assert_eq!(proof["account_hash"].as_str().map(str::len), Some(64));
    assert!(!Value::Object(proof.clone()).to_string().contains("acme"), "{proof:?}");

    // A redelivered job finds the work done.
    let job = crate::worker::Job { tenant_id: "acme".into(), request_id: id.clone() };
    w.worker.carry_out(&job).await.unwrap_or_else(|e| panic!("{e}"));

    // Work in flight wrote after the erasure: the sweep's check erases it; past the
    // deadline the check goes, and then nothing in the table names the business.
    let sweep = sweep(&w);
    let now = time::OffsetDateTime::now_utc();
    let swept = sweep.sweep(now + time::Duration::hours(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.verified, swept.residue), (1, 0), "{swept:?}");
    let late = Item::from_iter([
        ("pk".to_owned(), json!("acme#CONTACT#ct_late")),
        ("sk".to_owned(), json!("CONTACT")),
    ]);
    table.put(late, None).await.unwrap_or_else(|e| panic!("{e}"));
    w.backend
        .files
        .put("acme/media/late", b"x".to_vec(), "image/jpeg")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let swept = sweep.sweep(now + time::Duration::hours(2)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept.residue, 2, "{swept:?}");
    sweep.sweep(now + time::Duration::hours(73)).await.unwrap_or_else(|e| panic!("{e}"));
    let named: Vec<String> = scanned(table.as_ref())
        .await
        .into_iter()
        .map(|i| Value::Object(i).to_string())
        .filter(|i| i.contains("acme") || i.contains("Carla") || i.contains(NUMBER))
        .collect();
    assert!(named.is_empty(), "still named: {named:#?}");
}

/// The account's cancellation filed, its job lost (taken off the queue, never worked), and
/// the Graph API answering every unsubscription: the request as filed.
async fn filed_with_its_job_lost(w: &World) -> gestor_shared::repo::privacy::PrivacyRequest {
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&w.graph)
        .await;
    let (status, filed) =
        w.file(&w.owner, json!({"kind": "cancellation", "subject": {"account": true}})).await;
    assert_eq!(status, 202, "{filed}");
    for m in w.queue.receive("privacy", 10, std::time::Duration::from_secs(60)).await.unwrap_or_default() {
        let _ = w.queue.ack("privacy", &m.receipt).await;
    }
    let id = filed["id"].as_str().unwrap_or_default();
    let request = PrivacyRepo::new(w.backend.table.clone()).get(&acme(), id).await.ok().flatten();
    request.unwrap_or_else(|| panic!("filed"))
}

#[tokio::test]
async fn a_stalled_account_erasure_that_failed_half_way_is_finished_by_the_sweep() {
    let w = world().await;
    business(&w).await;
    // Its job is lost, and the one run there was stopped at an S3 503 after recording the counts.
    let request = filed_with_its_job_lost(&w).await;
    let id = request.id.to_string();
    let failing = Arc::new(FailingFiles::new(w.backend.files.clone()));
    failing.fail_deletes.store(1, Ordering::SeqCst);
    let ids = ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let eraser = crate::erasing::Eraser::new(w.backend.table.clone(), failing, ids);
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::MetaGraphUrl, w.graph.uri());
    let integrations = crate::closing::Integrations::new(w.backend.table.clone(), &settings)
        .unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    assert!(eraser.erase_account(&acme(), &request, &integrations, now).await.is_err());
    let stopped = PrivacyRepo::new(w.backend.table.clone()).get(&acme(), &id).await.ok().flatten();
    assert_eq!(stopped.map(|r| r.status.is_open()), Some(true));

    let swept = sweep(&w).sweep(now + time::Duration::minutes(20)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept.erased, 1, "{swept:?}");
    let left = acme_items(&scanned(w.backend.table.as_ref()).await).len();
    assert_eq!(left, 0);
    assert!(w.backend.table.get(&account_erasure::proof_key(&id)).await.ok().flatten().is_some());
}

#[tokio::test]
async fn a_restored_table_loses_an_account_erased_after_its_backup() {
    let w = world().await;
    business(&w).await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&w.graph)
        .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let restored = super::restore::backup(w.backend.table.as_ref(), dir.path()).await;
    assert_eq!(w.file(&w.owner, json!({"kind": "cancellation", "subject": {"account": true}})).await.0, 202);
    assert_eq!(w.work().await, 1);

    let ids = ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    let done =
        crate::restore::reapply(w.backend.table.clone(), restored.clone(), w.backend.files.clone(), ids, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.erasures, 1, "{done:?}");
    assert_eq!(done.erased_again, 1, "{done:?}");
    let items = scanned(restored.as_ref()).await;
    assert!(acme_items(&items).is_empty());
    assert!(items.iter().any(|i| account_erasure::belongs_to(
        i,
        &gestor_shared::domain::TenantId::parse("beta").unwrap_or_else(|e| panic!("{e}"))
    )));
}

#[tokio::test]
async fn an_account_erasure_stopped_between_pages_resumes_and_counts_each_item_once() {
    use gestor_shared::ports::Key;
    use gestor_shared::testing::doubles::FailingTable;
    let w = world().await;
    business(&w).await;
    let table = w.backend.table.clone();
    // More than a page of the scan: tags of the business's contacts, say.
    filled(table.as_ref(), "acme").await;
    let request = filed_with_its_job_lost(&w).await;
    let id = request.id.to_string();
    let [own, claim] = PrivacyRepo::own_keys(&acme(), &request);
    let kept = [own, claim, gestor_shared::repo::tenants::key(&acme()), Key::new("TENANTS", "acme")];
    // The routes and the subscriber note go with the deactivation, before the scan.
    let expected = acme_items(&scanned(table.as_ref()).await)
        .into_iter()
        .filter_map(Key::of)
        .filter(|k| !kept.contains(k) && !k.pk.starts_with("ROUTE#") && !k.pk.starts_with("SUBSCRIBER#"))
        .count() as u64;

    // The first page deleted, the second's delete fails (the Lambda stopped there).
    let failing = FailingTable::new(table.clone());
    failing.batch_deletes_before_failing.store(1, Ordering::SeqCst);
    failing.fail_batch_deletes.store(1, Ordering::SeqCst);
    let failing: Arc<dyn Table> = Arc::new(failing);
    let ids = ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let eraser = crate::erasing::Eraser::new(failing.clone(), w.backend.files.clone(), ids);
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::MetaGraphUrl, w.graph.uri());
    let integrations =
        crate::closing::Integrations::new(failing, &settings).unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    assert!(eraser.erase_account(&acme(), &request, &integrations, now).await.is_err());
    let left = acme_items(&scanned(table.as_ref()).await).len() as u64;
    assert!(left > 4 && left < expected, "stopped half-way: {left} of {expected}");

    // A redelivery resumes from the page it stopped at.
    let job = crate::worker::Job { tenant_id: "acme".into(), request_id: id.clone() };
    w.worker.carry_out(&job).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(acme_items(&scanned(table.as_ref()).await).is_empty());
    let proof = table.get(&account_erasure::proof_key(&id)).await.ok().flatten().unwrap_or_default();
    let counted: u64 = proof["counts"]
        .as_object()
        .map(|c| c.iter().filter(|(k, _)| *k != "files").filter_map(|(_, n)| n.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(counted, expected, "{:?}", proof["counts"]);
    assert_eq!(proof["counts"]["filler"], 620);
}

#[tokio::test]
async fn the_checks_pass_over_a_large_table_in_several_runs_and_end_after_a_whole_pass() {
    let w = world().await;
    business(&w).await;
    let table = w.backend.table.clone();
    // Another business's items: more than a page of the scan.
    filled(table.as_ref(), "beta").await;
    let request = filed_with_its_job_lost(&w).await;
    let job = crate::worker::Job { tenant_id: "acme".into(), request_id: request.id.to_string() };
    w.worker.carry_out(&job).await.unwrap_or_else(|e| panic!("{e}"));
    // Written by work in flight after the erasure.
    let late = Item::from_iter([
        ("pk".to_owned(), json!("acme#CONTACT#ct_late")),
        ("sk".to_owned(), json!("CONTACT")),
    ]);
    table.put(late, None).await.unwrap_or_else(|e| panic!("{e}"));

    let ids = ErasedIds::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let eraser = crate::erasing::Eraser::new(table.clone(), w.backend.files.clone(), ids);
    let past = time::OffsetDateTime::now_utc() + time::Duration::hours(73);
    let checks = account_erasure::checks(table.as_ref()).await.unwrap_or_default();
    assert_eq!(checks.len(), 1);
    // One page a run: the first run leaves the pass unfinished and the check in place.
    let first = eraser.verify_accounts_within(&checks, past, 1).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.ended, 0, "{first:?}");
    assert_eq!(account_erasure::checks(table.as_ref()).await.unwrap_or_default().len(), 1);
    let mut runs = 1;
    loop {
        let checks = account_erasure::checks(table.as_ref()).await.unwrap_or_default();
        if checks.is_empty() {
            break;
        }
        eraser.verify_accounts_within(&checks, past, 1).await.unwrap_or_else(|e| panic!("{e}"));
        runs += 1;
        assert!(runs < 10, "the pass never ends");
    }
    assert!(runs >= 2, "a whole pass takes more than one run here: {runs}");
    assert!(acme_items(&scanned(table.as_ref()).await).is_empty(), "the late item is gone");
}
