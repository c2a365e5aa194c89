//! Black-box: a customer's opposition, on the local server, as the business files it. The
//! owner files it for the contact's phone; the privacy worker (run by the local server from
//! the privacy queue) carries it out; the contacts API shows the restrictions, and the
//! request its result.

use reqwest::StatusCode;
use serde_json::json;

use crate::local_server::{local_settings, start};

#[tokio::test]
async fn an_opposition_filed_by_phone_reaches_the_contact() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(gestor_local::BackendKind::Embedded, dir.path(), None, local_settings()).await;
    let owner = server.token("optica", "duena@optica.mx", "owner").await;
    let (status, contact) = server
        .send(
            "POST",
            "/v1/contacts",
            Some(&owner),
            Some(json!({"name": "Rosa Díaz", "phones": ["+5215512340000"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let opposition = json!({"kind": "opposition", "subject": {"phone": "+52 1 55 1234 0000"},
                            "details": {"restrictions": ["marketing", "automation"]}});
    let (status, filed) = server.send("POST", "/v1/privacy/requests", Some(&owner), Some(opposition)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{filed}");
    assert_eq!(filed["subject"]["contact_id"], contact["id"]);
    let path = format!("/v1/privacy/requests/{}", filed["id"].as_str().unwrap_or_default());
    // The worker runs beside the API: wait for the whole outcome, bounded.
    let mut done = json!(null);
    for _ in 0..500 {
        let (_, request) = server.send("GET", &path, Some(&owner), None).await;
        if request["status"] == "completed" {
            done = request;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(done["result"]["restrictions"], json!(["marketing", "automation"]), "{done}");
    let contact_path = format!("/v1/contacts/{}", contact["id"].as_str().unwrap_or_default());
    let (_, shown) = server.send("GET", &contact_path, Some(&owner), None).await;
    assert_eq!(shown["restrictions"], json!(["marketing", "automation"]), "{shown}");
    let (status, listed) = server.send("GET", "/v1/privacy/requests", Some(&owner), None).await;
    assert_eq!((status, &listed["items"][0]["id"]), (StatusCode::OK, &filed["id"]));
}
