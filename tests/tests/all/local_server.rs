//! Black-box: the local server started as `cargo run -p gestor-local` starts it, driven over
//! HTTP as the frontend would — on the embedded storage, and on the AWS adapters against the
//! emulator when `GESTOR_TEST_AWS_ENDPOINT` names one.

use gestor_local::{BackendKind, Config};
use gestor_shared::settings::{Setting, Settings};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub struct Server {
    pub base: String,
    pub http: Client,
    /// The storage the server runs on.
    pub backend: gestor_shared::backend::Backend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start(
    backend: BackendKind,
    data_dir: &std::path::Path,
    sdk: Option<aws_config::SdkConfig>,
    settings: Settings,
) -> Server {
    let config = Config {
        addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        data_dir: data_dir.to_path_buf(),
        backend,
        jwt_secret: "black-box-secret".into(),
        jwt: Default::default(),
        settings,
        sdk,
        fake_channels: true,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = gestor_local::start(config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap_or_else(|e| panic!("the local server did not start: {e:#}"));
    Server {
        base: format!("http://{}", started.addr),
        http: Client::new(),
        backend: started.backend,
        stop: Some(stop),
    }
}

impl Server {
    pub async fn token(&self, tenant: &str, email: &str, role: &str) -> String {
        let (status, body) = self
            .send(
                "POST",
                "/dev/token",
                None,
                Some(json!({"tenant_id": tenant, "email": email, "role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_with(method, path, token, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn the_frontend_journey(server: &Server) {
    let (status, health) = server.send("GET", "/health", None, None).await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")));
    let (status, doc) = server.send("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/v1/contacts"].is_object());

    let preflight = server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/contacts", server.base))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    let allowed = preflight.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
    assert_eq!(allowed, Some("http://localhost:5173"), "the frontend's origin (APP_URL's)");
    // Any other origin is not let in.
    let elsewhere = server
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/contacts", server.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!elsewhere.headers().contains_key("access-control-allow-origin"));

    let (status, body) = server.send("GET", "/v1/contacts", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = server.send("GET", "/v1/contacts", Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let owner = server.token("tienda-1", "duena@tienda.mx", "owner").await;
    let agent = server.token("tienda-1", "agente@tienda.mx", "agent").await;
    let (status, me) = server.send("GET", "/v1/me", Some(&agent), None).await;
    assert_eq!((status, me["role"].as_str()), (StatusCode::OK, Some("agent")));

    let (status, contact) = server
        .send(
            "POST",
            "/v1/contacts",
            Some(&agent),
            Some(json!({"name": "María Núñez", "phones": ["55 1234 5678"], "tags": ["mayoreo"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let id = contact["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(contact["phones"], json!(["+525512345678"]));

    let (status, page) = server.send("GET", "/v1/contacts?q=maria&tag=mayoreo", Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], json!(id));
    let (_, page) = server.send("GET", "/v1/contacts?phone=%2B5215512345678", Some(&owner), None).await;
    assert_eq!(page["items"][0]["id"], json!(id));

    let path = format!("/v1/contacts/{id}");
    let (status, _) = server
        .send_with(
            "PATCH",
            &path,
            Some(&owner),
            Some(json!({"lifecycle": "client"})),
            &[("if-match", "\"9\"")],
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, updated) = server
        .send_with(
            "PATCH",
            &path,
            Some(&owner),
            Some(json!({"lifecycle": "client"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!((status, updated["version"].as_u64()), (StatusCode::OK, Some(2)));

    let (status, _) = server.send("DELETE", &path, Some(&agent), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.send("DELETE", &path, Some(&owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = server.send("GET", &path, Some(&owner), None).await;
    assert_eq!((status, problem["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));

    let (status, log) = server.send("GET", "/v1/audit-log", Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    // The mutations in order; the refusal, counted in its window's entry, and the sign-ins.
    let items = log["items"].as_array().cloned().unwrap_or_default();
    let of = |action: &str| items.iter().filter(|e| e["action"] == action).count();
    let mutations: Vec<&str> =
        items.iter().filter_map(|e| e["action"].as_str()).filter(|a| a.starts_with("contact.")).collect();
    assert_eq!(mutations, vec!["contact.delete", "contact.update", "contact.create"]);
    assert_eq!((of("auth.denied"), of("auth.sign_in")), (1, 2), "{log}");

    // Guessing the webhook's verify token meets the limiter (30 per IP a window): within two
    // windows' worth, whatever the wall clock does meanwhile, with Retry-After.
    let guess = format!(
        "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=adivina&hub.challenge=1",
        server.base
    );
    let mut throttled = None;
    for n in 0..61 {
        let response = server.http.get(&guess).send().await.unwrap_or_else(|e| panic!("{e}"));
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled =
                response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u32>().ok());
            break;
        }
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "guess {n}");
    }
    assert!(throttled.is_some_and(|s| (1..=900).contains(&s)), "429 with Retry-After: {throttled:?}");

    let (status, _) = server.send("POST", "/v1/nothing-here", Some(&owner), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.send("PUT", "/v1/contacts", Some(&owner), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

pub fn local_settings() -> Settings {
    Settings::local_with(|_| None)
}

#[tokio::test]
async fn the_local_server_on_embedded_storage() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, local_settings()).await;
    the_frontend_journey(&server).await;
}

#[tokio::test]
async fn the_local_server_on_the_aws_adapters() {
    let Some(sdk) = moto_sdk().await else { return };
    let prefix = format!("bb{}-", ulid::Ulid::new().to_string().to_ascii_lowercase());
    let made = gestor_shared::adapters::provision::provision(&sdk, &prefix)
        .await
        .unwrap_or_else(|e| panic!("provisioning on the emulator: {e}"));
    let mut settings = local_settings();
    settings.set(Setting::TableName, made.table_name.clone());
    settings.set(Setting::BucketName, made.bucket_name.clone());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Aws, dir.path(), Some(sdk), settings).await;
    the_frontend_journey(&server).await;
}

/// The SDK configuration for the moto server `GESTOR_TEST_AWS_ENDPOINT` names; `None` (the AWS
/// half of a test skipped) without one, unless `GESTOR_REQUIRE_AWS=1` makes that a failure.
pub async fn moto_sdk() -> Option<aws_config::SdkConfig> {
    let Some(endpoint) = std::env::var("GESTOR_TEST_AWS_ENDPOINT").ok().filter(|e| !e.is_empty()) else {
        assert!(
            std::env::var("GESTOR_REQUIRE_AWS").as_deref() != Ok("1"),
            "GESTOR_TEST_AWS_ENDPOINT is required"
        );
        return None;
    };
    Some(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_credentials())
            .load()
            .await,
    )
}

fn aws_sdk_credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("test", "test", None, None, "black-box")
}

/// A backend on the moto server, provisioned under a fresh prefix, with `settings` pointed at
/// its table, bucket and queues; `None` without the emulator.
pub async fn moto_backend(
    name: &str,
    settings: &Settings,
) -> Option<(gestor_shared::backend::Backend, Settings)> {
    let sdk = moto_sdk().await?;
    let prefix = format!("{name}{}-", ulid::Ulid::new().to_string().to_ascii_lowercase());
    let made = gestor_shared::adapters::provision::provision(&sdk, &prefix)
        .await
        .unwrap_or_else(|e| panic!("provisioning on the emulator: {e}"));
    let mut on_aws = settings.clone();
    on_aws.set(Setting::TableName, made.table_name.clone());
    on_aws.set(Setting::BucketName, made.bucket_name.clone());
    for spec in gestor_shared::resources::QUEUES {
        let url = made.queue_urls.get(spec.name).cloned().unwrap_or_else(|| panic!("no {} queue", spec.name));
        on_aws.set(spec.url_setting, url);
    }
    Some((gestor_shared::backend::Backend::aws_with(&sdk, &on_aws), on_aws))
}

/// `X-Hub-Signature-256` of `body` under the app secret, as Meta signs its webhooks.
pub fn meta_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn the_development_secret_never_serves_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = Config {
        addr: "0.0.0.0:0".parse().unwrap_or_else(|e| panic!("{e}")),
        data_dir: dir.path().to_path_buf(),
        backend: BackendKind::Embedded,
        jwt_secret: gestor_local::config::DEV_JWT_SECRET.into(),
        jwt: Default::default(),
        settings: local_settings(),
        sdk: None,
        fake_channels: true,
    };
    let refused = gestor_local::start(config, async {}).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("GESTOR_DEV_JWT_SECRET"), "{message}");
}

/// A Graph API stand-in before which any token controls the phone number: `debug_token`
/// grants the business account for messaging and management, and the account lists it.
pub async fn graph_controls_number(graph: &wiremock::MockServer, phone_number_id: &str) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    const WABA: &str = "102290129340398";
    Mock::given(method("GET"))
        .and(path("/debug_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": {"is_valid": true, "type": "SYSTEM_USER",
            "granular_scopes": [{"scope": "whatsapp_business_management", "target_ids": [WABA]},
                                {"scope": "whatsapp_business_messaging", "target_ids": [WABA]}]}}),
        ))
        .mount(graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{WABA}/phone_numbers")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"data": [{"id": phone_number_id, "display_phone_number": "+52 55 0000 0000", "verified_name": "Tienda"}]}),
        ))
        .mount(graph)
        .await;
}
