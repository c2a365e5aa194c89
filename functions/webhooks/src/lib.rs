//! The `webhooks` function: `GET /webhooks/{channel}` (the verification handshake) and
//! `POST /webhooks/{channel}` (deliveries from WhatsApp, Messenger, Instagram and TikTok).
//!
//! A delivery is authenticated by its signature on the raw bytes, split into one queue
//! message per update (grouped by channel account and customer, deduplicated by the update's
//! own id) and sent to the inbound FIFO queue in as few batch calls as SQS allows, then
//! answered 200. The `inbound` worker does the rest.
//!
//! Both routes are public (a channel cannot log in). The function goes through the shared
//! dispatcher without a `Core`: no caller, no idempotency record, no audit entry. Its one way
//! to the table is the rate limiter of the unsigned handshake, whose IAM policy reaches only
//! the handshake's counters; a delivery never touches the table.

mod batch;
mod handlers;
mod meta_messaging;
pub mod signature;
mod tiktok;
pub mod updates;
mod whatsapp;
mod wire;

use gestor_shared::http::Policy;
use gestor_shared::http::routes::Target;
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::Table;
use gestor_shared::ports::secrets::SecretSource;
use gestor_shared::ports::{Files, Queue};
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use gestor_shared::repo::rate_limits::RateLimitRepo;
use gestor_shared::settings::{Setting, SettingError, Settings};
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use std::time::SystemTime;

pub use batch::{MAX_IN_FLIGHT, pack};
pub use gestor_shared::inbound::Channel;
pub use handlers::{ApiDoc, Received};
pub use signature::{Secrets, SignatureError, sign_meta, sign_tiktok};
pub use updates::{Overflow, Prepared, QueueMessage, prepare, split};

pub static FUNCTION: Declaration = Declaration {
    name: "webhooks",
    settings: &[
        Setting::MetaAppSecret,
        Setting::MetaVerifyToken,
        Setting::TiktokClientSecret,
        Setting::InboundQueueUrl,
        Setting::BucketName,
        Setting::TableName,
    ],
    serves: Serves::Http(HttpPart {
        routes: Webhooks::route_table,
        openapi,
        build: |deps| {
            let webhooks = Webhooks::new(deps.settings(), deps.queue(), deps.files()?, deps.table()?)?;
            Ok(Arc::new(webhooks.with_secret_source(deps.secret_source())))
        },
    }),
};

gestor_shared::routes!(Webhooks, name: function_name, limits: rate_limits, {
    // The handshake is unsigned: a stranger guessing the verify token is counted per IP and
    // per channel (Meta verifies once, when the subscription is set up).
    handlers::verify => Policy::public().limited(30, 300, 900, Target::Param("channel")),
    // Deliveries are signed: exempt, and they never touch the table.
    handlers::receive => Policy::public(),
});

/// Lambda's limit on a synchronous invocation's payload: a larger delivery never reaches a
/// deployed function, and the local server refuses it the same way.
pub const MAX_BODY: usize = 6 * 1024 * 1024;

/// Where "now" comes from (the TikTok timestamp window, `received_at`); tests pass their own.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// How often, at most, a failed signature makes the function fetch its secrets again (a
/// rotated app secret is picked up without a redeploy; a stranger's bad signatures cost at
/// most one fetch a minute).
pub const REFETCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The function's state, built once per cold start.
pub struct Webhooks {
    secrets: std::sync::RwLock<Arc<Secrets>>,
    /// Where the secrets came from, and when they were last fetched again.
    source: Option<Arc<dyn SecretSource>>,
    refetched: std::sync::Mutex<Option<SystemTime>>,
    queue: Arc<dyn Queue>,
    /// The handshake's counters: the function's only way to the table.
    rate_limits: RateLimitRepo,
    inbound_queue: String,
    files: Arc<dyn Files>,
    clock: Clock,
    metrics: Metrics,
    function_name: String,
}

impl Webhooks {
    pub fn new(
        settings: &Settings,
        queue: Arc<dyn Queue>,
        files: Arc<dyn Files>,
        table: Arc<dyn Table>,
    ) -> Result<Self, SettingError> {
        // The counters' digests are keyed by the app secret (under their own label): the
        // function reads no other secret that could key them.
        let rate_limits = RateLimitRepo::new(table, settings.get(Setting::MetaAppSecret)?.as_bytes());
        Ok(Self {
            rate_limits,
            secrets: std::sync::RwLock::new(Arc::new(Secrets::new(
                settings.get(Setting::MetaAppSecret)?,
                settings.get(Setting::MetaVerifyToken)?,
                settings.get(Setting::TiktokClientSecret)?,
            ))),
            source: None,
            refetched: std::sync::Mutex::new(None),
            queue,
            inbound_queue: settings.get(Setting::InboundQueueUrl)?.to_owned(),
            files,
            clock: Arc::new(SystemTime::now),
            metrics: Metrics::stdout(),
            function_name: settings.function_name.clone(),
        })
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        let at = clock.clone();
        let now = move || time::OffsetDateTime::from(at());
        self.rate_limits = self.rate_limits.with_clock(Arc::new(now));
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn with_secret_source(mut self, source: Option<Arc<dyn SecretSource>>) -> Self {
        self.source = source;
        self
    }

    /// The secrets in force.
    pub fn secrets(&self) -> Arc<Secrets> {
        match self.secrets.read() {
            Ok(secrets) => secrets.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The secrets fetched again after a signature failed, unless they were fetched less than
    /// [`REFETCH_EVERY`] ago or there is no store (the environment set them): `None` then, or
    /// when the store fails (logged).
    pub async fn refetched_secrets(&self) -> Option<Arc<Secrets>> {
        let source = self.source.as_ref()?;
        let now = (self.clock)();
        {
            let mut last = self.refetched.lock().ok()?;
            if last.is_some_and(|at| now.duration_since(at).is_ok_and(|since| since < REFETCH_EVERY)) {
                return None;
            }
            *last = Some(now);
        }
        let fetched = async {
            Ok::<_, gestor_shared::ports::secrets::SecretError>(Secrets::new(
                &source.fetch(Setting::MetaAppSecret).await?,
                &source.fetch(Setting::MetaVerifyToken).await?,
                &source.fetch(Setting::TiktokClientSecret).await?,
            ))
        };
        match fetched.await {
            Ok(secrets) => {
                let secrets = Arc::new(secrets);
                if let Ok(mut current) = self.secrets.write() {
                    *current = secrets.clone();
                }
                tracing::info!("secrets fetched again after a signature failed");
                Some(secrets)
            }
            Err(e) => {
                tracing::error!(cause = %e, "secrets not fetched again");
                None
            }
        }
    }

    /// Answers one request through the shared dispatcher.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        gestor_shared::http::serve(self, req).await
    }
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Webhooks::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
