//! Sign-up and the business's settings, through the dispatcher on an embedded table.

use gestor_shared::http::{Core, Role, serve};
use gestor_shared::repo::members::invitee_subject;
use gestor_shared::repo::personal;
use gestor_shared::testing::doubles::Postbox;
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::Members;

/// The function over `core`, its invites going to a postbox that keeps them.
fn app_over(core: Core) -> Members {
    app_mailing(core, Arc::new(Postbox::default()))
}

fn app_mailing(core: Core, postbox: Arc<Postbox>) -> Members {
    Members::new(core, postbox, "https://app.gestor.test")
}

async fn send(app: &Members, request: ApiRequest) -> (u16, Value) {
    answer(serve(app, request.build()).await)
}

#[tokio::test]
async fn a_new_user_signs_up_a_business_and_becomes_its_owner_once_per_idempotency_key() {
    let (core, _dir) = embedded_core();
    let app = app_over(core);
    let sign_up = |key: &str| {
        ApiRequest::new("POST /v1/tenants")
            .as_user("nuevo")
            .header("idempotency-key", key)
            .json(json!({"name": "Panadería La Espiga", "timezone": "America/Monterrey"}))
    };
    let (status, tenant) = send(&app, sign_up("k1")).await;
    assert_eq!(status, 201, "{tenant}");
    let id = tenant["id"].as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with("panaderia-la-espiga-"), "{id}");
    assert_eq!((&tenant["timezone"], &tenant["read_receipts"]), (&json!("America/Monterrey"), &json!(true)));
    // The same request again: the same business, not a second one.
    let (status, again) = send(&app, sign_up("k1")).await;
    assert_eq!((status, &again["id"]), (201, &json!(id)));
    let (_, me) = send(&app, ApiRequest::new("GET /v1/me").as_user("nuevo")).await;
    assert_eq!((&me["role"], &me["tenant"]["id"]), (&json!("owner"), &json!(id)), "{me}");
    // Another key, another business; a taken id asked for is a conflict.
    let (status, other) = send(&app, sign_up("k2")).await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], json!(id));
    let taken = ApiRequest::new("POST /v1/tenants").as_user("otro").json(json!({"name": "X", "id": id}));
    assert_eq!(send(&app, taken).await.0, 409);
    let bad = ApiRequest::new("POST /v1/tenants").as_user("otro").json(json!({"timezone": "Marte/Olympus"}));
    let (status, problem) = send(&app, bad).await;
    assert_eq!(status, 400);
    let fields: Vec<&str> =
        problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["name", "timezone"]);
    // A name the platform's own keys and prefixes take.
    for reserved in ["quarantine", "TENANTS", "route"] {
        let asked =
            ApiRequest::new("POST /v1/tenants").as_user("otro").json(json!({"name": "X", "id": reserved}));
        let (status, problem) = send(&app, asked).await;
        assert_eq!((status, &problem["errors"][0]["field"]), (400, &json!("id")), "{reserved}: {problem}");
    }
}

#[tokio::test]
async fn owners_and_admins_change_the_settings_with_versions_and_others_read_them() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let manager = member(&core, "acme", "manager@acme.mx", Role::Manager).await;
    let app = app_over(core);
    let (status, settings) = send(&app, ApiRequest::new("GET /v1/tenant").as_user(&manager)).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!((&settings["read_receipts"], &settings["row_scoping"]), (&json!(true), &json!(false)));
    let version = settings["version"].as_u64().unwrap_or_default();

    let change =
        json!({"read_receipts": false, "business_hours": {"mon": [{"from": "09:00", "to": "18:00"}]}});
    let denied = ApiRequest::new("PATCH /v1/tenant").as_user(&manager).json(change.clone());
    assert_eq!(send(&app, denied).await.0, 403);
    let stale = ApiRequest::new("PATCH /v1/tenant")
        .as_user(&owner)
        .header("if-match", &format!("\"{}\"", version + 7))
        .json(change.clone());
    assert_eq!(send(&app, stale).await.0, 412);
    let patch = ApiRequest::new("PATCH /v1/tenant")
        .as_user(&owner)
        .header("if-match", &format!("\"{version}\""))
        .json(change);
    let (status, changed) = send(&app, patch).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((&changed["read_receipts"], &changed["version"]), (&json!(false), &json!(version + 1)));
    assert_eq!(changed["business_hours"]["mon"][0]["to"], "18:00");
    let bad = ApiRequest::new("PATCH /v1/tenant").as_user(&owner).json(json!({"modules": ["crm"]}));
    assert_eq!(send(&app, bad).await.0, 400);
    let (_, read) = send(&app, ApiRequest::new("GET /v1/tenant").as_user(&manager)).await;
    assert_eq!(read["read_receipts"], false, "nothing stored by the refused change undid it");
}

#[tokio::test]
async fn a_business_from_before_the_registry_joins_it_with_its_next_settings_change() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let acme = gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
    let registered = gestor_shared::repo::tenants::registry_item(&acme);
    let key = gestor_shared::ports::Key::of(&registered).unwrap_or_else(|| panic!("a key"));
    core.table.delete(&key, None).await.unwrap_or_else(|e| panic!("{e}"));
    let listed = || async { core.tenants.all(None, 10).await.map(|(t, _)| t).unwrap_or_default() };
    assert!(listed().await.is_empty(), "as a business created before the registry");
    let app = app_over(core.clone());
    let patch = ApiRequest::new("PATCH /v1/tenant").as_user(&owner).json(json!({"read_receipts": false}));
    assert_eq!(send(&app, patch).await.0, 200);
    assert_eq!(listed().await, vec![acme], "the schedules now visit it");
}

#[tokio::test]
async fn members_are_listed_changed_and_removed_and_the_last_owner_stays() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let admin = member(&core, "acme", "admin@acme.mx", Role::Admin).await;
    let agent = member(&core, "acme", "agent@acme.mx", Role::Agent).await;
    member(&core, "rival", "owner@rival.mx", Role::Owner).await;
    let app = app_over(core);
    let (status, list) = send(&app, ApiRequest::new("GET /v1/members").as_user(&agent)).await;
    assert_eq!(status, 200, "{list}");
    let id_of = |email: &str| -> String {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["email"] == email)
            .and_then(|m| m["id"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "acme's members only");
    let (owner_id, agent_id) = (id_of("owner@acme.mx"), id_of("agent@acme.mx"));
    let role = |who: &str, id: &str, role: &str| {
        ApiRequest::new("PATCH /v1/members/{id}").param("id", id).as_user(who).json(json!({"role": role}))
    };
    // An agent changes nobody; an admin changes an agent but not an owner, nor makes one.
    assert_eq!(send(&app, role(&agent, &agent_id, "admin")).await.0, 403);
    let (status, manager) = send(&app, role(&admin, &agent_id, "manager")).await;
    assert_eq!((status, &manager["role"]), (200, &json!("manager")), "{manager}");
    assert_eq!(send(&app, role(&admin, &owner_id, "viewer")).await.0, 403);
    assert_eq!(send(&app, role(&admin, &agent_id, "owner")).await.0, 403);
    // The only owner can neither step down nor be removed.
    let (status, problem) = send(&app, role(&owner, &owner_id, "admin")).await;
    assert_eq!(status, 409, "{problem}");
    let remove =
        |who: &str, id: &str| ApiRequest::new("DELETE /v1/members/{id}").param("id", id).as_user(who);
    assert_eq!(send(&app, remove(&owner, &owner_id)).await.0, 409);
    // With a second owner, the first may step down.
    assert_eq!(send(&app, role(&owner, &agent_id, "owner")).await.0, 200);
    assert_eq!(send(&app, role(&owner, &owner_id, "admin")).await.0, 200);
    // A removed member reaches nothing any more.
    let admin_id = id_of("admin@acme.mx");
    assert_eq!(send(&app, remove(&agent, &admin_id)).await.0, 204, "the new owner removes the admin");
    assert_eq!(send(&app, ApiRequest::new("GET /v1/tenant").as_user(&admin)).await.0, 403);
    assert_eq!(send(&app, remove(&agent, &admin_id)).await.0, 404);
    let (_, me) = send(&app, ApiRequest::new("GET /v1/me").as_user(&admin)).await;
    assert_eq!(me["memberships"], json!([]), "{me}");
}

#[tokio::test]
async fn an_invite_works_once_for_the_invited_email_only() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let admin = member(&core, "acme", "admin@acme.mx", Role::Admin).await;
    let postbox = Arc::new(Postbox::default());
    let app = app_mailing(core, postbox.clone());
    let invite = |who: &str, body: Value| ApiRequest::new("POST /v1/members").as_user(who).json(body);
    assert_eq!(send(&app, invite(&admin, json!({"email": "jefa@acme.mx", "role": "owner"}))).await.0, 403);
    let (status, bad) = send(&app, invite(&admin, json!({"email": "no-es-correo", "role": "chief"}))).await;
    assert_eq!(status, 400, "{bad}");
    let (status, made) = send(&app, invite(&owner, json!({"email": "Luisa@Acme.mx", "role": "agent"}))).await;
    assert_eq!(status, 201, "{made}");
    let code = made["code"].as_str().unwrap_or_default().to_owned();
    assert!(code.len() >= 40, "{code}");
    // The invited person got it by email, at the address as the table keeps it.
    let sent = postbox.sent();
    assert_eq!(sent.len(), 1, "the refused invites sent nothing: {sent:?}");
    assert_eq!(sent[0].to, "luisa@acme.mx");
    assert!(
        sent[0].text.contains(&format!("https://app.gestor.test/invites/accept#code={code}\n")),
        "{}",
        sent[0].text
    );
    let accept =
        |sub: &str| ApiRequest::new("POST /v1/invites/{code}/accept").param("code", &code).as_user(sub);
    // `as_user(sub)` signs in as `{sub}@example.com`: someone else's token is refused.
    assert_eq!(send(&app, accept("intruso")).await.0, 403);
    let as_luisa = |sub: &str| {
        ApiRequest::new("POST /v1/invites/{code}/accept").param("code", &code).signed_in(sub, "luisa@acme.mx")
    };
    let (status, joined) = send(&app, as_luisa("luisa")).await;
    assert_eq!(
        (status, &joined["role"], &joined["email"]),
        (201, &json!("agent"), &json!("luisa@acme.mx")),
        "{joined}"
    );
    // Her retry is answered the same; anyone else with the code (even with her email) is not.
    let (status, again) = send(&app, as_luisa("luisa")).await;
    assert_eq!((status, &again["id"]), (201, &joined["id"]));
    assert_eq!(send(&app, as_luisa("otra-cuenta")).await.0, 404);
    let (_, me) = send(&app, ApiRequest::new("GET /v1/me").signed_in("luisa", "luisa@acme.mx")).await;
    assert_eq!((&me["role"], &me["tenant"]["id"]), (&json!("agent"), &json!("acme")), "{me}");
    let unknown = ApiRequest::new("POST /v1/invites/{code}/accept").param("code", "nada").as_user("x");
    assert_eq!(send(&app, unknown).await.0, 404, "an unknown code");
}

#[tokio::test]
async fn an_invite_whose_email_fails_is_withdrawn_and_can_be_made_again() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    for unavailable in [true, false] {
        let email = format!("pedro-{unavailable}@acme.mx");
        let postbox = Arc::new(Postbox::failing(1, unavailable));
        let app = app_mailing(core.clone(), postbox.clone());
        let invite = || {
            ApiRequest::new("POST /v1/members")
                .as_user(&owner)
                .header("idempotency-key", &format!("invitar-{unavailable}"))
                .json(json!({"email": email, "role": "viewer"}))
        };
        let (status, problem) = send(&app, invite()).await;
        // Busy: try again; refused (our sender's setup): our failure, not a retry's.
        assert_eq!(status, if unavailable { 503 } else { 500 }, "{problem}");
        assert!(postbox.sent().is_empty());
        // Nothing live is left behind: the invited person holds no invite.
        let tenant = gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        let held = |subject: String| {
            let table = core.table.clone();
            let tenant = tenant.clone();
            async move { personal::keys_of_subject(table.as_ref(), &tenant, &subject).await.unwrap_or_default() }
        };
        assert_eq!(held(invitee_subject(&email)).await, vec![]);
        // The same request again (same idempotency key) is tried anew, and goes out.
        let (status, made) = send(&app, invite()).await;
        assert_eq!(status, 201, "{made}");
        let code = made["code"].as_str().unwrap_or_default();
        assert!(postbox.sent().iter().any(|m| m.to == email && m.text.contains(code)));
        let accept = ApiRequest::new("POST /v1/invites/{code}/accept")
            .param("code", code)
            .signed_in(&format!("pedro-{unavailable}"), &email);
        let (status, joined) = send(&app, accept).await;
        assert_eq!(status, 201);
        // Accepted, the invite is found among the member's data, no longer under the email.
        assert_eq!(held(invitee_subject(&email)).await, vec![]);
        let theirs = held(joined["id"].as_str().unwrap_or_default().to_owned()).await;
        assert!(theirs.iter().any(|k| k.pk.starts_with("INVITE#")), "{theirs:?}");
    }
}

#[tokio::test]
async fn teams_list_their_members_and_their_members_list_them() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let agent = member(&core, "acme", "agent@acme.mx", Role::Agent).await;
    member(&core, "rival", "owner@rival.mx", Role::Owner).await;
    let app = app_over(core);
    let (_, list) = send(&app, ApiRequest::new("GET /v1/members").as_user(&owner)).await;
    let agent_id = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["email"] == "agent@acme.mx")
        .map(|m| m["id"].clone());
    let agent_id = agent_id.unwrap_or_default();
    let create = |who: &str, body: Value| ApiRequest::new("POST /v1/teams").as_user(who).json(body);
    assert_eq!(send(&app, create(&agent, json!({"name": "Ventas"}))).await.0, 403);
    let (status, team) =
        send(&app, create(&owner, json!({"name": "Ventas", "member_ids": [agent_id]}))).await;
    assert_eq!(status, 201, "{team}");
    let team_id = team["id"].as_str().unwrap_or_default().to_owned();
    let (_, me) = send(&app, ApiRequest::new("GET /v1/me").as_user(&agent)).await;
    assert_eq!(me["team_ids"], json!([team_id]), "{me}");
    // A member of another business cannot be added.
    let (_, rivals) = send(&app, ApiRequest::new("GET /v1/members").as_user("sub-owner@rival.mx")).await;
    let stranger = rivals["items"][0]["id"].clone();
    let patch = |body: Value| {
        ApiRequest::new("PATCH /v1/teams/{id}").param("id", &team_id).as_user(&owner).json(body)
    };
    let (status, problem) = send(&app, patch(json!({"member_ids": [stranger]}))).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (400, &json!("member_ids")), "{problem}");
    let (status, emptied) = send(&app, patch(json!({"name": "Ventas norte", "member_ids": []}))).await;
    assert_eq!((status, &emptied["name"], &emptied["version"]), (200, &json!("Ventas norte"), &json!(2)));
    let (_, me) = send(&app, ApiRequest::new("GET /v1/me").as_user(&agent)).await;
    assert_eq!(me["team_ids"], json!([]));
    let (_, teams) = send(&app, ApiRequest::new("GET /v1/teams").as_user("sub-owner@rival.mx")).await;
    assert_eq!(teams["items"], json!([]), "another business sees none of acme's teams");
    let delete = ApiRequest::new("DELETE /v1/teams/{id}").param("id", &team_id).as_user(&owner);
    assert_eq!(send(&app, delete).await.0, 204);
    let get = ApiRequest::new("GET /v1/teams/{id}").param("id", &team_id).as_user(&owner);
    assert_eq!(send(&app, get).await.0, 404);
}

#[tokio::test]
async fn a_session_is_recorded_once_and_then_costs_no_write_until_it_is_stale() {
    use gestor_shared::adapters::metered::{Metered, measure};
    let (core, _dir) = embedded_core();
    let metered = gestor_shared::http::Core::new(
        std::sync::Arc::new(Metered::new(core.table.clone())),
        &gestor_shared::settings::Settings::local_with(|_| None),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let agent = member(&core, "acme", "agent@acme.mx", Role::Agent).await;
    let app = app_over(metered);
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let request = |sub: &str| {
        ApiRequest::new("GET /v1/tenant")
            .as_user(sub)
            .header("user-agent", chrome)
            .header("x-timezone", "America/Monterrey")
            .header("cloudfront-viewer-country", "mx")
    };
    let ((status, _), first) = measure(send(&app, request(&owner))).await;
    assert_eq!(status, 200);
    let ((_, _), again) = measure(send(&app, request(&owner))).await;
    println!("first: {:?}\nagain: {:?}", first.requests, again.requests);
    // The first request of a session: member and settings, the session's transaction, the
    // settings route's own read. The next one: no session write at all.
    assert_eq!(first.request_count(), again.request_count() + 1, "{first:?} / {again:?}");
    assert!(!again.requests.contains(&"TransactWriteItems"), "{again:?}");

    let (status, sessions) = send(&app, ApiRequest::new("GET /v1/me/sessions").as_user(&owner)).await;
    assert_eq!(status, 200, "{sessions}");
    let items = sessions["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{sessions}");
    let session = &items[0];
    assert_eq!(session["device"], json!({"browser": "Chrome 131", "os": "Windows", "kind": "desktop"}));
    assert_eq!((&session["timezone"], &session["country"]), (&json!("America/Monterrey"), &json!("MX")));
    assert!(session["id"].as_str().is_some_and(|id| id.starts_with("se_")), "{session}");

    // Owners and admins list a member's sessions; an agent cannot list the owner's.
    let (_, me) = send(&app, ApiRequest::new("GET /v1/me").as_user(&owner)).await;
    let owner_id = me["id"].as_str().unwrap_or_default().to_owned();
    let sessions_of = |id: &str| ApiRequest::new("GET /v1/members/{id}/sessions").param("id", id);
    let by_agent = sessions_of(&owner_id).as_user(&agent);
    assert_eq!(send(&app, by_agent).await.0, 403);
    let by_owner = sessions_of(&owner_id).as_user(&owner);
    let (status, listed) = send(&app, by_owner).await;
    assert_eq!((status, listed["items"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    let unknown = sessions_of("mb_01J0000000000000000000000").as_user(&owner);
    assert_eq!(send(&app, unknown).await.0, 404);
}

#[test]
fn last_seen_is_written_again_only_after_fifteen_minutes() {
    use gestor_shared::repo::sessions::due;
    let now = time::OffsetDateTime::now_utc();
    let mut member = gestor_shared::repo::members::Member {
        id: gestor_shared::ids::MemberId::new(),
        sub: "s".into(),
        email: "a@b.mx".into(),
        name: "a".into(),
        role: Role::Admin,
        team_ids: vec![],
        created_at: now,
        sessions_seen: Default::default(),
    };
    assert!(due(&member, "se_1", now), "a new session");
    member.sessions_seen.insert("se_1".into(), (now - time::Duration::minutes(14)).unix_timestamp());
    assert!(!due(&member, "se_1", now));
    member.sessions_seen.insert("se_1".into(), (now - time::Duration::minutes(15)).unix_timestamp());
    assert!(due(&member, "se_1", now));
}

#[tokio::test]
async fn guessing_invite_codes_is_throttled_per_code_and_per_ip() {
    let (mut core, _dir) = embedded_core();
    // One window throughout, wherever the wall clock is.
    let fixed = time::macros::datetime!(2026-12-03 10:00:01 UTC);
    core.rate_limits = core.rate_limits.clone().with_clock(Arc::new(move || fixed));
    let app = app_over(core);
    let accept = |code: &str, user: &str| {
        ApiRequest::new("POST /v1/invites/{code}/accept").param("code", code).signed_in(user, "x@y.mx")
    };
    for n in 0..10 {
        let (status, answer) = send(&app, accept("codigo-falso", &format!("u{n}"))).await;
        assert_eq!(status, 404, "{answer}");
    }
    let response = serve(&app, accept("codigo-falso", "u10").build()).await;
    assert_eq!(response.status().as_u16(), 429);
    let retry: u32 =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // Other codes from the same IP, up to the IP's 30 in the window (the refused one counted).
    for n in 0..19 {
        assert_eq!(send(&app, accept(&format!("otro-{n}"), "u")).await.0, 404, "{n}");
    }
    assert_eq!(send(&app, accept("otro-mas", "u")).await.0, 429, "the IP's limit");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let app = app_over(core);
    for request in [ApiRequest::new("GET /v1/tenant").as_user(&owner), ApiRequest::new("GET /v1/tenant")] {
        let response = serve(&app, request.build()).await;
        let headers = response.headers();
        for name in [
            "strict-transport-security",
            "x-content-type-options",
            "cache-control",
            "content-security-policy",
        ] {
            assert!(headers.contains_key(name), "{name} on a {}", response.status());
        }
        assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    }
}

#[tokio::test]
async fn a_sign_in_is_recorded_once_even_when_its_first_requests_race_or_the_member_forgot_it() {
    let (core, _dir) = embedded_core();
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let app = app_over(core.clone());
    let request = |token: &str| ApiRequest::new("GET /v1/tenant").as_user(&owner).token_id(token);
    // A browser's first requests of a sign-in, all at once.
    let (a, b, c) = tokio::join!(
        send(&app, request("t-race")),
        send(&app, request("t-race")),
        send(&app, request("t-race"))
    );
    assert_eq!((a.0, b.0, c.0), (200, 200, 200));
    // More sign-ins than the member item remembers, then the first one again.
    for n in 0..10 {
        send(&app, request(&format!("t-{n}"))).await;
    }
    send(&app, request("t-race")).await;
    let (_, sessions) = send(&app, ApiRequest::new("GET /v1/me/sessions").as_user(&owner)).await;
    // Eleven, and the sign-in this list request came with.
    assert_eq!(sessions["items"].as_array().map(Vec::len), Some(12), "{sessions}");
    let audit = gestor_shared::repo::audit::AuditRepo::new(core.table.clone());
    let filter =
        gestor_shared::repo::audit::AuditFilter { action: Some("auth.sign_in".into()), ..Default::default() };
    let (entries, _) = audit.list(&core_tenant(), &filter, 100, None).await.unwrap_or_default();
    assert_eq!(entries.len(), 12, "one sign-in per session");
}

fn core_tenant() -> gestor_shared::domain::TenantId {
    gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"))
}
