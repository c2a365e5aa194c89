//! Black-box: the canary. A customer with strings found nowhere else writes on WhatsApp
//! (text, an image the worker downloads, an early status, a delivery so broken it is
//! quarantined), gets a reply and a private note, and has an email added by an agent. Their
//! cancellation is filed; webhooks for them keep coming while it runs. Once it completed, a
//! full scan of the table, a listing (and reading) of every object in the bucket, every
//! queue and every log line the process wrote find none of the canary's strings, and the API
//! answers 404 for the contact and the conversation. On both adapters.
//!
//! Because it scans rather than asks the subject index, an item type that forgets to mark
//! itself with its person fails here.

use gestor_local::BackendKind;
use gestor_shared::backend::Backend;

use gestor_shared::settings::{Setting, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::local_server::{Server, local_settings, meta_signature, start};

pub(crate) const PHONE_NUMBER_ID: &str = "106540352242922";
pub(crate) const WA_ID: &str = "5215598761234";
const NAME: &str = "Canarioq7x Zúñiga";
const EMAIL: &str = "canario.q7x@correo.mx";
/// What must be nowhere once the erasure completed.
const CANARY: [&str; 6] = ["Canarioq7x", "5598761234", "canario.q7x", "secretoq7x", "jpegq7x", "CANARYQ7X"];

/// A WhatsApp delivery of `value` for the number, signed; `raw` overrides the body.
pub(crate) async fn webhook(server: &Server, secret: &str, value: Value, raw: Option<&str>) -> Value {
    let body = raw.map(str::to_owned).unwrap_or_else(|| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"field": "messages", "value": value}]}]})
        .to_string()
    });
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
    answer.json().await.unwrap_or_default()
}

fn metadata() -> Value {
    json!({"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID})
}

pub(crate) fn message(from: &str, id: &str, at: i64, content: Value) -> Value {
    let name = if from == WA_ID { NAME } else { "Otro Cliente" };
    let mut message = json!({"from": from, "id": id, "timestamp": at.to_string()});
    if let (Some(m), Some(c)) = (message.as_object_mut(), content.as_object()) {
        m.extend(c.clone());
    }
    json!({"messaging_product": "whatsapp", "metadata": metadata(),
           "contacts": [{"profile": {"name": name}, "wa_id": from}], "messages": [message]})
}

fn status_of(id: &str, status: &str, at: i64) -> Value {
    json!({"messaging_product": "whatsapp", "metadata": metadata(),
           "statuses": [{"id": id, "status": status, "timestamp": at.to_string(), "recipient_id": WA_ID}]})
}

/// Asks until `done` holds for the answer (the server's workers are separate tasks), bounded.
pub(crate) async fn eventually(
    server: &Server,
    token: &str,
    route: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..1000 {
        let (_, answer) = server.send("GET", route, Some(token), None).await;
        if done(&answer) {
            return answer;
        }
        last = answer;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{route} never got there: {last}");
}

pub(crate) async fn graph() -> MockServer {
    let graph = MockServer::start().await;
    crate::local_server::graph_controls_number(&graph, PHONE_NUMBER_ID).await;
    Mock::given(method("GET"))
        .and(path("/8877665544"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("{}/cdn/8877665544", graph.uri()), "mime_type": "image/jpeg", "file_size": 12})))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/cdn/8877665544"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"jpegq7x-data".to_vec(), "image/jpeg"))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
            "messages": [{"id": "wamid.CANARYQ7XOUT", "message_status": "accepted"}]})))
        .mount(&graph)
        .await;
    graph
}

/// Where each string of the canary was found: table items, objects, queue messages.
async fn leftovers(backend: &Backend, settings: &Settings, dead_letters: &[String]) -> Vec<String> {
    leftovers_of(&CANARY, backend, settings, dead_letters).await
}

/// Where each of `canary` was found: table items, objects (keys and bytes), queue messages.
pub(crate) async fn leftovers_of(
    canary: &[&str],
    backend: &Backend,
    settings: &Settings,
    dead_letters: &[String],
) -> Vec<String> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = backend.table.scan(500, start.take()).await.unwrap_or_else(|e| panic!("{e}"));
        for item in &page.items {
            let text = Value::Object(item.clone()).to_string();
            found.extend(canary.iter().filter(|c| text.contains(*c)).map(|c| format!("{c} in item {text}")));
        }
        match page.last_key {
            Some(last) => start = Some(last),
            None => break,
        }
    }
    for key in backend.files.list("").await.unwrap_or_else(|e| panic!("{e}")) {
        let bytes = backend.files.get(&key).await.map(|o| o.bytes).unwrap_or_default();
        let text = format!("{key} {}", String::from_utf8_lossy(&bytes));
        found.extend(canary.iter().filter(|c| text.contains(*c)).map(|c| format!("{c} in object {key}")));
    }
    let mut queues: Vec<String> = gestor_shared::resources::QUEUES
        .iter()
        .filter_map(|spec| settings.get(spec.url_setting).ok().map(str::to_owned))
        .collect();
    queues.extend(dead_letters.iter().cloned());
    for queue in queues {
        // A second's look: whatever a consumer holds comes back to it right after.
        let visible = std::time::Duration::from_secs(1);
        for message in backend.queue.receive(&queue, 10, visible).await.unwrap_or_default() {
            found.extend(
                canary.iter().filter(|c| message.body.contains(*c)).map(|c| format!("{c} in queue {queue}")),
            );
        }
    }
    found
}

/// The contact's access request carried out, its download fetched as a browser would (the
/// route's redirect, then the signed link with no token): the archive's `export.json`.
async fn exported(server: &Server, token: &str, contact: &str) -> Value {
    let access = json!({"kind": "access", "subject": {"contact_id": contact}});
    let (status, filed) = server.send("POST", "/v1/privacy/requests", Some(token), Some(access)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{filed}");
    let request = format!("/v1/privacy/requests/{}", filed["id"].as_str().unwrap_or_default());
    let done = eventually(server, token, &request, |r| r["status"] == "completed").await;
    let route = done["result"]["download_url"].as_str().unwrap_or_default().to_owned();
    let manual = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let answer = manual
        .get(format!("{}{route}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), StatusCode::FOUND, "{route}");
    let link = answer.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    let archive = reqwest::get(&link).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(archive.status(), StatusCode::OK, "{link}");
    let bytes = archive.bytes().await.unwrap_or_default().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
    let mut document = String::new();
    let mut file = zip.by_name("export.json").unwrap_or_else(|e| panic!("{e}"));
    std::io::Read::read_to_string(&mut file, &mut document).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&document).unwrap_or_default()
}

async fn the_canary_is_erased(server: &Server, settings: &Settings, dead_letters: &[String]) {
    let logs = gestor_shared::testing::logs::capture().unwrap_or_else(|| panic!("another log subscriber"));
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let owner = server.token("canario-shop", "duena@canario-shop.mx", "owner").await;
    let connect = json!({"kind": "whatsapp", "external_id": PHONE_NUMBER_ID, "access_token": "EAAG-token"});
    let (status, channel) = server.send("POST", "/v1/channels", Some(&owner), Some(connect)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // A status before its message (parked), the text, the image (downloaded), a delivery
    // that cannot be parsed (quarantined).
    webhook(server, &secret, status_of("wamid.CANARYQ7X2", "delivered", now - 50), None).await;
    let text = json!({"type": "text", "text": {"body": "hola, mi pedido secretoq7x"}});
    webhook(server, &secret, message(WA_ID, "wamid.CANARYQ7X1", now - 60, text), None).await;
    let image = json!({"type": "image", "image": {"id": "8877665544", "mime_type": "image/jpeg"}});
    webhook(server, &secret, message(WA_ID, "wamid.CANARYQ7X2", now - 55, image), None).await;
    let broken = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"value":{{"contacts":[{{"wa_id":"{WA_ID}""#
    );
    let answer = webhook(server, &secret, json!(null), Some(&broken)).await;
    assert_eq!(answer["quarantined"], true, "{answer}");

    let inbox = eventually(server, &owner, "/v1/conversations", |page| {
        page["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    let conversation = inbox["items"][0]["id"].as_str().unwrap_or_default().to_owned();
    let contact = inbox["items"][0]["contact_id"].as_str().unwrap_or_default().to_owned();
    let messages = format!("/v1/conversations/{conversation}/messages");
    let (status, _) =
        server.send("POST", &messages, Some(&owner), Some(json!({"text": "con gusto, secretoq7x"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let note = json!({"text": "nota interna secretoq7x", "private": true});
    let (status, _) = server.send("POST", &messages, Some(&owner), Some(note)).await;
    assert!(status.is_success(), "{status}");
    let contact_path = format!("/v1/contacts/{contact}");
    let (status, changed) =
        server.send("PATCH", &contact_path, Some(&owner), Some(json!({"emails": [EMAIL]}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    // Everything landed: both messages in, the image's file, the reply sent and read, the note.
    eventually(server, &owner, &messages, |page| {
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let downloaded = items.iter().any(|m| m["media"]["file_key"].is_string());
        let sent = items.iter().any(|m| m["channel_message_id"] == "wamid.CANARYQ7XOUT");
        items.len() == 4 && downloaded && sent
    })
    .await;
    webhook(server, &secret, status_of("wamid.CANARYQ7XOUT", "read", now), None).await;
    eventually(server, &owner, &messages, |page| {
        page["items"].as_array().into_iter().flatten().any(|m| m["status"] == "read")
    })
    .await;

    // A reply job that failed for good, in its dead-letter queue: the hourly drain keeps it
    // in the bucket under the business.
    let outbound = gestor_shared::resources::OUTBOUND;
    let dead =
        settings.get(outbound.url_setting).ok().and_then(|url| outbound.dlq_url(url)).unwrap_or_default();
    let job = json!({"kind": "send", "tenant": "canario-shop", "conversation_id": conversation, "recipient": WA_ID});
    let letter = gestor_shared::ports::OutgoingMessage::new("0", job.to_string())
        .group(&conversation)
        .dedup("canary-dead");
    server.backend.queue.send_batch(&dead, vec![letter]).await.unwrap_or_else(|e| panic!("{e}"));
    let drain = gestor_privacy::drain::Drain::new(
        &server.backend,
        settings,
        gestor_shared::metrics::Metrics::stdout(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let drained = drain.drain(time::OffsetDateTime::now_utc()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(drained.kept, 1, "{drained:?}");

    let export = exported(server, &owner, &contact).await;
    assert_eq!(export["contact"]["name"], NAME, "the export holds what was stored");
    assert_eq!(export["contact"]["emails"], json!([EMAIL]));
    assert_eq!(export["notes"][0]["text"], "nota interna secretoq7x");
    assert_eq!(export["messages"].as_array().map(Vec::len), Some(3), "two in, the reply");

    let cancellation = json!({"kind": "cancellation", "subject": {"contact_id": contact}});
    let (status, filed) = server.send("POST", "/v1/privacy/requests", Some(&owner), Some(cancellation)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{filed}");
    // Hidden at once, before the worker ran.
    for route in [contact_path.as_str(), &format!("/v1/conversations/{conversation}"), messages.as_str()] {
        assert_eq!(server.send("GET", route, Some(&owner), None).await.0, StatusCode::NOT_FOUND, "{route}");
    }
    let (_, by_phone) = server.send("GET", "/v1/contacts?phone=%2B5215598761234", Some(&owner), None).await;
    assert_eq!(by_phone["items"], json!([]), "{by_phone}");
    // Webhooks still in flight for the customer: a redelivery and statuses.
    webhook(
        server,
        &secret,
        message(
            WA_ID,
            "wamid.CANARYQ7X1",
            now - 60,
            json!({"type": "text",
        "text": {"body": "hola, mi pedido secretoq7x"}}),
        ),
        None,
    )
    .await;
    webhook(server, &secret, status_of("wamid.CANARYQ7X1", "read", now + 1), None).await;
    webhook(server, &secret, status_of("wamid.CANARYQ7XOUT", "read", now + 2), None).await;

    let request = format!("/v1/privacy/requests/{}", filed["id"].as_str().unwrap_or_default());
    let done = eventually(server, &owner, &request, |r| r["status"] == "completed").await;
    assert!(done["result"]["counts"]["messages"].as_u64().is_some_and(|n| n >= 4), "{done}");
    // A later customer, delivered after the in-flight ones: once it is in the inbox, those
    // were taken from the queue before it.
    let later = json!({"type": "text", "text": {"body": "otro cliente"}});
    webhook(server, &secret, message("5215500000001", "wamid.LATER1", now, later), None).await;
    eventually(server, &owner, "/v1/conversations", |page| {
        page["items"].as_array().is_some_and(|items| items.len() == 1)
    })
    .await;

    let exports = server.backend.files.list("canario-shop/exports/").await.unwrap_or_default();
    assert_eq!(exports, Vec::<String>::new(), "the export is erased with the rest");
    let found = leftovers(&server.backend, settings, dead_letters).await;
    assert!(found.is_empty(), "the canary is still stored: {found:#?}");
    for route in [contact_path.as_str(), &format!("/v1/conversations/{conversation}")] {
        assert_eq!(server.send("GET", route, Some(&owner), None).await.0, StatusCode::NOT_FOUND, "{route}");
    }
    let proof = done.to_string();
    assert!(!proof.contains(&contact), "the proof keeps a digest only: {proof}");
    let text = logs.text();
    assert!(text.contains("privacy request carried out"), "the run's lines are captured");
    let logged: Vec<&str> =
        text.lines().filter(|line| CANARY.iter().any(|c| line.contains(c))).take(5).collect();
    assert!(logged.is_empty(), "logged: {logged:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_is_erased_on_embedded_storage() {
    let graph = graph().await;
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings.clone()).await;
    the_canary_is_erased(&server, &settings, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_is_erased_on_the_aws_adapters() {
    let Some(sdk) = crate::local_server::moto_sdk().await else { return };
    let graph = graph().await;
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    let (settings, dead_letters) = aws_settings(&sdk, settings).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Aws, dir.path(), Some(sdk), settings.clone()).await;
    the_canary_is_erased(&server, &settings, &dead_letters).await;
}

/// The settings of a server on freshly provisioned emulated resources, and the URLs of
/// their dead-letter queues.
pub(crate) async fn aws_settings(
    sdk: &aws_config::SdkConfig,
    mut settings: Settings,
) -> (Settings, Vec<String>) {
    let prefix = format!("cy{}-", ulid::Ulid::new().to_string().to_ascii_lowercase());
    let made = gestor_shared::adapters::provision::provision(sdk, &prefix)
        .await
        .unwrap_or_else(|e| panic!("provisioning on the emulator: {e}"));
    settings.set(Setting::TableName, made.table_name.clone());
    settings.set(Setting::BucketName, made.bucket_name.clone());
    let mut dead_letters = Vec::new();
    for spec in gestor_shared::resources::QUEUES {
        if let Some(url) = made.queue_urls.get(spec.name) {
            settings.set(spec.url_setting, url.clone());
            // The dead-letter queue's URL differs by its name only.
            dead_letters.push(url.replace(&spec.queue_name(&prefix), &spec.dlq_name(&prefix)));
        }
    }
    (settings, dead_letters)
}
