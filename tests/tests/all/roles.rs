//! Every role against every route, through the local server: a route whose policy names a
//! permission answers 403 to each role the matrix (`shared/src/domain/access.rs`, the
//! README's table) denies it, and never 403 to a role it allows. Generated from the function
//! registry, so a new route is checked the day it lands.

use gestor_local::BackendKind;
use gestor_registry::FUNCTIONS;
use gestor_shared::domain::Role;
use gestor_shared::http::Access;
use gestor_shared::registry::Serves;
use reqwest::StatusCode;
use serde_json::json;

use crate::local_server::{local_settings, start};

/// A route's path with its parameters naming nothing.
fn path_of(template: &str) -> String {
    template
        .split('/')
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some("code") => "an-invite-code-that-does-not-exist".to_owned(),
            Some("channel") => "whatsapp".to_owned(),
            Some(_) => "zz_01J0000000000000000000000".to_owned(),
            None => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn each_role_is_refused_exactly_what_the_matrix_denies_it_on_every_route() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, local_settings()).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let email = format!("{}@tienda.mx", role.as_str());
        tokens.push((role, server.token("tienda-roles", &email, role.as_str()).await));
    }
    let (mut refused, mut allowed) = (0, 0);
    for declaration in FUNCTIONS {
        let Serves::Http(part) = &declaration.serves else { continue };
        for route in (part.routes)() {
            let Access::Permission(permission) = route.access else { continue };
            let (method, template) = route.key.split_once(' ').unwrap_or(("GET", route.key.as_str()));
            let path = path_of(template);
            for (role, token) in &tokens {
                let body = matches!(method, "POST" | "PATCH" | "PUT").then(|| json!({}));
                let (status, answer) = server.send(method, &path, Some(token), body).await;
                if role.allows(permission) {
                    assert_ne!(status, StatusCode::FORBIDDEN, "{} as {role:?}: {answer}", route.key);
                    assert!(status.as_u16() < 500, "{} as {role:?}: {status} {answer}", route.key);
                    allowed += 1;
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{} as {role:?}: {answer}", route.key);
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 40 && allowed > 60, "refused {refused}, allowed {allowed}");
}
