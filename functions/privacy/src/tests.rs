//! Filing privacy requests through the dispatcher, and the worker carrying them out, on the
//! embedded table and queue.

use gestor_shared::adapters::embedded;
use gestor_shared::adapters::embedded_queue::EmbeddedQueue;
use gestor_shared::backend::Backend;
use gestor_shared::domain::{Phone, TenantId};
use gestor_shared::http::{Role, serve};
use gestor_shared::ports::Queue;
use gestor_shared::repo::audit::{Actor, AuditFilter};
use gestor_shared::repo::contacts::{Contact, ContactRepo, Identity};
use gestor_shared::settings::Settings;
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};
use gestor_shared::worker::Consumer;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use crate::Privacy;
use crate::worker::PrivacyWorker;

struct World {
    app: Privacy,
    backend: Backend,
    /// The same files as `backend`'s, to open the links they sign.
    local: gestor_shared::adapters::local_files::LocalFiles,
    graph: wiremock::MockServer,
    worker: PrivacyWorker,
    queue: Arc<EmbeddedQueue>,
    owner: String,
    admin: String,
    agent: String,
    _dir: tempfile::TempDir,
}

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"))
}

async fn world() -> World {
    let (core, dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let admin = member(&core, "acme", "admin@acme.mx", Role::Admin).await;
    let agent = member(&core, "acme", "agent@acme.mx", Role::Agent).await;
    let db = embedded::open(&dir.path().join("q.redb")).unwrap_or_else(|e| panic!("{e}"));
    let queue = Arc::new(EmbeddedQueue::new(db).unwrap_or_else(|e| panic!("{e}")));
    let graph = wiremock::MockServer::start().await;
    let mut settings = Settings::local_with(|_| None);
    settings.set(gestor_shared::settings::Setting::MetaGraphUrl, graph.uri());
    let backend = Backend {
        table: core.table.clone(),
        queue: queue.clone(),
        files: Arc::new(Backend::embedded_files(dir.path(), "http://127.0.0.1:0", b"k")),
        mail: Arc::new(Backend::embedded_mailbox(dir.path(), "x@y.mx")),
    };
    let worker = PrivacyWorker::new(&backend, &settings).unwrap_or_else(|e| panic!("{e}"));
    let local = Backend::embedded_files(dir.path(), "http://127.0.0.1:0", b"k");
    let app = Privacy::new(core, queue.clone(), backend.files.clone(), &Settings::local_with(|_| None))
        .unwrap_or_else(|e| panic!("{e}"));
    World { app, backend, local, graph, worker, queue, owner, admin, agent, _dir: dir }
}

impl World {
    async fn contact(&self, wa_id: &str) -> Contact {
        let phone = Phone::parse(&format!("+{wa_id}")).unwrap_or_else(|e| panic!("{e}"));
        let identity = Identity { channel: "whatsapp".into(), external_id: wa_id.into() };
        let (contact, _) = ContactRepo::new(self.app.core.table.clone())
            .upsert_from_channel(&acme(), &Actor::channel("ca_1"), &identity, Some(&phone), Some("Ana"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        contact
    }

    async fn stored(&self, contact: &Contact) -> Option<Contact> {
        ContactRepo::new(self.app.core.table.clone()).get(&acme(), &contact.id).await.unwrap_or_default()
    }

    async fn file(&self, sub: &str, body: Value) -> (u16, Value) {
        answer(
            serve(&self.app, ApiRequest::new("POST /v1/privacy/requests").as_user(sub).json(body).build())
                .await,
        )
    }

    async fn read(&self, sub: &str, id: &str) -> (u16, Value) {
        let request = ApiRequest::new("GET /v1/privacy/requests/{id}").param("id", id).as_user(sub);
        answer(serve(&self.app, request.build()).await)
    }

    /// Runs the worker over what the privacy queue holds; answers how many jobs it took.
    async fn work(&self) -> usize {
        let received = self.queue.receive("privacy", 10, Duration::from_secs(60)).await.unwrap_or_default();
        let records = received
            .iter()
            .enumerate()
            .map(|(n, m)| gestor_shared::testing::events::sqs_record(&format!("m{n}"), &m.body, None, 1))
            .collect();
        let failed = self.worker.handle(gestor_shared::testing::events::sqs_event(records)).await;
        assert!(failed.batch_item_failures.is_empty(), "{:?}", failed.batch_item_failures);
        for m in &received {
            let _ = self.queue.ack("privacy", &m.receipt).await;
        }
        received.len()
    }

    /// The resources of the audit entries with this action.
    async fn audited(&self, action: &str) -> Vec<Value> {
        let filter = AuditFilter { action: Some(action.into()), ..Default::default() };
        let (entries, _) = self.app.core.audit.list(&acme(), &filter, 50, None).await.unwrap_or_default();
        entries.iter().map(|e| serde_json::to_value(&e.resource).unwrap_or_default()).collect()
    }
}

#[tokio::test]
async fn an_opposition_is_filed_once_carried_out_and_shown_on_the_contact() {
    let w = world().await;
    let ana = w.contact("5215512345678").await;
    let opposition = json!({"kind": "opposition", "subject": {"phone": "+52 55 1234 5678"},
                            "details": {"restrictions": ["marketing", "ai"]}});
    let (status, filed) = w.file(&w.admin, opposition.clone()).await;
    assert_eq!(status, 202, "{filed}");
    assert_eq!((&filed["kind"], &filed["status"]), (&json!("opposition"), &json!("received")));
    assert_eq!(filed["subject"]["contact_id"], ana.id.as_str());
    let received = time::OffsetDateTime::parse(
        filed["received_at"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    );
    let deadline = time::OffsetDateTime::parse(
        filed["deadline_at"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    );
    assert_eq!(deadline.ok().zip(received.ok()).map(|(d, r)| d - r), Some(time::Duration::days(20)));
    // The same again while it is open: that one.
    let (status, again) = w.file(&w.owner, opposition.clone()).await;
    assert_eq!((status, &again["id"]), (202, &filed["id"]));

    assert!(w.work().await >= 1);
    let id = filed["id"].as_str().unwrap_or_default();
    let (status, done) = w.read(&w.admin, id).await;
    assert_eq!((status, &done["status"]), (200, &json!("completed")), "{done}");
    assert!(done["completed_at"].is_string());
    assert_eq!(done["result"]["restrictions"], json!(["marketing", "ai"]));
    assert_eq!(done["result"]["counts"], json!({"contacts": 1}));
    let stored = w.stored(&ana).await.map(|c| c.restrictions).unwrap_or_default();
    assert_eq!(stored, vec!["marketing".to_owned(), "ai".to_owned()]);
    // Logged as the worker's change, naming the field.
    let (log, _) =
        w.app.core.audit.list(&acme(), &AuditFilter::default(), 50, None).await.unwrap_or_default();
    let changes: Vec<_> = log.iter().filter(|e| e.action == "contact.update").collect();
    assert_eq!(changes.len(), 1, "{log:?}");
    assert_eq!(
        (changes[0].actor.id.as_str(), changes[0].changed_fields.clone()),
        ("privacy-worker", vec!["restrictions".to_owned()])
    );
    assert!(log.iter().any(|e| e.action == "privacy_request.create"));

    // Ended, the subject may file again; the repeated job changes nothing more.
    let (status, _) = w.file(&w.admin, opposition).await;
    assert_eq!(status, 202);
    w.work().await;
    let (log, _) =
        w.app.core.audit.list(&acme(), &AuditFilter::default(), 50, None).await.unwrap_or_default();
    assert_eq!(log.iter().filter(|e| e.action == "contact.update").count(), 1, "already so: nothing written");
}

#[tokio::test]
async fn a_rectification_corrects_the_contacts_fields() {
    let w = world().await;
    let ana = w.contact("5215512345679").await;
    let body = json!({"kind": "rectification", "subject": {"contact_id": ana.id.as_str()},
                      "details": {"fields": {"name": "Ana María López", "emails": ["ana@correo.mx"]}}});
    let (status, filed) = w.file(&w.owner, body).await;
    assert_eq!(status, 202, "{filed}");
    w.work().await;
    let stored = w.stored(&ana).await;
    assert_eq!(stored.as_ref().and_then(|c| c.name.as_deref()), Some("Ana María López"));
    assert_eq!(
        stored.map(|c| c.emails.iter().map(|e| e.as_str().to_owned()).collect::<Vec<_>>()),
        Some(vec!["ana@correo.mx".to_owned()])
    );
    let (_, done) = w.read(&w.owner, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(done["status"], "completed", "{done}");

    let bad = json!({"kind": "rectification", "subject": {"contact_id": ana.id.as_str()},
                     "details": {"fields": {"lifecycle": "client", "emails": ["no-es-correo"]}}});
    let (status, problem) = w.file(&w.owner, bad).await;
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test]
async fn who_may_file_what_and_who_sees_it() {
    let w = world().await;
    let ana = w.contact("5215512345670").await;
    let for_ana = json!({"kind": "opposition", "subject": {"contact_id": ana.id.as_str()},
                         "details": {"restrictions": ["marketing"]}});
    assert_eq!(w.file(&w.agent, for_ana.clone()).await.0, 403, "privacy.others: owners and admins");
    let account = json!({"kind": "portability", "subject": {"account": true}});
    assert_eq!(w.file(&w.admin, account.clone()).await.0, 403, "the account's: an owner only");
    let (status, refused) = w.file(&w.owner, account).await;
    assert_eq!(status, 422, "not carried out yet, so not accepted: {refused}");
    let own = json!({"kind": "opposition", "subject": {"member": "me"}});
    assert_eq!(w.file(&w.agent, own).await.0, 422, "not carried out for members yet");
    let nobody = json!({"kind": "opposition", "subject": {"phone": "+5215500000000"},
                        "details": {"restrictions": ["marketing"]}});
    assert_eq!(w.file(&w.admin, nobody).await.0, 404);
    let wrong = json!({"kind": "opposition", "subject": {"contact_id": ana.id.as_str()},
                       "details": {"restrictions": ["llamadas"]}});
    assert_eq!(w.file(&w.admin, wrong).await.0, 400);
    assert_eq!(w.file(&w.admin, json!({"kind": "olvido", "subject": {"member": "me"}})).await.0, 400);
    let two = json!({"kind": "opposition", "subject": {"member": "me", "contact_id": ana.id.as_str()}});
    assert_eq!(w.file(&w.admin, two).await.0, 400, "one subject at a time");
    let extra = json!({"kind": "opposition", "subject": {"contact_id": ana.id.as_str()},
                       "details": {"restrictions": ["ai"], "motivo": "x"}});
    assert_eq!(w.file(&w.admin, extra).await.0, 400);

    let (_, filed) = w.file(&w.admin, for_ana).await;
    let id = filed["id"].as_str().unwrap_or_default();
    // The agent neither filed it nor is its subject.
    assert_eq!(w.read(&w.agent, id).await.0, 404);
    let listed = |sub: String| {
        let app = &w.app;
        async move {
            let request = ApiRequest::new("GET /v1/privacy/requests").as_user(&sub);
            answer(serve(app, request.build()).await).1["items"].as_array().map(Vec::len).unwrap_or_default()
        }
    };
    assert_eq!(listed(w.agent.clone()).await, 0);
    assert_eq!(listed(w.owner.clone()).await, 1);
}

#[tokio::test]
async fn the_sweep_sends_a_lost_job_again_and_flags_a_deadline_at_risk_once() {
    use gestor_shared::metrics::{Metrics, Recorder};
    let w = world().await;
    let ana = w.contact("5215512345672").await;
    let body = json!({"kind": "opposition", "subject": {"contact_id": ana.id.as_str()},
                      "details": {"restrictions": ["automation"]}});
    let (_, filed) = w.file(&w.owner, body).await;
    // The job is lost: taken off the queue, never worked.
    for m in w.queue.receive("privacy", 10, Duration::from_secs(60)).await.unwrap_or_default() {
        let _ = w.queue.ack("privacy", &m.receipt).await;
    }
    let recorder = Arc::new(Recorder::default());
    let sweep = crate::sweep::Sweep::new(
        &w.backend,
        &Settings::local_with(|_| None),
        Metrics::with_sink(recorder.clone()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    let swept = sweep.sweep(now).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(swept, crate::sweep::Swept::default(), "just filed: its job may still be on its way");
    // Nineteen and a half days on (the 20-day deadline within a day), still open.
    let later = now + time::Duration::hours(19 * 24 + 12);
    for _ in 0..2 {
        let swept = sweep.sweep(later).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((swept.sent_again, swept.at_risk), (1, 1));
    }
    assert_eq!(recorder.points("PrivacyDeadlineAtRisk").len(), 2, "the metric each run");
    let filter = AuditFilter { action: Some("privacy_request.at_risk".into()), ..Default::default() };
    let (flagged, _) = w.app.core.audit.list(&acme(), &filter, 10, None).await.unwrap_or_default();
    assert_eq!(flagged.len(), 1, "the entry once: {flagged:?}");
    assert_eq!(flagged[0].resource.id.as_deref(), filed["id"].as_str());
    // The job sent again carries it out; an ended request is swept no more.
    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.owner, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(sweep.sweep(later).await.unwrap_or_else(|e| panic!("{e}")), crate::sweep::Swept::default());
}

#[tokio::test]
async fn a_job_delivered_again_after_its_request_ended_changes_nothing() {
    let w = world().await;
    let ana = w.contact("5215512345673").await;
    let body = json!({"kind": "rectification", "subject": {"contact_id": ana.id.as_str()},
                      "details": {"fields": {"name": "Ana Pérez"}}});
    let (_, filed) = w.file(&w.owner, body).await;
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    let job = crate::worker::Job { tenant_id: "acme".into(), request_id: id.clone() };
    // Two deliveries read the request while it is open; the first carries it out.
    let request = gestor_shared::repo::privacy::PrivacyRepo::new(w.app.core.table.clone())
        .get(&acme(), &id)
        .await
        .ok()
        .flatten();
    assert!(request.is_some());
    w.worker.carry_out(&job).await.unwrap_or_else(|e| panic!("{e}"));
    // The business corrects the name again, by hand.
    let repo = ContactRepo::new(w.app.core.table.clone());
    let current = w.stored(&ana).await.unwrap_or_else(|| panic!("the contact"));
    let mut edited = current.clone();
    edited.name = Some("Ana Pérez Gómez".into());
    edited.version += 1;
    repo.replace(&acme(), &current, &edited).await.unwrap_or_else(|e| panic!("{e}"));
    // The late second delivery finds the request ended: the hand edit stands.
    w.worker.carry_out(&job).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.stored(&ana).await.and_then(|c| c.name), Some("Ana Pérez Gómez".into()));
    // And a stale copy that read the request open, its change guarded by the request.
    let stale = request.unwrap_or_else(|| panic!("read"));
    let guard = gestor_shared::repo::privacy::PrivacyRepo::still_open(&acme(), &stale);
    let now = w.stored(&ana).await.unwrap_or_else(|| panic!("the contact"));
    let mut overwrite = now.clone();
    overwrite.name = Some("Ana Pérez".into());
    overwrite.version += 1;
    let refused = repo.replace_logged(&acme(), &now, &overwrite, None, Some(guard)).await;
    assert!(refused.is_err(), "the request ended: nothing written");
    assert_eq!(w.stored(&ana).await.and_then(|c| c.name), Some("Ana Pérez Gómez".into()));
}

#[tokio::test]
async fn the_deactivation_of_integrations_deactivates_the_channels_named() {
    use gestor_shared::crypto::{Secret, TokenCipher};
    use gestor_shared::inbound::Channel;
    use gestor_shared::repo::channels::{ChannelRepo, ChannelStatus, Connection};
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, ResponseTemplate};
    const WABA: &str = "102290129340398";
    let w = world().await;
    let cipher =
        TokenCipher::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let channels = ChannelRepo::new(w.app.core.table.clone());
    let connected = channels
        .connect(
            &acme(),
            Channel::Whatsapp,
            "106540352242922",
            "Óptica",
            &Secret::new("wa-token"),
            &cipher,
            Some(WABA),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let account = match connected {
        Connection::Connected(a) | Connection::Refreshed(a) => a,
    };
    channels.set_business_account(&acme(), &account.id, WABA).await.unwrap_or_else(|e| panic!("{e}"));
    // The app leaves the business account: no other account of ours is on it.
    Mock::given(method("DELETE"))
        .and(path(format!("/{WABA}/subscribed_apps")))
        .and(header("authorization", "Bearer wa-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&w.graph)
        .await;
    let body = json!({"kind": "deactivation", "subject": {"account": true},
                      "details": {"channel_ids": [account.id.as_str()]}});
    assert_eq!(w.file(&w.admin, body.clone()).await.0, 403, "the account's: an owner only");
    let unknown = json!({"kind": "deactivation", "subject": {"account": true},
                         "details": {"channel_ids": ["ca_01J0000000000000000000000"]}});
    assert_eq!(w.file(&w.owner, unknown).await.0, 400);
    let (status, filed) = w.file(&w.owner, body).await;
    assert_eq!(status, 202, "{filed}");
    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.owner, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(
        (&done["status"], &done["result"]["counts"]["channels"]),
        (&json!("completed"), &json!(1)),
        "{done}"
    );
    let stored = channels.get(&acme(), &account.id).await.ok().flatten().map(|a| a.status);
    assert_eq!(stored, Some(ChannelStatus::Inactive));
    assert!(
        channels.access_token(&acme(), &account.id, &cipher).await.ok().flatten().is_none(),
        "token deleted"
    );
    let (log, _) =
        w.app.core.audit.list(&acme(), &AuditFilter::default(), 50, None).await.unwrap_or_default();
    let entry = log.iter().find(|e| e.action == "channel.deactivate");
    assert_eq!(entry.map(|e| e.actor.id.as_str()), Some("privacy-worker"), "{log:?}");
}

#[tokio::test]
async fn a_member_rectifies_their_name_and_not_their_sign_in_email() {
    use gestor_shared::repo::members::MemberRepo;
    let w = world().await;
    let email = json!({"kind": "rectification", "subject": {"member": "me"},
                       "details": {"fields": {"email": "otro@acme.mx"}}});
    assert_eq!(w.file(&w.agent, email).await.0, 400, "the identity provider's");
    let body = json!({"kind": "rectification", "subject": {"member": "me"},
                      "details": {"fields": {"name": "  Agente Corregido "}}});
    let (status, filed) = w.file(&w.agent, body).await;
    assert_eq!(status, 202, "{filed}");
    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.agent, filed["id"].as_str().unwrap_or_default()).await;
    assert_eq!(
        (&done["status"], &done["result"]["counts"]["members"]),
        (&json!("completed"), &json!(1)),
        "{done}"
    );
    let members = MemberRepo::new(w.app.core.table.clone());
    let agent = members.get_by_sub(&acme(), &w.agent).await.ok().flatten().map(|m| m.name);
    assert_eq!(agent.as_deref(), Some("Agente Corregido"));
    let filter = AuditFilter { action: Some("member.update".into()), ..Default::default() };
    let (log, _) = w.app.core.audit.list(&acme(), &filter, 10, None).await.unwrap_or_default();
    assert_eq!(
        log.first().map(|e| (e.actor.id.as_str(), e.changed_fields.clone())),
        Some(("privacy-worker", vec!["name".to_owned()])),
        "{log:?}"
    );
}

mod closing;
mod dead_letters;
mod erasure;
mod export;
mod leaving;
mod partial;
mod restore;
