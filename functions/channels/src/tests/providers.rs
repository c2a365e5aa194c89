//! The providers' side of connecting: Embedded Signup's calls to the Graph API, TikTok's
//! verification, and a Graph API that is slow or absent.

use gestor_shared::graph::GraphClient;
use gestor_shared::settings::Settings;
use gestor_shared::testing::ApiRequest;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{APP_SECRET, Channel, PHONE_ID, id, tenant, world};

/// The Graph API of an Embedded Signup: the code exchanged for `business`, the number listed
/// under the business account, which the app subscribes to. Each call is checked by the
/// tests' lists of what was asked.
async fn signup_graph(w: &super::World, business: &str) {
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("client_id", "4242"))
        .and(query_param("client_secret", APP_SECRET))
        .and(query_param("code", "AQB-code/+="))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": business, "token_type": "bearer"})),
        )
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/102290129340398/subscribed_apps"))
        .and(header("authorization", format!("Bearer {business}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/102290129340398/phone_numbers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": PHONE_ID, "verified_name": "Tienda Acme"}]})),
        )
        .mount(&w.graph)
        .await;
    w.graph_knows(business).await;
}

#[tokio::test]
async fn embedded_signup_refuses_a_number_its_business_account_does_not_list() {
    let w = world().await;
    signup_graph(&w, "EAAGbusinessToken").await;
    let elsewhere = json!({"kind": "whatsapp", "code": "AQB-code/+=", "waba_id": "102290129340398",
                           "phone_number_id": "999999999999999"});
    let (status, problem) =
        w.send(ApiRequest::new("POST /v1/channels/embedded-signup").as_user(&w.owner).json(elsewhere)).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (400, &json!("phone_number_id")), "{problem}");
    let subscribed = w.requests().await.iter().any(|r| r.url.path().ends_with("/subscribed_apps"));
    assert!(!subscribed, "nothing is subscribed");
}

#[tokio::test]
async fn embedded_signup_exchanges_the_code_subscribes_the_app_and_connects_the_number() {
    let w = world().await;
    let business = "EAAGbusinessToken";
    signup_graph(&w, business).await;
    let body = json!({"kind": "whatsapp", "code": "AQB-code/+=", "waba_id": "102290129340398",
                      "phone_number_id": PHONE_ID});
    let (status, account) =
        w.send(ApiRequest::new("POST /v1/channels/embedded-signup").as_user(&w.owner).json(body)).await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["business_account_id"], "102290129340398");
    assert_eq!(
        (account["external_id"].as_str(), account["display_name"].as_str()),
        (Some(PHONE_ID), Some("Tienda Acme"))
    );

    let sent = w.requests().await;
    let calls: Vec<(String, String)> =
        sent.iter().map(|r| (r.method.to_string(), r.url.path().to_owned())).collect();
    let expected = [
        ("GET", "/v21.0/oauth/access_token"),
        ("GET", "/v21.0/102290129340398/phone_numbers"),
        ("POST", "/v21.0/102290129340398/subscribed_apps"),
        ("GET", "/v21.0/debug_token"),
        ("GET", "/v21.0/102290129340398/phone_numbers"),
        // Again once the number is noted: a neighbour leaving meanwhile sees it then.
        ("POST", "/v21.0/102290129340398/subscribed_apps"),
    ];
    assert_eq!(calls, expected.map(|(m, p)| (m.to_owned(), p.to_owned())));
    // The code travels percent-encoded; the app secret only in the exchange.
    assert_eq!(
        sent[0].url.query(),
        Some("client_id=4242&client_secret=app-secret-for-tests&code=AQB-code%2F%2B%3D")
    );
    assert!(sent[0].headers.get("authorization").is_none());
    assert!(
        sent[1..].iter().filter(|r| !r.url.path().ends_with("/debug_token")).all(|r| r.url.query().is_none())
    );
    let ch = gestor_shared::ids::ChannelAccountId::parse(&id(&account)).unwrap_or_else(|e| panic!("{e}"));
    let stored = w.repo().access_token(&tenant("acme"), &ch, &w.cipher).await.ok().flatten();
    assert_eq!(stored.as_ref().map(|s| s.expose()), Some(business));
    for pk in ["acme#CHANNEL", "acme#AUDIT"] {
        let text = w.partition(pk).await;
        assert!(
            !text.contains(business) && !text.contains("AQB-code") && !text.contains(APP_SECRET),
            "{text}"
        );
    }
}

#[tokio::test]
async fn embedded_signup_finds_the_account_and_number_when_not_given() {
    let w = world().await;
    let business = "EAAGbusinessToken";
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": business})))
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/debug_token"))
        .and(query_param("input_token", business))
        .and(header("authorization", format!("Bearer 4242|{APP_SECRET}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"is_valid": true, "granular_scopes": [
            {"scope": "whatsapp_business_messaging", "target_ids": ["555", "102290129340398"]},
            {"scope": "whatsapp_business_management", "target_ids": ["102290129340398", "101569239400667"]}
        ]}})))
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/102290129340398/phone_numbers"))
        .and(header("authorization", format!("Bearer {business}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"id": PHONE_ID, "display_phone_number": "+52 55 1234 5678", "verified_name": "Tienda Acme"}
        ]})))
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/102290129340398/subscribed_apps"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(2) // before the number is connected, and once it is noted
        .mount(&w.graph)
        .await;
    w.graph_knows(business).await;
    let body = json!({"kind": "whatsapp", "code": "AQB"});
    let (status, account) =
        w.send(ApiRequest::new("POST /v1/channels/embedded-signup").as_user(&w.owner).json(body)).await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["external_id"], PHONE_ID);
}

#[tokio::test]
async fn a_refused_signup_code_is_422_and_calls_nothing_else() {
    let w = world().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 100}})))
        .mount(&w.graph)
        .await;
    let body = json!({"kind": "whatsapp", "code": "used", "waba_id": "1", "phone_number_id": "2"});
    let (status, problem) =
        w.send(ApiRequest::new("POST /v1/channels/embedded-signup").as_user(&w.owner).json(body)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(w.requests().await.len(), 1);
    assert_eq!(w.partition("acme#CHANNEL").await, "[]");
}

#[tokio::test]
async fn tiktok_accounts_are_verified_through_tiktoks_api() {
    let w = world().await;
    let open_id = "-000abcDEF_123.x";
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/business/get/"))
        .and(query_param("business_id", open_id))
        .and(header("access-token", "act.good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "OK",
            "data": {"display_name": "kiki"}})))
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/business/get/"))
        .and(header("access-token", "act.bad"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": 40105, "message": "invalid token"})),
        )
        .mount(&w.graph)
        .await;
    let body = |token: &str| json!({"kind": "tiktok", "external_id": open_id, "access_token": token});
    let (status, problem) = w.connect(&w.owner, body("act.bad")).await;
    assert_eq!(status, 422, "{problem}");
    let (status, account) = w.connect(&w.owner, body("act.good")).await;
    assert_eq!(status, 201, "{account}");
    assert_eq!((account["kind"].as_str(), account["display_name"].as_str()), (Some("tiktok"), Some("kiki")));
    let routed = w.repo().route(Channel::Tiktok, open_id).await.ok().flatten();
    assert_eq!(routed.map(|(t, _)| t), Some(tenant("acme")));
    let sent = w.requests().await;
    assert_eq!(sent[1].url.query(), Some("business_id=-000abcDEF_123.x"));
    assert!(sent[1].headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_slow_or_absent_api_is_503_within_the_timeout() {
    use gestor_shared::graph::{GraphError, Timeouts};
    use std::time::{Duration, Instant};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let uri = server.uri();
    let settings = |base: String| {
        let lookup = move |name: &str| (name == "META_GRAPH_URL").then(|| base.clone());
        Settings::local_with(lookup)
    };
    let short = Timeouts { connect: Duration::from_millis(200), total: Duration::from_millis(100) };
    let slow = GraphClient::with_timeouts(&settings(uri), short).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let result =
        slow.verify_account(Channel::Whatsapp, PHONE_ID, &gestor_shared::crypto::Secret::new("t")).await;
    assert_eq!(result, Err(GraphError::Unavailable("timed out".into())));
    assert!(started.elapsed() < Duration::from_secs(1), "waited for the whole answer");

    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
    let closed = closed.unwrap_or_else(|e| panic!("{e}"));
    let absent = GraphClient::with_timeouts(&settings(format!("http://{closed}")), short)
        .unwrap_or_else(|e| panic!("{e}"));
    let result =
        absent.verify_account(Channel::Messenger, "1", &gestor_shared::crypto::Secret::new("t")).await;
    assert!(matches!(result, Err(GraphError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn a_signup_that_fails_after_the_code_was_spent_resumes_with_the_same_code() {
    let w = world().await;
    let business = "EAAGbusinessToken";
    // Meta is down once when subscribing the app: the code is spent by then.
    Mock::given(method("POST"))
        .and(path("/v21.0/102290129340398/subscribed_apps"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    signup_graph(&w, business).await;
    let body = json!({"kind": "whatsapp", "code": "AQB-code/+=", "waba_id": "102290129340398",
                      "phone_number_id": PHONE_ID});
    let signup = || ApiRequest::new("POST /v1/channels/embedded-signup").as_user(&w.owner).json(body.clone());
    let (status, problem) = w.send(signup()).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(w.partition("acme#CHANNEL").await, "[]", "nothing half-connected");
    let kept = w.partition("acme#SIGNUP").await;
    assert!(kept.contains("ciphertext") && !kept.contains(business), "the token is kept, sealed: {kept}");

    let (status, account) = w.send(signup()).await;
    assert_eq!(status, 201, "{account}");
    let exchanges =
        w.requests().await.iter().filter(|r| r.url.path().ends_with("/oauth/access_token")).count();
    assert_eq!(exchanges, 1, "the spent code is not exchanged again");
    assert_eq!(w.partition("acme#SIGNUP").await, "[]", "forgotten once connected");
}
