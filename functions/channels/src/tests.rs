//! Handler tests: API Gateway requests built by hand, the dispatcher, an embedded table, and a
//! local stand-in for Meta's Graph API and TikTok's API whose received requests are checked.

use gestor_shared::crypto::TokenCipher;
use gestor_shared::domain::TenantId;
use gestor_shared::graph::GraphClient;
use gestor_shared::http::{Role, serve};
use gestor_shared::ports::{Key, Query};
use gestor_shared::repo::channels::{Channel, ChannelRepo};
use gestor_shared::settings::Settings;
use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::Channels;

const PHONE_ID: &str = "106540352242922";
const TOKEN: &str = "EAAGm0PX4ZCpsBAKZBacmeTokenValue";
const APP_SECRET: &str = "app-secret-for-tests";
const WABA: &str = "102290129340398";

struct World {
    channels: Channels,
    cipher: TokenCipher,
    graph: MockServer,
    owner: String,
    rival: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (core, dir) = embedded_core();
    let graph = MockServer::start().await;
    let uri = graph.uri();
    let lookup = |name: &str| match name {
        "META_GRAPH_URL" => Some(format!("{uri}/v21.0")),
        "TIKTOK_API_URL" => Some(format!("{uri}/open_api/v1.3")),
        "META_APP_ID" => Some("4242".to_owned()),
        "META_APP_SECRET" => Some(APP_SECRET.to_owned()),
        _ => None,
    };
    let settings = Settings::local_with(lookup);
    let client = GraphClient::new(&settings).unwrap_or_else(|e| panic!("{e}"));
    let cipher = TokenCipher::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
    let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
    let rival = member(&core, "rival", "owner@rival.mx", Role::Admin).await;
    World { channels: Channels::new(core, client, cipher.clone()), cipher, graph, owner, rival, _dir: dir }
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn whatsapp(token: &str) -> Value {
    json!({"kind": "whatsapp", "external_id": PHONE_ID, "access_token": token})
}

impl World {
    async fn send(&self, request: ApiRequest) -> (u16, Value) {
        answer(serve(&self.channels, request.build()).await)
    }

    async fn connect(&self, user: &str, body: Value) -> (u16, Value) {
        self.send(ApiRequest::new("POST /v1/channels").as_user(user).json(body)).await
    }

    /// `token` controls the phone number: `debug_token` (asked with the app's token) grants
    /// it the number's business account for messaging and management, which lists the number.
    async fn graph_knows(&self, token: &str) {
        Mock::given(method("GET"))
            .and(path("/v21.0/debug_token"))
            .and(query_param("input_token", token))
            .and(header("authorization", format!("Bearer 4242|{APP_SECRET}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                "app_id": "4242", "type": "SYSTEM_USER", "is_valid": true, "expires_at": 0,
                "granular_scopes": [
                    {"scope": "whatsapp_business_management", "target_ids": [WABA]},
                    {"scope": "whatsapp_business_messaging", "target_ids": [WABA]}]
            }})))
            .mount(&self.graph)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/v21.0/{WABA}/phone_numbers")))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{
                "verified_name": "Tienda Acme", "display_phone_number": "+52 55 1234 5678",
                "id": PHONE_ID, "quality_rating": "GREEN"
            }]})))
            .mount(&self.graph)
            .await;
    }

    fn repo(&self) -> ChannelRepo {
        ChannelRepo::new(self.channels.core.table.clone())
    }

    /// Every stored item of a partition, as text.
    async fn partition(&self, pk: &str) -> String {
        let page = self.channels.core.table.query(Query::table(pk).limit(1000)).await;
        serde_json::to_string(&page.map(|p| p.items).unwrap_or_default()).unwrap_or_default()
    }

    async fn requests(&self) -> Vec<wiremock::Request> {
        self.graph.received_requests().await.unwrap_or_default()
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn connecting_verifies_the_token_routes_the_account_and_stores_the_token_encrypted() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    let (status, account) = w
        .send(
            ApiRequest::new("POST /v1/channels")
                .as_user(&w.owner)
                .header("idempotency-key", "connect-1")
                .json(whatsapp(TOKEN)),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    assert!(id(&account).starts_with("ch_"));
    assert_eq!(account["kind"], "whatsapp");
    assert_eq!(account["external_id"], PHONE_ID);
    assert_eq!(account["display_name"], "Tienda Acme");
    assert_eq!(account["status"], "active");
    assert_eq!(account["deactivated_at"], Value::Null);
    assert!(!account.to_string().contains(TOKEN));

    // What the token is (asked with the app's token), the business account's numbers (with
    // the token as a bearer, no query, no body), and, as the first account of ours on that
    // business account, the app subscribed to its webhooks.
    let sent = w.requests().await;
    let calls: Vec<(&str, &str)> = sent.iter().map(|r| (r.method.as_str(), r.url.path())).collect();
    assert_eq!(
        calls,
        [
            ("GET", "/v21.0/debug_token"),
            ("GET", "/v21.0/102290129340398/phone_numbers"),
            ("POST", "/v21.0/102290129340398/subscribed_apps")
        ]
    );
    assert_eq!(sent[1].url.query(), None);
    let auth = sent[1].headers.get("authorization").and_then(|v| v.to_str().ok());
    assert_eq!(auth, Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(account["business_account_id"], WABA, "the number's business account is kept");

    let acme = tenant("acme");
    let ch = gestor_shared::ids::ChannelAccountId::parse(&id(&account)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        w.repo().route(Channel::Whatsapp, PHONE_ID).await.ok().flatten(),
        Some((acme.clone(), ch.clone()))
    );
    let stored = w.repo().access_token(&acme, &ch, &w.cipher).await.ok().flatten();
    assert_eq!(stored.as_ref().map(|s| s.expose()), Some(TOKEN));

    // Stored encrypted under the current key; never in clear in any item the request wrote.
    let item = w.channels.core.table.get(&Key::new("acme#CHANNEL", id(&account))).await.ok().flatten();
    let item = item.unwrap_or_default();
    assert_eq!(item["token"]["kid"], "dev");
    for pk in ["acme#CHANNEL", "acme#AUDIT", "acme#IDEMPOTENCY", "ROUTE#whatsapp#106540352242922"] {
        let text = w.partition(pk).await;
        assert!(!text.is_empty() && text != "[]", "{pk} is empty");
        assert!(!text.contains(TOKEN) && !text.contains("EAAGm0PX4"), "{pk} holds the token: {text}");
    }
    let route = w.partition("ROUTE#whatsapp#106540352242922").await;
    assert!(route.contains("\"tenant_id\":\"acme\"") && !route.contains("Tienda"), "{route}");
    // The audit entry names the field, never its value.
    let audit = w.partition("acme#AUDIT").await;
    assert!(audit.contains("channel.connect") && audit.contains("access_token"), "{audit}");

    // The same key and body answer the first answer, without calling the Graph API again.
    let (status, again) = w
        .send(
            ApiRequest::new("POST /v1/channels")
                .as_user(&w.owner)
                .header("idempotency-key", "connect-1")
                .json(whatsapp(TOKEN)),
        )
        .await;
    assert_eq!((status, again), (201, account));
    assert_eq!(w.requests().await.len(), 3);
}

/// `debug_token`'s answer about `token`.
async fn token_is(w: &World, token: &str, data: Value) {
    Mock::given(method("GET"))
        .and(path("/v21.0/debug_token"))
        .and(query_param("input_token", token))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": data })))
        .mount(&w.graph)
        .await;
}

#[tokio::test]
async fn a_token_that_does_not_control_the_account_is_refused_and_nothing_is_stored() {
    let w = world().await;
    token_is(&w, "EAAGexpired", json!({"is_valid": false, "type": "USER"})).await;
    // Granted the business account for managing only: it cannot send for the number.
    token_is(
        &w,
        "EAAGmanage",
        json!({"is_valid": true, "type": "SYSTEM_USER", "granular_scopes": [
        {"scope": "whatsapp_business_management", "target_ids": [WABA]},
        {"scope": "whatsapp_business_messaging", "target_ids": ["101569239400667"]}]}),
    )
    .await;
    // Granted a business account that does not list the number.
    token_is(
        &w,
        "EAAGother",
        json!({"is_valid": true, "type": "SYSTEM_USER", "granular_scopes": [
        {"scope": "whatsapp_business_management", "target_ids": ["101569239400667"]},
        {"scope": "whatsapp_business_messaging", "target_ids": ["101569239400667"]}]}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/101569239400667/phone_numbers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "999999999999999"}]})))
        .mount(&w.graph)
        .await;
    for token in ["EAAGexpired", "EAAGmanage", "EAAGother"] {
        let (status, body) = w.connect(&w.owner, whatsapp(token)).await;
        assert_eq!(status, 422, "{token}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.starts_with("the token does not control")),
            "{body}"
        );
        assert!(!body.to_string().contains(token));
    }
    assert_eq!(w.repo().route(Channel::Whatsapp, PHONE_ID).await.ok().flatten(), None);
    assert_eq!(w.partition("acme#CHANNEL").await, "[]");
}

#[tokio::test]
async fn a_page_needs_its_own_token_not_one_that_can_read_it() {
    let w = world().await;
    const PAGE: &str = "104000000000001";
    const INSTAGRAM: &str = "17841405822304914";
    // A user's token reads a public Page, but is not the Page's.
    token_is(&w, "EAAGreader", json!({"is_valid": true, "type": "USER", "user_id": "10"})).await;
    token_is(&w, "EAAGotherpage", json!({"is_valid": true, "type": "PAGE", "profile_id": "104999999999999"}))
        .await;
    token_is(&w, "EAAGpage", json!({"is_valid": true, "type": "PAGE", "profile_id": PAGE})).await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{PAGE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": PAGE, "name": "Tienda Acme", "instagram_business_account": {"id": INSTAGRAM}})))
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{INSTAGRAM}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": INSTAGRAM, "username": "tienda.acme"})),
        )
        .mount(&w.graph)
        .await;
    let page = |token: &str| json!({"kind": "messenger", "external_id": PAGE, "access_token": token});
    for token in ["EAAGreader", "EAAGotherpage"] {
        let (status, body) = w.connect(&w.owner, page(token)).await;
        assert_eq!(status, 422, "{token}: {body}");
    }
    let (status, account) = w.connect(&w.owner, page("EAAGpage")).await;
    assert_eq!((status, &account["display_name"]), (201, &json!("Tienda Acme")), "{account}");
    // Instagram: the Page's own token, for the Page whose Instagram account it is.
    let instagram = |id: &str| json!({"kind": "instagram", "external_id": id, "access_token": "EAAGpage"});
    let (status, body) = w.connect(&w.owner, instagram("17841400000000099")).await;
    assert_eq!(status, 422, "another Instagram account: {body}");
    let (status, account) = w.connect(&w.owner, instagram(INSTAGRAM)).await;
    assert_eq!((status, &account["display_name"]), (201, &json!("tienda.acme")), "{account}");
    let reader = json!({"kind": "instagram", "external_id": INSTAGRAM, "access_token": "EAAGreader"});
    let (status, body) = w.connect(&w.owner, reader).await;
    assert_eq!(status, 422, "a reconnection proves control too: {body}");
}

#[tokio::test]
async fn a_failing_graph_api_stores_nothing() {
    let w = world().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/debug_token"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(&w.graph)
        .await;
    let (status, body) = w.connect(&w.owner, whatsapp("down")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(w.partition("acme#CHANNEL").await, "[]");
}

#[tokio::test]
async fn an_account_belongs_to_one_business_and_its_own_reconnection_replaces_the_token() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    w.graph_knows("EAAGrival").await;
    w.graph_knows("EAAGrenewed").await;
    let (status, first) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    assert_eq!(status, 201, "{first}");

    let (status, body) = w.connect(&w.rival, whatsapp("EAAGrival")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["errors"][0]["field"], "external_id");
    assert_eq!(w.partition("rival#CHANNEL").await, "[]");

    let renamed = json!({"kind": "whatsapp", "external_id": PHONE_ID, "access_token": "EAAGrenewed",
                         "display_name": "Sucursal Norte"});
    let (status, again) = w.connect(&w.owner, renamed).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!((id(&again), again["display_name"].as_str()), (id(&first), Some("Sucursal Norte")));
    let ch = gestor_shared::ids::ChannelAccountId::parse(&id(&first)).unwrap_or_else(|e| panic!("{e}"));
    let token = w.repo().access_token(&tenant("acme"), &ch, &w.cipher).await.ok().flatten();
    assert_eq!(token.as_ref().map(|t| t.expose()), Some("EAAGrenewed"));
}

#[tokio::test]
async fn only_owners_and_admins_connect_or_deactivate_and_every_role_lists() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    let (_, account) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    let calls = w.requests().await.len();
    for role in [Role::Manager, Role::Agent, Role::Viewer] {
        let user = member(&w.channels.core, "acme", &format!("{}@acme.mx", role.as_str()), role).await;
        let (status, body) = w.connect(&user, whatsapp(TOKEN)).await;
        assert_eq!(status, 403, "{role:?}: {body}");
        let (status, _) = w
            .send(ApiRequest::new("DELETE /v1/channels/{id}").param("id", &id(&account)).as_user(&user))
            .await;
        assert_eq!(status, 403, "{role:?}");
        let (status, page) = w.send(ApiRequest::new("GET /v1/channels").as_user(&user)).await;
        assert_eq!((status, page["items"].as_array().map(Vec::len)), (200, Some(1)), "{role:?}");
        let (status, _) =
            w.send(ApiRequest::new("GET /v1/channels/{id}").param("id", &id(&account)).as_user(&user)).await;
        assert_eq!(status, 200, "{role:?}");
    }
    // Refused before the channel's API is asked anything.
    assert_eq!(w.requests().await.len(), calls);
    // Each refused role's two refusals, counted in one entry of the window.
    let audit: Vec<Value> = serde_json::from_str(&w.partition("acme#AUDIT").await).unwrap_or_default();
    let denied: Vec<&Value> = audit.iter().filter(|e| e["action"] == "auth.denied").collect();
    assert_eq!(denied.len(), 3, "{audit:?}");
    assert_eq!(denied.iter().filter_map(|e| e["count"].as_u64()).sum::<u64>(), 6, "{audit:?}");
}

#[tokio::test]
async fn lists_and_reads_never_show_a_token() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    let (_, account) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    let (status, page) = w.send(ApiRequest::new("GET /v1/channels").as_user(&w.owner)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"], json!([account]));
    assert_eq!(page["next_cursor"], Value::Null);
    let keys: Vec<&String> = page["items"][0].as_object().map(|o| o.keys().collect()).unwrap_or_default();
    let mut keys: Vec<&str> = keys.into_iter().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "business_account_id",
            "connected_at",
            "deactivated_at",
            "display_name",
            "external_id",
            "id",
            "kind",
            "status"
        ]
    );
    assert!(!page.to_string().contains(TOKEN));
    let (status, got) =
        w.send(ApiRequest::new("GET /v1/channels/{id}").param("id", &id(&account)).as_user(&w.owner)).await;
    assert_eq!((status, got), (200, account.clone()));
    // Another business does not see it, nor an id that is not one.
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/channels/{id}").param("id", &id(&account)).as_user(&w.rival)).await;
    assert_eq!(status, 404);
    let (status, _) =
        w.send(ApiRequest::new("GET /v1/channels/{id}").param("id", "ch_x").as_user(&w.owner)).await;
    assert_eq!(status, 404);
    let (status, page) = w.send(ApiRequest::new("GET /v1/channels").as_user(&w.rival)).await;
    assert_eq!((status, page["items"].clone()), (200, json!([])));
}

#[tokio::test]
async fn deactivating_drops_the_route_and_the_token_and_frees_the_account() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    w.graph_knows("EAAGrival").await;
    let (_, account) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    let request = || ApiRequest::new("DELETE /v1/channels/{id}").param("id", &id(&account)).as_user(&w.owner);
    let (status, _) = w.send(request()).await;
    assert_eq!(status, 204);

    assert_eq!(w.repo().route(Channel::Whatsapp, PHONE_ID).await.ok().flatten(), None);
    assert_eq!(w.partition("ROUTE#whatsapp#106540352242922").await, "[]");
    let item = w.channels.core.table.get(&Key::new("acme#CHANNEL", id(&account))).await.ok().flatten();
    assert!(item.is_some_and(|i| !i.contains_key("token")));
    let ch = gestor_shared::ids::ChannelAccountId::parse(&id(&account)).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(w.repo().access_token(&tenant("acme"), &ch, &w.cipher).await, Ok(None)));
    let (_, got) =
        w.send(ApiRequest::new("GET /v1/channels/{id}").param("id", &id(&account)).as_user(&w.owner)).await;
    assert_eq!(got["status"], "inactive");
    assert!(got["deactivated_at"].is_string());
    let (status, _) = w.send(request()).await;
    assert_eq!(status, 204, "deactivating again answers the same");
    assert!(w.partition("acme#AUDIT").await.contains("channel.deactivate"));

    // Another business may now connect it; the first one then cannot take it back.
    let (status, theirs) = w.connect(&w.rival, whatsapp("EAAGrival")).await;
    assert_eq!(status, 201, "{theirs}");
    let routed = w.repo().route(Channel::Whatsapp, PHONE_ID).await.ok().flatten();
    assert_eq!(routed.map(|(t, _)| t), Some(tenant("rival")));
    let (status, _) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn reconnecting_a_deactivated_account_keeps_its_id() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    let (_, account) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    let (status, _) = w
        .send(ApiRequest::new("DELETE /v1/channels/{id}").param("id", &id(&account)).as_user(&w.owner))
        .await;
    assert_eq!(status, 204);
    let (status, again) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    assert_eq!((status, id(&again), again["status"].as_str()), (201, id(&account), Some("active")));
    assert_eq!(again["deactivated_at"], Value::Null);
}

#[tokio::test]
async fn invalid_bodies_are_400_without_calling_anyone_or_echoing_the_token() {
    let w = world().await;
    for body in [
        json!({"kind": "telegram", "external_id": PHONE_ID, "access_token": TOKEN}),
        json!({"kind": "whatsapp", "external_id": "me", "access_token": TOKEN}),
        json!({"kind": "whatsapp", "external_id": PHONE_ID}),
        json!({"kind": "whatsapp", "external_id": PHONE_ID, "access_token": format!("{TOKEN} x")}),
        json!({"kind": "whatsapp", "external_id": PHONE_ID, "access_token": TOKEN, "tenant_id": "rival"}),
    ] {
        let (status, problem) = w.connect(&w.owner, body.clone()).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert!(!problem.to_string().contains(TOKEN), "{problem}");
    }
    let (status, _) = w
        .send(
            ApiRequest::new("POST /v1/channels/embedded-signup")
                .as_user(&w.owner)
                .json(json!({"kind": "tiktok", "code": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(w.requests().await.is_empty());
}

#[test]
fn the_openapi_part_documents_every_route_and_a_write_only_token() {
    let doc = serde_json::to_value(crate::openapi()).unwrap_or_default();
    for route in crate::Channels::route_table() {
        let method = route.method().to_ascii_lowercase();
        assert!(doc["paths"][route.path()][&method].is_object(), "{}", route.key);
    }
    assert_eq!(
        doc["components"]["schemas"]["ConnectRequest"]["properties"]["access_token"]["writeOnly"],
        true
    );
    let account = &doc["components"]["schemas"]["ChannelAccount"]["properties"];
    assert!(account.get("access_token").is_none() && account.get("token").is_none());
    assert_eq!(account["kind"]["enum"], json!(["whatsapp", "messenger", "instagram", "tiktok"]));
}

mod neighbours;
mod providers;
mod templates;

#[tokio::test]
async fn deactivating_unsubscribes_the_app_only_when_no_account_of_ours_remains_on_the_waba_or_page() {
    let w = world().await;
    const OTHER_PHONE: &str = "106540352242923";
    const PAGE: &str = "104000000000001";
    for token in ["EAAGacme", "EAAGrival"] {
        token_is(
            &w,
            token,
            json!({"is_valid": true, "type": "SYSTEM_USER", "granular_scopes": [
            {"scope": "whatsapp_business_management", "target_ids": [WABA]},
            {"scope": "whatsapp_business_messaging", "target_ids": [WABA]}]}),
        )
        .await;
    }
    token_is(&w, "EAAGpage", json!({"is_valid": true, "type": "PAGE", "profile_id": PAGE})).await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{WABA}/phone_numbers")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": PHONE_ID}, {"id": OTHER_PHONE}]})),
        )
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{PAGE}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": PAGE, "name": "Tienda Acme"})))
        .mount(&w.graph)
        .await;
    for graph_id in [WABA, PAGE] {
        Mock::given(method("DELETE"))
            .and(path(format!("/v21.0/{graph_id}/subscribed_apps")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
            .mount(&w.graph)
            .await;
    }
    let number =
        |phone: &str, token: &str| json!({"kind": "whatsapp", "external_id": phone, "access_token": token});
    let (_, ours) = w.connect(&w.owner, number(PHONE_ID, "EAAGacme")).await;
    let (status, theirs) = w.connect(&w.rival, number(OTHER_PHONE, "EAAGrival")).await;
    assert_eq!(status, 201, "another business's number on the same WABA: {theirs}");
    let (_, page) = w
        .connect(&w.owner, json!({"kind": "messenger", "external_id": PAGE, "access_token": "EAAGpage"}))
        .await;
    let deactivate = |account: &Value, user: &str| {
        ApiRequest::new("DELETE /v1/channels/{id}").param("id", &id(account)).as_user(user)
    };

    assert_eq!(w.send(deactivate(&ours, &w.owner)).await.0, 204);
    assert!(unsubscribed(&w.graph).await.is_empty(), "the rival's number still needs the WABA's webhooks");
    assert_eq!(w.send(deactivate(&theirs, &w.rival)).await.0, 204);
    let waba_path = format!("/v21.0/{WABA}/subscribed_apps");
    assert_eq!(
        unsubscribed(&w.graph).await,
        vec![(waba_path.clone(), "Bearer EAAGrival".to_owned())],
        "the last one out"
    );
    // Deactivating again unsubscribes nothing more.
    assert_eq!(w.send(deactivate(&theirs, &w.rival)).await.0, 204);
    assert_eq!(unsubscribed(&w.graph).await.len(), 1);
    assert_eq!(w.send(deactivate(&page, &w.owner)).await.0, 204);
    let page_path = format!("/v21.0/{PAGE}/subscribed_apps");
    assert_eq!(unsubscribed(&w.graph).await[1], (page_path, "Bearer EAAGpage".to_owned()));

    // An account connected before these notes existed is not noted anywhere: its neighbours
    // may not be either, so deactivating it unsubscribes nothing.
    let (status, _) = w
        .connect(&w.owner, json!({"kind": "messenger", "external_id": PAGE, "access_token": "EAAGpage"}))
        .await;
    assert_eq!(status, 201);
    // Connected again after the app left the Page: the app is subscribed again.
    let page_subscriptions = w
        .requests()
        .await
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == format!("/v21.0/{PAGE}/subscribed_apps"))
        .count();
    assert_eq!(page_subscriptions, 2, "on the first connection and again on this one");
    let notes = w.channels.core.table.query(Query::table(format!("SUBSCRIBER#{PAGE}")).limit(10)).await;
    for note in notes.map(|p| p.items).unwrap_or_default() {
        if let Some(key) = Key::of(&note) {
            let _ = w.channels.core.table.delete(&key, None).await;
        }
    }
    assert_eq!(w.send(deactivate(&page, &w.owner)).await.0, 204);
    assert_eq!(unsubscribed(&w.graph).await.len(), 2);
}

/// The app unsubscriptions the Graph API received: path and authorization.
async fn unsubscribed(graph: &MockServer) -> Vec<(String, String)> {
    let sent = graph.received_requests().await.unwrap_or_default();
    sent.into_iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .map(|r| {
            let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            (r.url.path().to_owned(), auth.to_owned())
        })
        .collect()
}
