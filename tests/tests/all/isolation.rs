//! Tenant isolation, over every route the registry declares, through the local server: a
//! member of one business who names another (`X-Tenant-Id`) is refused on every route that
//! needs a login, and no route answers 500 to ids that name nothing.

use gestor_local::BackendKind;
use gestor_registry::FUNCTIONS;
use gestor_shared::http::Access;
use gestor_shared::registry::Serves;
use reqwest::StatusCode;
use serde_json::json;

use crate::local_server::{local_settings, start};

/// An id of the right shape for a route parameter, naming nothing.
fn nothing(param: &str) -> String {
    match param {
        "code" => "an-invite-code-that-does-not-exist".into(),
        "channel" => "whatsapp".into(),
        _ => "zz_01J0000000000000000000000".into(),
    }
}

#[tokio::test]
async fn no_route_lets_a_member_of_one_business_into_another_or_fails_on_a_stranger_id() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, local_settings()).await;
    let _victim = server.token("tienda-a", "duena@a.mx", "owner").await;
    let intruder = server.token("tienda-b", "duena@b.mx", "owner").await;
    let mut checked = 0;
    for declaration in FUNCTIONS {
        let Serves::Http(part) = &declaration.serves else { continue };
        for route in (part.routes)() {
            if route.access == Access::Public {
                continue;
            }
            let (method, template) = route.key.split_once(' ').unwrap_or(("GET", route.key.as_str()));
            let path: String = template
                .split('/')
                .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(param) => nothing(param),
                    None => s.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let body = matches!(method, "POST" | "PATCH" | "PUT").then(|| json!({}));
            let foreign = [("x-tenant-id", "tienda-a")];
            let (status, answer) =
                server.send_with(method, &path, Some(&intruder), body.clone(), &foreign).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{} naming another business: {answer}", route.key);
            let (status, answer) = server.send(method, &path, Some(&intruder), body).await;
            assert!(
                status.as_u16() < 500,
                "{} on its own business with ids of nothing: {status} {answer}",
                route.key
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "every route with a login was tried ({checked})");
}

/// A business's own ids, used by another business: every route with an id refuses to find
/// them (and changes nothing), and no list shows them.
#[tokio::test]
async fn another_business_ids_are_found_by_no_route_and_shown_in_no_list() {
    let settings = local_settings();
    let secret = settings.get(gestor_shared::settings::Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;
    let victim = server.token("tienda-a", "duena@a.mx", "owner").await;
    let intruder = server.token("tienda-b", "duena@b.mx", "owner").await;

    // The victim's resources: a contact, a channel with a conversation, a team, its owner.
    let (_, contact) =
        server.send("POST", "/v1/contacts", Some(&victim), Some(json!({"name": "Ana López"}))).await;
    let channel = json!({"tenant_id": "tienda-a", "kind": "whatsapp", "external_id": "106540352242922"});
    let (_, channel) = server.send("POST", "/dev/channel", None, Some(channel)).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Beto"}, "wa_id": "5215512345678"}],
        "messages": [{"from": "5215512345678", "id": "wamid.ISO1", "timestamp": now.to_string(), "type": "text",
                      "text": {"body": "Hola"}}]}}]}]})
    .to_string();
    let signed = crate::local_server::meta_signature(&secret, body.as_bytes());
    let posted = server
        .http
        .post(format!("{}/webhooks/whatsapp", server.base))
        .header("x-hub-signature-256", signed)
        .body(body)
        .send()
        .await;
    assert!(posted.is_ok_and(|r| r.status() == StatusCode::OK));
    let mut conversation = serde_json::Value::Null;
    for _ in 0..500 {
        let (_, inbox) = server.send("GET", "/v1/conversations", Some(&victim), None).await;
        if inbox["items"][0]["id"].is_string() {
            conversation = inbox["items"][0]["id"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, team) = server.send("POST", "/v1/teams", Some(&victim), Some(json!({"name": "Ventas"}))).await;
    let (_, me) = server.send("GET", "/v1/me", Some(&victim), None).await;
    let ids = [
        ("contacts", contact["id"].as_str().unwrap_or_default().to_owned()),
        ("channels", channel["id"].as_str().unwrap_or_default().to_owned()),
        ("conversations", conversation.as_str().unwrap_or_default().to_owned()),
        ("teams", team["id"].as_str().unwrap_or_default().to_owned()),
        ("members", me["id"].as_str().unwrap_or_default().to_owned()),
    ];
    assert!(ids.iter().all(|(_, id)| id.len() > 10), "{ids:?}");

    let mut tried = 0;
    for declaration in FUNCTIONS {
        let Serves::Http(part) = &declaration.serves else { continue };
        for route in (part.routes)() {
            let (method, template) = route.key.split_once(' ').unwrap_or(("GET", route.key.as_str()));
            let Some((kind, id)) =
                ids.iter().find(|(kind, _)| template.starts_with(&format!("/v1/{kind}/{{id}}")))
            else {
                continue;
            };
            let path = template.replace("{id}", id);
            // A body each route takes, so that only the id can be what it refuses.
            let body = match (*kind, method) {
                (_, "GET" | "DELETE") => None,
                ("conversations", "PATCH") => Some(json!({"status": "resolved"})),
                ("conversations", _) => Some(json!({"text": "hola"})),
                ("members", _) => Some(json!({"role": "agent"})),
                _ => Some(json!({"name": "x"})),
            };
            let (status, answer) = server.send(method, &path, Some(&intruder), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{} with the other business's id: {answer}", route.key);
            tried += 1;
        }
    }
    assert!(tried >= 12, "routes with an id tried: {tried}");
    // Nothing of the victim's changed or went, and no list of the intruder's shows it.
    for (kind, id) in &ids {
        let (status, _) = server.send("GET", &format!("/v1/{kind}/{id}"), Some(&victim), None).await;
        assert_eq!(status, StatusCode::OK, "the victim's {kind} {id} is still there");
        let (_, list) = server.send("GET", &format!("/v1/{kind}"), Some(&intruder), None).await;
        assert!(!list.to_string().contains(id.as_str()), "the intruder's {kind} list shows {id}: {list}");
    }
    // Nor do the intruder's other lists: its log, templates and sessions.
    for list in ["/v1/audit-log", "/v1/templates", "/v1/me/sessions", "/v1/members", "/v1/teams"] {
        let (status, answer) = server.send("GET", list, Some(&intruder), None).await;
        assert_eq!(status, StatusCode::OK, "{list}: {answer}");
        let shown = answer.to_string();
        for (kind, id) in &ids {
            assert!(!shown.contains(id.as_str()), "{list} shows the victim's {kind} {id}: {answer}");
        }
        assert!(!shown.contains("tienda-a") && !shown.contains("duena@a.mx"), "{list}: {answer}");
    }
}
