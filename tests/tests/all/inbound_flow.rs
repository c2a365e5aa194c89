//! Black-box: a business connects WhatsApp, a customer writes, and the signed webhook comes in
//! through the local server; the worker running in the server turns it into a contact, a
//! conversation and a message that the API shows.

use gestor_local::BackendKind;
use gestor_shared::settings::Setting;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::local_server::{local_settings, meta_signature, start};

const PHONE_NUMBER_ID: &str = "106540352242922";

#[tokio::test]
async fn a_signed_whatsapp_message_reaches_the_inbox() {
    let graph = MockServer::start().await;
    crate::local_server::graph_controls_number(&graph, PHONE_NUMBER_ID).await;
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;

    let owner = server.token("tienda-1", "duena@tienda.mx", "owner").await;
    let (status, channel) = server
        .send(
            "POST",
            "/v1/channels",
            Some(&owner),
            Some(json!({"kind": "whatsapp", "external_id": PHONE_NUMBER_ID, "access_token": "EAAG-business-token", "display_name": "Tienda"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert!(channel.get("access_token").is_none());

    // As Meta sends it: non-ASCII escaped, signed over these exact bytes.
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550000000","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Mar\u00eda N\u00fa\u00f1ez"}},"wa_id":"5215512345678"}}],"messages":[{{"from":"5215512345678","id":"wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFDNBMDdGMjQ2","timestamp":"1795860000","text":{{"body":"Hola, \u00bftienen env\u00edos?"}},"type":"text"}}]}},"field":"messages"}}]}}]}}"#
    );
    let deliver = |signature: String| {
        server
            .http
            .post(format!("{}/webhooks/whatsapp", server.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.clone())
            .send()
    };
    let refused =
        deliver(meta_signature("not-the-secret", body.as_bytes())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let accepted =
            deliver(meta_signature(&secret, body.as_bytes())).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(accepted.status(), StatusCode::OK);
    }

    // The worker runs beside the server: wait for it, bounded.
    let mut conversations = Value::Null;
    for _ in 0..750 {
        let (_, page) = server.send("GET", "/v1/conversations", Some(&owner), None).await;
        if page["items"].as_array().is_some_and(|items| !items.is_empty()) {
            conversations = page;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let items = conversations["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "one conversation: {conversations}");
    assert_eq!(items[0]["channel"], "whatsapp");
    assert_eq!(items[0]["unread_count"], 1);
    let id = items[0]["id"].as_str().unwrap_or_default();
    let (status, messages) =
        server.send("GET", &format!("/v1/conversations/{id}/messages"), Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    assert_eq!(
        messages["items"].as_array().map(Vec::len),
        Some(1),
        "delivered twice, stored once: {messages}"
    );
    assert_eq!(messages["items"][0]["text"], "Hola, ¿tienen envíos?");
    assert_eq!(messages["items"][0]["direction"], "in");

    let (_, contacts) = server.send("GET", "/v1/contacts?phone=%2B525512345678", Some(&owner), None).await;
    assert_eq!(contacts["items"][0]["name"], "María Núñez");
    assert_eq!(contacts["items"][0]["identities"][0]["channel"], "whatsapp");
}
