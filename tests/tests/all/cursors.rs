//! Cursors through the local server, on every list route the OpenAPI document gives a
//! `cursor` parameter: a forged one, one of another business, and one of another query are
//! all refused with 400, and nothing answers 500.

use gestor_local::BackendKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::local_server::{local_settings, start};

/// The paths (templates with `{id}` left in) of the GET operations that take a `cursor`.
fn paginated() -> Vec<String> {
    let doc = serde_json::to_value(gestor_registry::openapi()).unwrap_or_default();
    let mut paths = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let params = item["get"]["parameters"].as_array().cloned().unwrap_or_default();
        let takes_cursor = params
            .iter()
            .any(|p| p["name"] == "cursor" || p["$ref"].as_str().is_some_and(|r| r.ends_with("/cursor")));
        if takes_cursor {
            paths.push(path.clone());
        }
    }
    paths
}

#[tokio::test]
async fn forged_foreign_and_other_query_cursors_are_refused_on_every_list() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, local_settings()).await;
    let a = server.token("tienda-a", "duena@a.mx", "owner").await;
    let b = server.token("tienda-b", "duena@b.mx", "owner").await;
    for name in ["Uno", "Dos", "Tres"] {
        let (status, _) = server.send("POST", "/v1/contacts", Some(&a), Some(json!({"name": name}))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, page) = server.send("GET", "/v1/contacts?limit=1", Some(&a), None).await;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "a real cursor of business A: {page}");
    // A list under an id names a conversation of nobody: 404 or 400, never 500.
    let conversation_id = "cv_01J0000000000000000000000";

    let paths = paginated();
    assert!(paths.len() >= 4, "the lists: {paths:?}");
    let forged = [
        "not-a-cursor".to_owned(),
        format!("{cursor}x"),
        cursor.chars().rev().collect::<String>(),
        "eyJ0IjoidGllbmRhLWIifQ".to_owned(),
    ];
    for template in &paths {
        let path = template.replace("{id}", conversation_id);
        for bad in &forged {
            let (status, answer) = server.send("GET", &format!("{path}?cursor={bad}"), Some(&b), None).await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
                "{path} with a forged cursor: {status} {answer}"
            );
            assert_eq!(answer["status"].as_u64(), Some(u64::from(status.as_u16())), "{answer}");
        }
        // Business A's cursor, used by business B (on the same list or another one).
        let (status, answer) = server.send("GET", &format!("{path}?cursor={cursor}"), Some(&b), None).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{path} with another business's cursor: {status} {answer}"
        );
        if !template.contains("{id}") {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        }
    }
    // Business A's own cursor, on another query: refused too.
    let (status, answer) =
        server.send("GET", &format!("/v1/contacts?q=Dos&cursor={cursor}"), Some(&a), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) =
        server.send("GET", &format!("/v1/audit-log?cursor={cursor}"), Some(&a), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // And it still works where it belongs.
    let (status, next) =
        server.send("GET", &format!("/v1/contacts?limit=1&cursor={cursor}"), Some(&a), None).await;
    assert_eq!((status, next["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{next}");
}
