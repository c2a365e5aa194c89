//! Handler tests: API Gateway requests built by hand, the embedded queue and a folder as the
//! bucket, a fixed clock, and recorded metrics. Nothing sleeps.

mod channels;
mod dedup;
mod doubles;
mod fixtures;
mod props;
mod refusals;
mod rotation;
mod volume;

use gestor_shared::adapters::embedded_table::EmbeddedTable;
use gestor_shared::adapters::{embedded, embedded_queue::EmbeddedQueue, local_files::LocalFiles};
use gestor_shared::inbound::InboundEnvelope;
use gestor_shared::metrics::{Metrics, Recorder};
use gestor_shared::ports::{Files, Queue};
use gestor_shared::settings::Settings;
use gestor_shared::testing::ApiRequest;
use lambda_http::{Body, Response};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Webhooks, sign_meta, sign_tiktok};

pub const META_SECRET: &str = "meta-app-secret-for-tests";
pub const VERIFY_TOKEN: &str = "token-de-verificacion";
pub const TIKTOK_SECRET: &str = "tiktok-client-secret-for-tests";
pub const INBOUND: &str = "inbound.fifo";
/// 2026-11-18T11:06:40Z, the tests' "now".
pub const NOW_SECS: u64 = 1_795_000_000;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

pub fn settings() -> Settings {
    let lookup = |name: &str| match name {
        "META_APP_SECRET" => Some(META_SECRET.to_owned()),
        "META_VERIFY_TOKEN" => Some(VERIFY_TOKEN.to_owned()),
        "TIKTOK_CLIENT_SECRET" => Some(TIKTOK_SECRET.to_owned()),
        _ => None,
    };
    Settings::local_with(lookup)
}

pub struct World {
    pub webhooks: Webhooks,
    pub queue: Arc<EmbeddedQueue>,
    pub files: Arc<LocalFiles>,
    pub metrics: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

/// The function over the embedded queue and a folder, unless a test passes its own ports.
pub fn world() -> World {
    world_with(None, None)
}

pub fn world_with(queue: Option<Arc<dyn Queue>>, files: Option<Arc<dyn Files>>) -> World {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = embedded::open(&dir.path().join("q.redb")).unwrap_or_else(|e| panic!("{e}"));
    let embedded_queue = Arc::new(EmbeddedQueue::new(db).unwrap_or_else(|e| panic!("{e}")));
    let local_files =
        Arc::new(LocalFiles::new(dir.path().join("files"), "http://127.0.0.1:3000", b"k".to_vec()));
    let metrics = Arc::new(Recorder::default());
    let table_db = embedded::open(&dir.path().join("t.redb")).unwrap_or_else(|e| panic!("{e}"));
    let table = Arc::new(EmbeddedTable::new(table_db).unwrap_or_else(|e| panic!("{e}")));
    let table = Arc::new(gestor_shared::adapters::metered::Metered::new(table));
    let webhooks = Webhooks::new(
        &settings(),
        queue.unwrap_or_else(|| embedded_queue.clone()),
        files.unwrap_or_else(|| local_files.clone()),
        table,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .with_clock(Arc::new(now))
    .with_metrics(Metrics::with_sink(metrics.clone()));
    World { webhooks, queue: embedded_queue, files: local_files, metrics, _dir: dir }
}

impl World {
    pub async fn send(&self, request: ApiRequest) -> Response<Body> {
        self.webhooks.handle(request.build()).await
    }

    /// A delivery signed as its channel would sign it.
    pub async fn deliver(&self, channel: &str, body: &str) -> (u16, Value) {
        let request = post(channel, body);
        let request = if channel == "tiktok" {
            request.header("tiktok-signature", &sign_tiktok(TIKTOK_SECRET, NOW_SECS - 20, body.as_bytes()))
        } else {
            request.header("x-hub-signature-256", &sign_meta(META_SECRET, body.as_bytes()))
        };
        answer(self.send(request).await)
    }

    /// Every message on the inbound queue, received and acked, as envelopes with their group.
    pub async fn drain(&self) -> Vec<(String, InboundEnvelope)> {
        let mut all = Vec::new();
        loop {
            let got = self.queue.receive(INBOUND, 10, Duration::from_secs(60)).await;
            let got = got.unwrap_or_else(|e| panic!("{e}"));
            if got.is_empty() {
                return all;
            }
            for m in got {
                self.queue.ack(INBOUND, &m.receipt).await.unwrap_or_else(|e| panic!("{e}"));
                let envelope = serde_json::from_str(&m.body).unwrap_or_else(|e| panic!("{e}: {}", m.body));
                all.push((m.group_id.unwrap_or_default(), envelope));
            }
        }
    }

    pub async fn stored(&self) -> Vec<String> {
        self.files.list("").await.unwrap_or_else(|e| panic!("{e}"))
    }
}

pub fn post(channel: &str, body: &str) -> ApiRequest {
    ApiRequest::new("POST /webhooks/{channel}")
        .param("channel", channel)
        .header("content-type", "application/json")
        .raw_body(body.to_owned())
}

pub fn answer(response: Response<Body>) -> (u16, Value) {
    gestor_shared::testing::answer(response)
}

#[test]
fn the_openapi_part_documents_both_public_routes() {
    let doc = serde_json::to_value(crate::openapi()).unwrap_or_default();
    for route in crate::Webhooks::route_table() {
        assert_eq!(route.access, gestor_shared::http::Access::Public);
        assert!(route.audit.is_none() && !route.idempotent);
        let operation = &doc["paths"][route.path()][route.method().to_lowercase()];
        assert!(operation.is_object(), "{} undocumented", route.key);
        assert_eq!(operation["security"], serde_json::json!([{}]), "{}: no token", route.key);
    }
    let get = &doc["paths"]["/webhooks/{channel}"]["get"];
    assert!(get["responses"]["200"]["content"]["text/plain"].is_object());
}
