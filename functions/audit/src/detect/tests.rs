//! Detection driven end to end on an embedded table: denied requests through the dispatcher,
//! then the schedule, run again and again.

use super::*;
use gestor_shared::http::serve;
use gestor_shared::metrics::Recorder;
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"))
}

fn detector(core: &gestor_shared::http::Core) -> (Detect, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let settings = Settings::local_with(|_| None);
    let detect = Detect::new(core.table.clone(), &settings, Metrics::with_sink(recorder.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    (detect, recorder)
}

async fn alerts(core: &gestor_shared::http::Core) -> Vec<Alert> {
    AlertRepo::new(core.table.clone()).list(&acme(), 100).await.unwrap_or_default()
}

#[tokio::test]
async fn a_burst_of_denied_requests_raises_exactly_one_alert_per_window() {
    let (core, _dir) = embedded_core();
    let agent = member(&core, "acme", "agent@acme.mx", Role::Agent).await;
    let app = crate::Audit::new(core.clone());
    for _ in 0..35 {
        let (status, _) =
            answer(serve(&app, ApiRequest::new("GET /v1/audit-log").as_user(&agent).build()).await);
        assert_eq!(status, 403);
    }
    let (detect, recorder) = detector(&core);
    let now = OffsetDateTime::now_utc();
    // 35 from one member and one IP: over the member's (20) and the IP's (30) thresholds, not
    // the business's (100).
    let raised: Vec<usize> = {
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(detect.run_at(now).await.unwrap_or_else(|e| panic!("{e}")));
        }
        runs
    };
    assert_eq!(raised, vec![2, 0, 0], "raised once, however often the schedule runs");
    let found = alerts(&core).await;
    let mut codes: Vec<&str> = found.iter().filter_map(|a| a.code.as_deref()).collect();
    codes.sort();
    assert_eq!(codes, vec!["ip", "member"], "{found:?}");
    assert!(found.iter().all(|a| a.kind == AlertKind::DeniedBurst));
    assert_eq!(recorder.points("SecurityEvents").len(), 2);
    let log = AuditRepo::new(core.table.clone());
    let events =
        log.between(&acme(), window_start(now), window_start(now) + DENIED_WINDOW).await.unwrap_or_default();
    let bursts: Vec<&AuditEntry> = events.iter().filter(|e| e.action == "security.denied_burst").collect();
    assert_eq!(bursts.len(), 2);
    assert!(bursts.iter().all(|e| e.count == Some(35) && e.actor.kind == ActorType::System), "{bursts:?}");
    // The refusals themselves are one entry, counted, not 35.
    let denied: Vec<&AuditEntry> = events.iter().filter(|e| e.action == "auth.denied").collect();
    assert_eq!((denied.len(), denied[0].count), (1, Some(35)));

    // The next window: a burst of its own is an alert of its own.
    let later = window_start(now) + DENIED_WINDOW + time::Duration::seconds(30);
    for entry in &denied {
        for _ in 0..25 {
            let again = AuditEntry { at: later, count: None, ..(*entry).clone() };
            if log.record_denied(&acme(), &again).await.unwrap_or_default() == 1 {
                SecurityRepo::new(core.table.clone())
                    .note(window_start(later), &acme())
                    .await
                    .unwrap_or_default();
            }
        }
    }
    assert_eq!(detect.run_at(later).await.unwrap_or_default(), 1, "25: the member's threshold only");
    assert_eq!(detect.run_at(later).await.unwrap_or_default(), 0);
    assert_eq!(alerts(&core).await.len(), 3);
}

#[tokio::test]
async fn an_admin_signing_in_from_a_new_device_is_an_event_and_an_agent_is_not() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let agent = member(&core, "acme", "agent@acme.mx", Role::Agent).await;
    let app = crate::Audit::new(core.clone());
    let sign_ins =
        [(&owner, CHROME, "t1"), (&agent, CHROME, "t2"), (&owner, FIREFOX, "t3"), (&agent, FIREFOX, "t4")];
    for (who, agent_string, token) in sign_ins {
        let request = ApiRequest::new("GET /v1/audit-log")
            .as_user(who)
            .token_id(token)
            .header("user-agent", agent_string);
        let _ = serve(&app, request.build()).await;
    }
    let (detect, _) = detector(&core);
    let now = OffsetDateTime::now_utc();
    assert_eq!(detect.run_at(now).await.unwrap_or_default(), 1);
    assert_eq!(detect.run_at(now).await.unwrap_or_default(), 0);
    let found = alerts(&core).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AlertKind::NewDevice);
    let owner_id = MemberRepo::new(core.table.clone())
        .get_by_sub(&acme(), &owner)
        .await
        .ok()
        .flatten()
        .map(|m| m.id.to_string());
    assert_eq!(Some(found[0].resource_id.clone()), owner_id);
}

fn session(id: &str, agent: &str, country: Option<&str>, minutes_ago: i64) -> Session {
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
    Session {
        id: id.into(),
        member_id: MemberId::new(),
        ip: None,
        user_agent: Some(agent.into()),
        device: Device::parse(agent),
        timezone: None,
        country: country.map(str::to_owned),
        first_seen: at,
        last_seen: at,
    }
}

#[test]
fn novelty_compares_with_earlier_sessions_only() {
    let first = session("se_1", CHROME, Some("MX"), 60);
    let same = session("se_2", CHROME, Some("MX"), 1);
    let abroad = session("se_3", CHROME, Some("US"), 1);
    let firefox = session("se_4", FIREFOX, None, 1);
    assert_eq!(novelty(&first, &[]), (false, false), "a first session ever");
    assert_eq!(novelty(&same, &[&first]), (false, false));
    assert_eq!(novelty(&abroad, &[&first]), (false, true));
    assert_eq!(novelty(&firefox, &[&first]), (true, false), "no country known: not a new one");
}

#[test]
fn thresholds_read_from_their_setting() {
    assert_eq!(Thresholds::parse("member=5, ip=7,tenant=9"), Ok(Thresholds { member: 5, ip: 7, tenant: 9 }));
    assert_eq!(Thresholds::parse("ip=3"), Ok(Thresholds { member: 20, ip: 3, tenant: 100 }));
    assert!(Thresholds::parse("member=lots").is_err());
    assert!(Thresholds::parse("country=1").is_err());
}

#[tokio::test]
async fn an_ip_burst_spread_over_several_entries_is_one_alert_however_the_entries_grow() {
    let (core, _dir) = embedded_core();
    let log = AuditRepo::new(core.table.clone());
    let security = SecurityRepo::new(core.table.clone());
    let (detect, _) = detector(&core);
    let now = OffsetDateTime::now_utc();
    let denied = |actor: &str, kind: &str| AuditEntry {
        id: gestor_shared::ids::AuditId::new(),
        at: now,
        actor: Actor { kind: ActorType::Member, id: actor.into() },
        action: "auth.denied".into(),
        resource: Resource { kind: kind.into(), id: None },
        outcome: Outcome::Denied,
        ip: Some("198.51.100.9".into()),
        user_agent: None,
        request_id: None,
        changed_fields: vec![],
        count: None,
        last_at: None,
    };
    // Strangers from one IP, each under the member threshold; together over the IP's.
    let mut raised = 0;
    for (round, actors) in [["sub:a", "sub:b"], ["sub:c", "sub:d"], ["sub:e", "sub:f"]].iter().enumerate() {
        for actor in actors {
            for kind in ["contact", "channel"] {
                for _ in 0..4 {
                    if log.record_denied(&acme(), &denied(actor, kind)).await.unwrap_or_default() == 1 {
                        security.note(window_start(now), &acme()).await.unwrap_or_default();
                    }
                }
            }
        }
        raised += detect.run_at(now).await.unwrap_or_else(|e| panic!("{e}"));
        // 16, 32, 48 denied so far: the IP's threshold (30) is passed in the second round.
        assert_eq!(raised, usize::from(round >= 1), "round {round}");
    }
    let found = alerts(&core).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].code.as_deref(), Some("ip"));
    assert!(!serde_json::to_string(&found).unwrap_or_default().contains("198.51.100.9"), "no IP in an alert");
}
