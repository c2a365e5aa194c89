//! The audit log as the dispatcher writes it for every function: every successful mutation
//! and every denied request, read back through `GET /v1/audit-log` by owners and admins only.

use gestor_shared::http::{Function, Role, serve};
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};
use serde_json::{Value, json};

struct World {
    core: gestor_shared::http::Core,
    contacts: gestor_contacts::Contacts,
    audit: gestor_audit::Audit,
    members: gestor_members::Members,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (core, dir) = embedded_core();
    World {
        contacts: gestor_contacts::Contacts::new(
            core.clone(),
            std::sync::Arc::new(gestor_shared::adapters::local_files::LocalFiles::new(
                dir.path().join("files"),
                "http://127.0.0.1:0",
                b"k".to_vec(),
            )),
        ),
        audit: gestor_audit::Audit::new(core.clone()),
        members: gestor_members::Members::new(
            core.clone(),
            std::sync::Arc::new(gestor_shared::testing::doubles::Postbox::default()),
            "http://127.0.0.1:0",
        ),
        core,
        _dir: dir,
    }
}

async fn call(function: &dyn Function, request: ApiRequest) -> (u16, Value) {
    answer(serve(function, request.build()).await)
}

/// The page's actions, sorted: a denied entry stands at its window's start, so where it sorts
/// among the others depends on when the window began.
fn sorted_actions(page: &Value) -> Vec<String> {
    let mut found = actions(page);
    found.sort();
    found
}

fn entry<'a>(page: &'a Value, action: &str) -> &'a Value {
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["action"] == action))
        .unwrap_or(&Value::Null)
}

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn mutations_and_denials_are_recorded_without_values() {
    let w = world().await;
    let owner = member(&w.core, "acme", "owner@acme.mx", Role::Owner).await;
    let viewer = member(&w.core, "acme", "viewer@acme.mx", Role::Viewer).await;

    let (_, contact) = call(
        &w.contacts,
        ApiRequest::new("POST /v1/contacts")
            .as_user(&owner)
            .json(json!({"name": "Ana", "phones": ["+525512345678"]})),
    )
    .await;
    let id = contact["id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = call(
        &w.contacts,
        ApiRequest::new("PATCH /v1/contacts/{id}")
            .param("id", &id)
            .as_user(&owner)
            .json(json!({"name": "Ana María"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) =
        call(&w.contacts, ApiRequest::new("DELETE /v1/contacts/{id}").param("id", &id).as_user(&viewer))
            .await;
    assert_eq!(status, 403);
    let (status, _) = call(&w.audit, ApiRequest::new("GET /v1/audit-log").as_user(&viewer)).await;
    assert_eq!(status, 403);
    // Reads are not audited.
    let (status, _) = call(&w.contacts, ApiRequest::new("GET /v1/contacts").as_user(&owner)).await;
    assert_eq!(status, 200);

    let (status, page) = call(&w.audit, ApiRequest::new("GET /v1/audit-log").as_user(&owner)).await;
    assert_eq!(status, 200, "{page}");
    // The viewer's two refusals (two kinds of resource) and both members' sign-ins.
    assert_eq!(
        sorted_actions(&page),
        vec![
            "auth.denied",
            "auth.denied",
            "auth.sign_in",
            "auth.sign_in",
            "contact.create",
            "contact.update"
        ]
    );
    let update = entry(&page, "contact.update");
    assert_eq!(update["resource"], json!({"type": "contact", "id": id}));
    assert_eq!(update["changed_fields"], json!(["name"]));
    assert_eq!(update["outcome"], "ok");
    assert_eq!(update["actor"]["type"], "member");
    assert_eq!(update["ip"], "203.0.113.7");
    assert_eq!(update["user_agent"], "handler-test");
    assert!(update["request_id"].as_str().is_some_and(|r| r.starts_with("req-")));
    let denied: Vec<&Value> =
        page["items"].as_array().into_iter().flatten().filter(|e| e["action"] == "auth.denied").collect();
    assert!(
        denied
            .iter()
            .any(|d| d["outcome"] == "denied" && d["resource"]["id"] == id.as_str() && d["count"] == 1),
        "{denied:?}"
    );
    // Names of fields, never their values.
    assert!(!page.to_string().contains("Ana María"));
    assert!(!page.to_string().contains("5512345678"));

    let (_, me) = call(&w.members, ApiRequest::new("GET /v1/me").as_user(&viewer)).await;
    let viewer_id = me["id"].as_str().unwrap_or_default().to_owned();
    let by_actor = |actor: &str| ApiRequest::new("GET /v1/audit-log").as_user(&owner).query("actor", actor);
    let (_, page) = call(&w.audit, by_actor(&viewer_id)).await;
    assert_eq!(sorted_actions(&page), vec!["auth.denied", "auth.denied", "auth.sign_in"]);
    let (_, page) =
        call(&w.audit, ApiRequest::new("GET /v1/audit-log").as_user(&owner).query("resource", &id)).await;
    assert_eq!(sorted_actions(&page), vec!["auth.denied", "contact.create", "contact.update"]);
    let typed = format!("contact:{id}");
    let (_, page) =
        call(&w.audit, ApiRequest::new("GET /v1/audit-log").as_user(&owner).query("resource", &typed)).await;
    assert_eq!(actions(&page).len(), 3, "a resource named with its type");
    let (_, page) = call(
        &w.audit,
        ApiRequest::new("GET /v1/audit-log").as_user(&owner).query("action", "contact.create"),
    )
    .await;
    assert_eq!(actions(&page), vec!["contact.create"]);
    let (_, page) = call(
        &w.audit,
        ApiRequest::new("GET /v1/audit-log")
            .as_user(&owner)
            .query("from", "2000-01-01")
            .query("to", "2000-12-31"),
    )
    .await;
    assert_eq!(actions(&page), Vec::<String>::new());
    let (status, _) =
        call(&w.audit, ApiRequest::new("GET /v1/audit-log").as_user(&owner).query("from", "yesterday")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn audit_pages_follow_cursors() {
    let w = world().await;
    let owner = member(&w.core, "acme", "owner@acme.mx", Role::Owner).await;
    for n in 0..7 {
        let (status, _) = call(
            &w.contacts,
            ApiRequest::new("POST /v1/contacts").as_user(&owner).json(json!({"name": format!("C{n}")})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut request = ApiRequest::new("GET /v1/audit-log").as_user(&owner).query("limit", "3");
        if let Some(c) = &cursor {
            request = request.query("cursor", c);
        }
        let (status, page) = call(&w.audit, request).await;
        assert_eq!(status, 200, "{page}");
        total += page["items"].as_array().map(Vec::len).unwrap_or(0);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    // Seven creations and the owner's sign-in.
    assert_eq!(total, 8);
}

#[tokio::test]
async fn me_tells_role_permissions_and_tenants() {
    let w = world().await;
    let agent = member(&w.core, "acme", "agent@acme.mx", Role::Agent).await;
    let (status, me) = call(&w.members, ApiRequest::new("GET /v1/me").as_user(&agent)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "agent");
    assert_eq!(me["tenant"]["id"], "acme");
    assert_eq!(me["tenant"]["timezone"], "America/Mexico_City");
    assert_eq!(
        me["permissions"],
        json!([
            "contacts.read",
            "contacts.write",
            "channels.read",
            "conversations.read",
            "conversations.write"
        ])
    );
    assert_eq!(me["modules"].as_array().map(Vec::len), Some(8));

    assert_eq!(me["memberships"], json!([{"tenant_id": "acme", "tenant_name": "acme", "role": "agent"}]));

    // A second business: naming none answers the list to choose from, and nothing else.
    member(&w.core, "otra", "agent@acme.mx", Role::Admin).await;
    let (status, body) = call(&w.members, ApiRequest::new("GET /v1/me").as_user(&agent)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"memberships": [
            {"tenant_id": "acme", "tenant_name": "acme", "role": "agent"},
            {"tenant_id": "otra", "tenant_name": "otra", "role": "admin"},
        ]})
    );
    // Other routes still need the business named.
    let (status, body) = call(&w.contacts, ApiRequest::new("GET /v1/contacts").as_user(&agent)).await;
    assert_eq!(status, 400, "{body}");
    let (status, me) =
        call(&w.members, ApiRequest::new("GET /v1/me").as_user(&agent).header("x-tenant-id", "otra")).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));
    assert_eq!(me["memberships"].as_array().map(Vec::len), Some(2));
    let (status, _) =
        call(&w.members, ApiRequest::new("GET /v1/me").as_user(&agent).header("x-tenant-id", "nope#x")).await;
    assert_eq!(status, 400);
    // Someone signed in who belongs to no business yet: nothing to choose, which the frontend
    // turns into sign-up; elsewhere they are no member.
    let (status, body) = call(&w.members, ApiRequest::new("GET /v1/me").as_user("nobody")).await;
    assert_eq!((status, body), (200, json!({"memberships": []})));
    let (status, _) = call(&w.contacts, ApiRequest::new("GET /v1/contacts").as_user("nobody")).await;
    assert_eq!(status, 403);
}
