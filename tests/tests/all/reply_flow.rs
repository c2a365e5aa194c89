//! Black-box: a customer writes on WhatsApp, an agent answers through the API, the sender in
//! the local server hands the reply to the channel (a local server standing in for the Graph
//! API) exactly once, and the channel's `read` status, signed like Meta's, shows on the reply.

use gestor_local::BackendKind;
use gestor_shared::settings::Setting;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::local_server::{Server, local_settings, meta_signature, start};

const PHONE_NUMBER_ID: &str = "106540352242922";
const WA_ID: &str = "5215512345678";

/// A WhatsApp webhook carrying `value` for the number, signed with `secret`, delivered.
async fn webhook(server: &Server, secret: &str, value: Value) {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": value}]}]})
    .to_string();
    let answer = server
        .http
        .post(format!("{}/webhooks/whatsapp", server.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(secret, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), StatusCode::OK);
}

/// The owner connects the number with `token`, and a customer writes to it: the
/// conversation's id, once the inbound worker stored it.
async fn customer_wrote(server: &Server, secret: &str, owner: &str, token: &str, text: &str) -> String {
    let connect = json!({"kind": "whatsapp", "external_id": PHONE_NUMBER_ID, "access_token": token});
    let (status, channel) = server.send("POST", "/v1/channels", Some(owner), Some(connect)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let metadata = json!({"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID});
    webhook(
        server,
        secret,
        json!({"messaging_product": "whatsapp", "metadata": metadata,
        "contacts": [{"profile": {"name": "María Núñez"}, "wa_id": WA_ID}],
        "messages": [{"from": WA_ID, "id": "wamid.IN1", "timestamp": (now - 60).to_string(), "type": "text",
                      "text": {"body": text}}]}),
    )
    .await;
    let inbox = eventually(server, owner, "/v1/conversations", |page| {
        page["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    inbox["items"][0]["id"].as_str().unwrap_or_default().to_owned()
}

/// Writes `body` in the conversation and waits until the sender has it `sent`: what the
/// local server's channel stand-in received last.
async fn sent_through(server: &Server, owner: &str, conversation: &str, body: Value) -> Value {
    let messages = format!("/v1/conversations/{conversation}/messages");
    let (status, reply) = server.send("POST", &messages, Some(owner), Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let reply_id = reply["id"].as_str().unwrap_or_default().to_owned();
    eventually(server, owner, &messages, |page| {
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["id"] == reply_id.as_str() && m["status"] == "sent")
    })
    .await;
    let outbox: Value = match server.http.get(format!("{}/dev/outbox", server.base)).send().await {
        Ok(answer) => answer.json().await.unwrap_or_default(),
        Err(e) => panic!("{e}"),
    };
    outbox[0].clone()
}

/// Asks until `done` holds for the answer (the server's workers are separate tasks), bounded.
async fn eventually(server: &Server, token: &str, route: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..750 {
        let (_, answer) = server.send("GET", route, Some(token), None).await;
        if done(&answer) {
            return answer;
        }
        last = answer;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{route} never got there: {last}");
}

#[tokio::test]
async fn an_agents_reply_reaches_the_customer_once_and_shows_read() {
    let graph = MockServer::start().await;
    crate::local_server::graph_controls_number(&graph, PHONE_NUMBER_ID).await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", "Bearer EAAG-business-token"))
        .and(body_partial_json(
            json!({"to": WA_ID, "type": "text", "text": {"body": "¡Claro! Enviamos a todo México."}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
            "messages": [{"id": "wamid.REPLY1", "message_status": "accepted"}]})))
        .expect(1)
        .mount(&graph)
        .await;
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;
    let owner = server.token("tienda-1", "duena@tienda.mx", "owner").await;
    let conversation =
        customer_wrote(&server, &secret, &owner, "EAAG-business-token", "Hola, ¿tienen envíos?").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let metadata = json!({"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID});
    let messages = format!("/v1/conversations/{conversation}/messages");

    let (status, reply) = server
        .send("POST", &messages, Some(&owner), Some(json!({"text": "¡Claro! Enviamos a todo México."})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["status"], "queued");
    let reply_id = reply["id"].as_str().unwrap_or_default().to_owned();
    let status_of = |page: &Value| {
        let items = page["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .find(|m| m["id"] == reply_id.as_str())
            .map(|m| m["status"].clone())
            .unwrap_or(Value::Null)
    };
    let sent = eventually(&server, &owner, &messages, |page| status_of(page) == "sent").await;
    let stored = sent["items"]
        .as_array()
        .and_then(|items| items.iter().find(|m| m["id"] == reply_id.as_str()).cloned());
    assert_eq!(stored.map(|m| m["channel_message_id"].clone()), Some(json!("wamid.REPLY1")));

    webhook(&server, &secret, json!({"messaging_product": "whatsapp", "metadata": metadata,
        "statuses": [{"id": "wamid.REPLY1", "status": "read", "timestamp": now.to_string(), "recipient_id": WA_ID}]}))
    .await;
    eventually(&server, &owner, &messages, |page| status_of(page) == "read").await;
    // The mock's expectation (exactly one send) is checked when it drops.
}

/// TikTok: the customer writes (a webhook signed as TikTok signs), the agent answers, and the
/// local server's TikTok stand-in receives the send into the conversation TikTok named.
#[tokio::test]
async fn a_tiktok_reply_goes_to_the_conversation_the_customers_message_named() {
    const BUSINESS: &str = "-000BusinessOpenId";
    const CONVERSATION: &str = "0:1:7400000000000000007:7400000000000000008";
    let settings = local_settings();
    let secret = settings.get(Setting::TiktokClientSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;
    let owner = server.token("tienda-1", "duena@tienda.mx", "owner").await;
    let connect = json!({"kind": "tiktok", "external_id": BUSINESS, "access_token": "tt-business-token"});
    let (status, channel) = server.send("POST", "/v1/channels", Some(&owner), Some(connect)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let content = json!({"type": "text", "message_id": "7400000000000000009", "conversation_id": CONVERSATION,
        "timestamp": (now - 30) * 1000, "from_user": {"id": "tt-customer-1", "role": "personal_account"},
        "to_user": {"id": BUSINESS, "role": "business_account"}, "text": {"body": "¿Tienen talla M?"}});
    let body = json!({"client_key": "local-client", "event": "im_receive_msg", "create_time": now,
        "user_openid": BUSINESS, "content": content.to_string()})
    .to_string();
    let signed = gestor_webhooks::signature::sign_tiktok(&secret, now.unsigned_abs(), body.as_bytes());
    let answer = server
        .http
        .post(format!("{}/webhooks/tiktok", server.base))
        .header("content-type", "application/json")
        .header("tiktok-signature", signed)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), StatusCode::OK);
    let inbox = eventually(&server, &owner, "/v1/conversations", |page| {
        page["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    let conversation = inbox["items"][0]["id"].as_str().unwrap_or_default().to_owned();
    let sent = sent_through(&server, &owner, &conversation, json!({"text": "Sí, hay talla M"})).await;
    assert_eq!(sent["path"], "/dev/tiktok/business/message/send/");
    assert_eq!(
        sent["body"],
        json!({"business_id": BUSINESS, "recipient_type": "CONVERSATION", "recipient": CONVERSATION,
               "message_type": "TEXT", "text": {"body": "Sí, hay talla M"}})
    );
}

/// A file: the frontend asks for an upload link, PUTs the file to it (the local server
/// stands in for S3), and sends it by `file_id`; the channel gets a link to the message's
/// own copy, which serves the bytes.
#[tokio::test]
async fn an_uploaded_file_reaches_the_channel_as_a_link_to_its_bytes() {
    let settings = local_settings();
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;
    let owner = server.token("tienda-1", "duena@tienda.mx", "owner").await;
    let conversation =
        customer_wrote(&server, &secret, &owner, "EAAG-token", "¿Me mandas la lista de precios?").await;

    let pdf = b"%PDF-1.7 lista de precios".to_vec();
    let announce = json!({"content_type": "application/pdf", "size": pdf.len(), "filename": "Precios.pdf"});
    let (status, link) = server.send("POST", "/v1/uploads", Some(&owner), Some(announce)).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let upload_url = link["upload_url"].as_str().unwrap_or_default();
    let put = |content_type: &'static str| {
        server.http.put(upload_url).header("content-type", content_type).body(pdf.clone()).send()
    };
    let refused = put("image/png").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "the link is for a PDF only");
    let stored = put("application/pdf").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.status(), StatusCode::OK);

    let reply = json!({"media": {"file_id": link["file_id"], "caption": "Aquí está"}});
    let sent = sent_through(&server, &owner, &conversation, reply).await;
    let document = &sent["body"]["document"];
    assert_eq!((&document["caption"], &document["filename"]), (&json!("Aquí está"), &json!("Precios.pdf")));
    let file = server.http.get(document["link"].as_str().unwrap_or_default()).send().await;
    let file = file.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.bytes().await.map(|b| b.to_vec()).ok(), Some(pdf));
}
