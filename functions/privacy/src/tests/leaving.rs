//! A member's cancellation: off the roster at once; their profile, sessions and answers
//! erased; the business's records kept, their IP and browser struck from the log.

use gestor_shared::domain::{Direction, Role};
use gestor_shared::http::serve;
use gestor_shared::repo::audit::AuditFilter;
use gestor_shared::repo::members::MemberRepo;
use gestor_shared::repo::messages::{MessageOrder, MessageRepo};
use gestor_shared::repo::sessions::{SessionRepo, Sighting};
use gestor_shared::testing::{ApiRequest, answer};
use serde_json::{Value, json};

use super::erasure::customer;
use super::{acme, world};

/// Every string the table holds, item by item.
async fn scanned(table: &dyn gestor_shared::ports::Table) -> Vec<String> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = table.scan(500, start.take()).await.unwrap_or_else(|e| panic!("{e}"));
        items.extend(page.items.into_iter().map(|i| Value::Object(i).to_string()));
        match page.last_key {
            Some(last) => start = Some(last),
            None => return items,
        }
    }
}

#[tokio::test]
async fn a_leaving_member_becomes_a_tombstone_in_the_business_records() {
    let w = world().await;
    let table = w.app.core.table.clone();
    let members = MemberRepo::new(table.clone());
    let agent = members.get_by_sub(&acme(), &w.agent).await.ok().flatten().unwrap_or_else(|| panic!("agent"));
    let sighting = Sighting {
        marker: "signin-9".into(),
        ip: Some("201.141.77.9".into()),
        user_agent: Some("NavegadorSalida/9.9".into()),
        timezone: Some("America/Merida".into()),
        country: Some("MX".into()),
    };
    SessionRepo::new(table.clone())
        .record(&acme(), &agent, &sighting, time::OffsetDateTime::now_utc(), |_| Ok(vec![]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A reply they wrote: the business's record.
    let ana = customer(&w, "5215512340031", "Ana Clienta").await;
    let mut reply = gestor_shared::testing::text_message(
        &ana.conversation.id,
        &ana.contact.id,
        Direction::Out,
        "wamid.LEAVE1",
        time::OffsetDateTime::now_utc(),
    );
    reply.sent_by = Some(agent.id.clone());
    MessageRepo::new(table.clone()).insert_once(&acme(), &reply).await.unwrap_or_else(|e| panic!("{e}"));

    // The only owner may not leave; the agent may, with an idempotency key and a browser.
    let body = json!({"kind": "cancellation", "subject": {"member": "me"}});
    assert_eq!(w.file(&w.owner, body.clone()).await.0, 409, "a business keeps its owner");
    let request = ApiRequest::new("POST /v1/privacy/requests")
        .as_user(&w.agent)
        .header("idempotency-key", "salida-1")
        .header("user-agent", "NavegadorSalida/9.9")
        .json(body);
    let (status, filed) = answer(serve(&w.app, request.build()).await);
    assert_eq!(status, 202, "{filed}");
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(members.get_by_id(&acme(), &agent.id).await.ok().flatten(), None, "off the roster at once");
    assert!(!members.tenants_of(&w.agent).await.unwrap_or_default().contains(&acme()));

    assert!(w.work().await >= 1);
    let (_, done) = w.read(&w.owner, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let counts = &done["result"]["counts"];
    // The sighting above, and the filing request's own session.
    assert_eq!((&counts["members"], &counts["sessions"]), (&json!(1), &json!(2)), "{done}");
    assert!(counts["audit_entries_scrubbed"].as_u64().is_some_and(|n| n >= 1), "{done}");
    assert_eq!(counts["idempotency_records"], 1, "{done}");
    assert_eq!(done["subject"]["member_id_hash"].as_str().map(str::len), Some(64), "{done}");
    assert!(!done.to_string().contains(agent.id.as_str()) || done["filed_by"] == agent.id.as_str());

    // The business keeps what they did, under the bare id, without where they did it from.
    let (left, _) = MessageRepo::new(table.clone())
        .list(&acme(), &ana.conversation.id, MessageOrder::OldestFirst, 10, None)
        .await
        .unwrap_or_default();
    assert!(left.iter().any(|m| m.sent_by.as_ref() == Some(&agent.id)));
    let filter = AuditFilter { actor: Some(agent.id.to_string()), ..Default::default() };
    let (trail, _) = w.app.core.audit.list(&acme(), &filter, 50, None).await.unwrap_or_default();
    assert!(!trail.is_empty());
    assert!(trail.iter().all(|e| e.ip.is_none() && e.user_agent.is_none()), "{trail:?}");

    // An hour on the sweep checks it; past the deadline its last check takes the marker, and
    // then nothing in the table names them.
    let mut settings = gestor_shared::settings::Settings::local_with(|_| None);
    settings.set(gestor_shared::settings::Setting::PrivacyQueueUrl, "privacy");
    let sweep = crate::sweep::Sweep::new(&w.backend, &settings, gestor_shared::metrics::Metrics::stdout())
        .unwrap_or_else(|e| panic!("{e}"));
    let now = time::OffsetDateTime::now_utc();
    let swept = sweep.sweep(now + time::Duration::hours(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((swept.verified, swept.residue), (1, 0), "{swept:?}");
    sweep.sweep(now + time::Duration::hours(73)).await.unwrap_or_else(|e| panic!("{e}"));
    let found: Vec<String> = scanned(table.as_ref())
        .await
        .into_iter()
        .filter(|item| {
            ["agent@acme.mx", "201.141.77.9", "NavegadorSalida", "America/Merida"]
                .iter()
                .any(|s| item.contains(s))
        })
        .collect();
    assert!(found.is_empty(), "still held: {found:#?}");
    // The owner stays the owner.
    let owner = members.get_by_sub(&acme(), &w.owner).await.ok().flatten().map(|m| m.role);
    assert_eq!(owner, Some(Role::Owner));
}
