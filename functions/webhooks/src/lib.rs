//! The `webhooks` function: `GET /webhooks/{channel}` (the verification handshake) and
//! `POST /webhooks/{channel}` (deliveries from WhatsApp, Messenger, Instagram and TikTok).
//!
//! A delivery is authenticated by its signature on the raw bytes, split into one queue
//! message per update (grouped by channel account and customer, deduplicated by the update's
//! own id) and sent to the inbound FIFO queue in as few batch calls as SQS allows, then
//! answered 200. Nothing here reads or writes the table: the function holds none. The
//! `inbound` worker does the rest.
//!
//! Both routes are public (a channel cannot log in), and this function answers requests
//! itself rather than through the shared dispatcher: the handshake must echo its challenge as
//! `text/plain`, which the dispatcher's JSON replies cannot, and the dispatcher's `Core`
//! would bring a table this path must never touch. Route lookup, logging and error bodies
//! are the dispatcher's.

mod batch;
mod handlers;
mod meta_messaging;
pub mod signature;
mod tiktok;
pub mod updates;
mod whatsapp;

use gestor_shared::http::request::RequestMeta;
use gestor_shared::http::service::{find_route, logged};
use gestor_shared::http::{Access, ApiError, Call, Route};
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{Files, Queue};
use gestor_shared::settings::Settings;
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use std::time::SystemTime;

pub use batch::{MAX_IN_FLIGHT, pack};
pub use gestor_shared::inbound::Channel;
pub use handlers::{ApiDoc, Received};
pub use signature::{Secrets, SignatureError, sign_meta, sign_tiktok};
pub use updates::{Overflow, Prepared, QueueMessage, prepare, split};

pub const ROUTES: &[Route] = &[
    Route { key: "GET /webhooks/{channel}", access: Access::Public, audit: None, idempotent: false },
    Route { key: "POST /webhooks/{channel}", access: Access::Public, audit: None, idempotent: false },
];

/// Lambda's limit on a synchronous invocation's payload: a larger delivery never reaches a
/// deployed function, and the local server refuses it the same way.
pub const MAX_BODY: usize = 6 * 1024 * 1024;

/// Where "now" comes from (the TikTok timestamp window, `received_at`); tests pass their own.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The function's state, built once per cold start.
pub struct Webhooks {
    secrets: Secrets,
    queue: Arc<dyn Queue>,
    inbound_queue: String,
    files: Arc<dyn Files>,
    clock: Clock,
    metrics: Metrics,
    function_name: String,
}

impl Webhooks {
    pub fn new(settings: &Settings, queue: Arc<dyn Queue>, files: Arc<dyn Files>) -> Self {
        Self {
            secrets: Secrets::new(
                &settings.meta_app_secret,
                &settings.meta_verify_token,
                &settings.tiktok_client_secret,
            ),
            queue,
            inbound_queue: settings.inbound_queue_url.clone(),
            files,
            clock: Arc::new(SystemTime::now),
            metrics: Metrics::stdout(),
            function_name: settings.function_name.clone(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Answers one request, as the shared dispatcher does for a public route: no caller, and
    /// never the table (the handshake answers text/plain, which a `Reply` does not).
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let meta = RequestMeta::of(&req);
        logged(&self.function_name, &meta, self.dispatch(&req, &meta)).await
    }

    async fn dispatch(&self, req: &Request, meta: &RequestMeta) -> Result<Response<Body>, ApiError> {
        let (route, params) = find_route(ROUTES, meta, req.method().as_str(), req.uri().path())?;
        tracing::Span::current().record("route", route.key);
        let mut call = Call::from_request(req, None);
        if call.path.is_empty() {
            call.path = params;
        }
        match route.key {
            "GET /webhooks/{channel}" => handlers::verify(self, &call),
            "POST /webhooks/{channel}" => handlers::receive(self, call).await,
            _ => Err(ApiError::NotFound),
        }
    }
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests;
