//! The committed OpenAPI document is the merge of every function's part, and it names exactly
//! the routes the functions serve. `UPDATE_OPENAPI=1 cargo test -p gestor-tests openapi`
//! rewrites the file after a deliberate change.

use gestor_registry::FUNCTIONS;
use gestor_shared::http::{Access, Route};
use std::collections::BTreeSet;

fn merged() -> utoipa::openapi::OpenApi {
    gestor_registry::openapi()
}

fn routes() -> impl Iterator<Item = &'static Route> {
    FUNCTIONS.iter().flat_map(|f| f.routes().iter())
}

fn document_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions/openapi/openapi.json")
}

#[test]
fn the_committed_document_is_the_merge_of_every_part() {
    let expected = gestor_openapi::render(&merged());
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(document_path(), &expected).unwrap_or_else(|e| panic!("writing the document: {e}"));
        return;
    }
    assert!(
        gestor_openapi::DOCUMENT == expected,
        "functions/openapi/openapi.json is stale: run UPDATE_OPENAPI=1 cargo test -p gestor-tests openapi"
    );
}

fn document_routes() -> BTreeSet<String> {
    let doc: serde_json::Value = serde_json::from_str(gestor_openapi::DOCUMENT)
        .unwrap_or_else(|e| panic!("the document is not JSON: {e}"));
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

#[test]
fn the_document_and_the_code_name_the_same_routes() {
    let code: BTreeSet<String> = routes().map(|r| r.key.clone()).collect();
    let documented = document_routes();
    let undocumented: Vec<_> = code.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&code).collect();
    assert!(undocumented.is_empty(), "routes served but not documented: {undocumented:?}");
    assert!(unserved.is_empty(), "routes documented but not served: {unserved:?}");
}

#[test]
fn public_routes_and_only_they_need_no_token() {
    let doc: serde_json::Value = serde_json::from_str(gestor_openapi::DOCUMENT).unwrap_or_default();
    for route in routes() {
        let operation = &doc["paths"][route.path()][route.method().to_lowercase()];
        let security = operation["security"].as_array().cloned().unwrap_or_default();
        let open =
            security.is_empty() || security.iter().any(|s| s.as_object().is_some_and(|o| o.is_empty()));
        assert_eq!(open, route.access == Access::Public, "{}: security {security:?}", route.key);
        if !open {
            let unauthorized =
                &operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                unauthorized, "#/components/schemas/GatewayUnauthorized",
                "{}: the gateway's 401",
                route.key
            );
        }
    }
}

#[test]
fn the_document_is_openapi_3_1_with_the_bearer_scheme() {
    let doc: serde_json::Value = serde_json::from_str(gestor_openapi::DOCUMENT).unwrap_or_default();
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3.1"));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["Contact"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[test]
fn every_write_takes_an_idempotency_key_and_the_document_says_so() {
    let doc: serde_json::Value = serde_json::from_str(gestor_openapi::DOCUMENT).unwrap_or_default();
    for route in routes() {
        // Channel webhooks are the providers' calls, deduplicated by their own ids.
        let write = route.method() != "GET" && route.access != Access::Public;
        assert_eq!(route.idempotent, write, "{}: writes, and only they, take Idempotency-Key", route.key);
        let operation = &doc["paths"][route.path()][route.method().to_lowercase()];
        let documented = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            .count();
        assert_eq!(
            documented,
            usize::from(route.idempotent),
            "{}: Idempotency-Key documented once",
            route.key
        );
    }
}
