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
