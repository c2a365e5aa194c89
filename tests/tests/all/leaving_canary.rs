//! Black-box: the canary of those who leave the platform, on both adapters.
//!
//! A member with strings found nowhere else (their email, their browser) signs in, replies to a
//! customer, and files their own cancellation: once it completed and its checks ended, the
//! table, the bucket, the queues and the logs hold none of their strings, the API answers 404
//! for them, and the business keeps the reply under their bare id (the tombstone).
//!
//! A whole business with its own strings (its id, its members' emails, its customers' names
//! and words, a quarantined delivery) files its account's cancellation: once it completed and
//! its check ended, none of its strings is stored anywhere, its tokens open nothing, and a
//! neighbour business keeps all of its own.

use gestor_local::BackendKind;
use gestor_shared::backend::Backend;
use gestor_shared::repo::account_erasure;
use gestor_shared::settings::{Setting, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::erasure_canary::{PHONE_NUMBER_ID, aws_settings, eventually, graph, leftovers_of, webhook};
use crate::local_server::{Server, local_settings, start};

const CUSTOMER: &str = "5215544330077";
/// What must be nowhere once the member's erasure and its checks ended.
const MEMBER: [&str; 2] = ["agente.q7m", "NavegadorQ7M"];
/// What must be nowhere once the account's erasure and its check ended (`q7z` is in the
/// business's id, so in every key of it); the logs name the business by its id by design.
const ACCOUNT: [&str; 1] = ["q7z"];
const ACCOUNT_PERSONAL: [&str; 5] = ["Clienteq7z", "secretoq7z", "duena.q7z", "agente.q7z", "manual.q7z"];

fn customer_message(name: &str, id: &str, text: &str) -> Value {
    let at = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"messaging_product": "whatsapp",
           "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
           "contacts": [{"profile": {"name": name}, "wa_id": CUSTOMER}],
           "messages": [{"from": CUSTOMER, "id": id, "timestamp": at.to_string(), "type": "text",
                         "text": {"body": text}}]})
}

/// A business with a connected number and one customer's conversation: its id.
async fn business_with_a_customer(
    server: &Server,
    secret: &str,
    owner: &str,
    name: &str,
    text: &str,
) -> String {
    let connect = json!({"kind": "whatsapp", "external_id": PHONE_NUMBER_ID, "access_token": "EAAG-token"});
    let (status, channel) = server.send("POST", "/v1/channels", Some(owner), Some(connect)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    webhook(server, secret, customer_message(name, "wamid.LEAVING1", text), None).await;
    let inbox = eventually(server, owner, "/v1/conversations", |page| {
        page["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    inbox["items"][0]["id"].as_str().unwrap_or_default().to_owned()
}

/// The hourly sweep, run past every deadline: the erasures' checks end.
async fn sweep_past_deadlines(server: &Server, settings: &Settings) {
    let sweep = gestor_privacy::sweep::Sweep::new(
        &server.backend,
        settings,
        gestor_shared::metrics::Metrics::stdout(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(73);
    sweep.sweep(later).await.unwrap_or_else(|e| panic!("{e}"));
}

async fn a_member_leaves(server: &Server, settings: &Settings, dead_letters: &[String]) {
    let logs = gestor_shared::testing::logs::capture().unwrap_or_else(|| panic!("another log subscriber"));
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let owner = server.token("tienda-q7m", "duena@tienda-q7m.mx", "owner").await;
    let agent = server.token("tienda-q7m", "agente.q7m@correo.mx", "agent").await;
    let browser = [("user-agent", "NavegadorQ7M/2.0")];
    let conversation = business_with_a_customer(server, &secret, &owner, "Cliente Queda", "hola").await;
    let (status, me) = server.send_with("GET", "/v1/me", Some(&agent), None, &browser).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let member_id = me["id"].as_str().unwrap_or_default().to_owned();
    let messages = format!("/v1/conversations/{conversation}/messages");
    let note = json!({"text": "nota del agente", "private": true});
    let (status, _) = server.send_with("POST", &messages, Some(&agent), Some(note), &browser).await;
    assert!(status.is_success(), "{status}");

    let leaving = json!({"kind": "cancellation", "subject": {"member": "me"}});
    let (status, filed) =
        server.send_with("POST", "/v1/privacy/requests", Some(&agent), Some(leaving), &browser).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{filed}");
    let request = format!("/v1/privacy/requests/{}", filed["id"].as_str().unwrap_or_default());
    let done = eventually(server, &owner, &request, |r| r["status"] == "completed").await;
    assert!(done["result"]["counts"]["sessions"].as_u64().is_some_and(|n| n >= 1), "{done}");
    sweep_past_deadlines(server, settings).await;

    let found = leftovers_of(&MEMBER, &server.backend, settings, dead_letters).await;
    assert!(found.is_empty(), "the member is still stored: {found:#?}");
    let (status, _) = server.send("GET", "/v1/contacts", Some(&agent), None).await;
    assert!(!status.is_success(), "let in no more: {status}");
    if !member_id.is_empty() {
        let route = format!("/v1/members/{member_id}");
        assert_eq!(server.send("GET", &route, Some(&owner), None).await.0, StatusCode::NOT_FOUND, "{route}");
    }
    // The business keeps the note, under the bare id.
    let (_, page) = server.send("GET", &messages, Some(&owner), None).await;
    let items = page["items"].as_array().cloned().unwrap_or_default();
    assert!(items.iter().any(|m| m["text"] == "nota del agente"), "{page}");
    let logged: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| MEMBER.iter().any(|c| l.contains(c)))
        .take(5)
        .map(str::to_owned)
        .collect();
    assert!(logged.is_empty(), "logged: {logged:#?}");
}

async fn an_account_leaves(server: &Server, settings: &Settings, dead_letters: &[String]) {
    let logs = gestor_shared::testing::logs::capture().unwrap_or_else(|| panic!("another log subscriber"));
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let owner = server.token("cierre-q7z", "duena.q7z@correo.mx", "owner").await;
    let agent = server.token("cierre-q7z", "agente.q7z@correo.mx", "agent").await;
    let neighbour = server.token("vecino-shop", "duena@vecino-shop.mx", "owner").await;
    let conversation =
        business_with_a_customer(server, &secret, &owner, "Clienteq7z Ruiz", "secretoq7z").await;
    // A delivery too broken to read, naming the business's number: quarantined outside it.
    let broken = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Clienteq7z""#
    );
    let answer = webhook(server, &secret, json!(null), Some(&broken)).await;
    assert_eq!(answer["quarantined"], true, "{answer}");
    let messages = format!("/v1/conversations/{conversation}/messages");
    let note = json!({"text": "nota secretoq7z", "private": true});
    assert!(server.send("POST", &messages, Some(&agent), Some(note)).await.0.is_success());
    let manual = json!({"name": "Contacto Manual", "emails": ["manual.q7z@correo.mx"]});
    let (status, contact) = server.send("POST", "/v1/contacts", Some(&owner), Some(manual)).await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let theirs = json!({"name": "Vecina Queda"});
    assert_eq!(
        server.send("POST", "/v1/contacts", Some(&neighbour), Some(theirs)).await.0,
        StatusCode::CREATED
    );

    let closing = json!({"kind": "cancellation", "subject": {"account": true}});
    let (status, filed) =
        server.send("POST", "/v1/privacy/requests", Some(&agent), Some(closing.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an owner's alone: {filed}");
    let (status, filed) = server.send("POST", "/v1/privacy/requests", Some(&owner), Some(closing)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{filed}");
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    // Hidden from the answer on.
    for token in [&owner, &agent] {
        assert!(!server.send("GET", "/v1/contacts", Some(token), None).await.0.is_success());
    }
    proven(&server.backend, &id).await;
    sweep_past_deadlines(server, settings).await;

    // Queued events name a business by its id only, and expire before the deadline (every
    // queue keeps a message 48 hours at most); what the business said is in none of them.
    let mut found: Vec<String> = leftovers_of(&ACCOUNT, &server.backend, settings, dead_letters)
        .await
        .into_iter()
        .filter(|place| !place.contains(" in queue "))
        .collect();
    found.extend(leftovers_of(&ACCOUNT_PERSONAL, &server.backend, settings, dead_letters).await);
    assert!(found.is_empty(), "the business is still stored: {found:#?}");
    let contact_route = format!("/v1/contacts/{}", contact["id"].as_str().unwrap_or_default());
    assert!(!server.send("GET", &contact_route, Some(&owner), None).await.0.is_success());
    let (status, page) = server.send("GET", "/v1/contacts", Some(&neighbour), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "the neighbour keeps its own: {page}");
    let logged: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| ACCOUNT_PERSONAL.iter().any(|c| l.contains(c)))
        .take(5)
        .map(str::to_owned)
        .collect();
    assert!(logged.is_empty(), "logged: {logged:#?}");
}

/// Waits for the account's proof: nothing of the business is left to ask the API with.
async fn proven(backend: &Backend, request_id: &str) {
    for _ in 0..1500 {
        let proofs = account_erasure::proofs(backend.table.as_ref()).await.unwrap_or_default();
        if proofs.iter().any(|(id, _)| id == request_id) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the account's erasure never completed");
}

async fn embedded() -> (Server, Settings, tempfile::TempDir, wiremock::MockServer) {
    let graph = graph().await;
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings.clone()).await;
    (server, settings, dir, graph)
}

async fn on_aws() -> Option<(Server, Settings, Vec<String>, tempfile::TempDir, wiremock::MockServer)> {
    let sdk = crate::local_server::moto_sdk().await?;
    let graph = graph().await;
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    let (settings, dead_letters) = aws_settings(&sdk, settings).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Aws, dir.path(), Some(sdk), settings.clone()).await;
    Some((server, settings, dead_letters, dir, graph))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_member_is_erased_on_embedded_storage() {
    let (server, settings, _dir, _graph) = embedded().await;
    a_member_leaves(&server, &settings, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_member_is_erased_on_the_aws_adapters() {
    let Some((server, settings, dead_letters, _dir, _graph)) = on_aws().await else { return };
    a_member_leaves(&server, &settings, &dead_letters).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_account_is_erased_on_embedded_storage() {
    let (server, settings, _dir, _graph) = embedded().await;
    an_account_leaves(&server, &settings, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_account_is_erased_on_the_aws_adapters() {
    let Some((server, settings, dead_letters, _dir, _graph)) = on_aws().await else { return };
    an_account_leaves(&server, &settings, &dead_letters).await;
}
