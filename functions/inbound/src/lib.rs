//! The `inbound` worker: each update the `webhooks` function queued becomes, exactly once and
//! in its place, a contact, a conversation and a message of the right business — or a status,
//! reaction or deletion on a message already there.
//!
//! Batches come from a FIFO queue grouped by (channel account, customer): a failed update
//! holds back the rest of its group (their order matters) but nothing of other groups.

mod changes;
mod deferred;
mod jobs;
mod media;
mod message;
mod outcome;
mod parking;
mod process;
mod routes;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use gestor_shared::adapters::metered::measure;
use gestor_shared::backend::Backend;
use gestor_shared::crypto::KeyError;
use gestor_shared::graph::GraphError;
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{Files, Queue};
use gestor_shared::registry::{Declaration, QueuePart, Serves};
use gestor_shared::repo::arrivals::ArrivalRepo;
use gestor_shared::repo::contacts::ContactRepo;
use gestor_shared::repo::conversations::ConversationRepo;
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::messages::MessageRepo;
use gestor_shared::repo::parked::ParkedRepo;
use gestor_shared::settings::{Setting, SettingError, Settings};
use gestor_shared::worker::{Consumer, retry};
use std::sync::Arc;
use time::OffsetDateTime;
use tracing::Instrument;

pub use deferred::Deferred;
pub use jobs::{DeferredJob, MediaJob, ParkedJob};
pub use media::MediaFetcher;
pub use outcome::Outcome;
pub use parking::PARK_WINDOW;

/// How long a media download that failed is retried (the job comes back from the media
/// queue, delayed) before the message is kept without its file: long enough for a provider's
/// outage, short enough that a file that will never come stops costing requests.
pub const MEDIA_RETRY_WINDOW: time::Duration = time::Duration::hours(1);

/// Why the worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("CHANNEL_TOKEN_KEYS: {0}")]
    Keys(#[from] KeyError),
    #[error("the Graph client: {0}")]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// The inbound worker's own settings.
const INBOUND_SETTINGS: &[Setting] = &[
    Setting::TableName,
    Setting::BucketName,
    Setting::AutomationQueueUrl,
    Setting::DeferredQueueUrl,
    Setting::MetaAppId,
    Setting::ErasureKey,
];

pub static FUNCTION: Declaration = Declaration {
    name: "inbound",
    settings: INBOUND_SETTINGS,
    serves: Serves::Queue(QueuePart {
        queue: &gestor_shared::resources::INBOUND,
        build: |deps| Ok(Arc::new(Inbound::new(&deps.backend()?, deps.settings())?)),
    }),
};

/// The deferred worker: media downloads and parked updates' expiry, off the inbound path.
pub static DEFERRED: Declaration = Declaration {
    name: "deferred",
    settings: &[
        Setting::TableName,
        Setting::BucketName,
        Setting::AutomationQueueUrl,
        Setting::DeferredQueueUrl,
        Setting::ChannelTokenKeys,
        Setting::MetaGraphUrl,
        Setting::TiktokApiUrl,
        Setting::ErasureKey,
    ],
    serves: Serves::Queue(QueuePart {
        queue: &gestor_shared::resources::DEFERRED,
        build: |deps| Ok(Arc::new(Deferred::new(&deps.backend()?, deps.settings())?)),
    }),
};

pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

pub struct Inbound {
    pub(crate) files: Arc<dyn Files>,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) automation_queue: String,
    pub(crate) deferred_queue: String,
    pub(crate) routes: routes::RouteCache,
    pub(crate) arrivals: ArrivalRepo,
    /// Erased messages, by their ids' digests: their late updates are dropped.
    pub(crate) erased: ErasedIds,
    pub(crate) table: Arc<dyn gestor_shared::ports::Table>,
    pub(crate) parked: ParkedRepo,
    pub(crate) contacts: ContactRepo,
    pub(crate) conversations: ConversationRepo,
    pub(crate) messages: MessageRepo,
    pub(crate) templates: gestor_shared::repo::templates::TemplateRepo,
    /// Our Meta app: Messenger and Instagram echo what it sent with its id, and the sender
    /// records those messages itself.
    pub(crate) own_app_id: Option<String>,
    pub(crate) clock: Clock,
    pub(crate) metrics: Metrics,
}

impl Inbound {
    pub fn new(backend: &Backend, settings: &Settings) -> Result<Self, SetupError> {
        let table = backend.table.clone();
        let erased = ErasedIds::from_settings(settings)?;
        Ok(Self {
            routes: routes::RouteCache::new(table.clone()),
            arrivals: ArrivalRepo::new(table.clone(), erased.clone()),
            erased,
            table: table.clone(),
            parked: ParkedRepo::new(table.clone()),
            contacts: ContactRepo::new(table.clone()),
            conversations: ConversationRepo::new(table.clone()),
            templates: gestor_shared::repo::templates::TemplateRepo::new(table.clone()),
            messages: MessageRepo::new(table),
            files: backend.files.clone(),
            queue: backend.queue.clone(),
            automation_queue: settings.get(Setting::AutomationQueueUrl)?.to_owned(),
            deferred_queue: settings.get(Setting::DeferredQueueUrl)?.to_owned(),
            own_app_id: settings.get(Setting::MetaAppId).ok().map(str::to_owned),
            clock: Arc::new(OffsetDateTime::now_utc),
            metrics: Metrics::stdout(),
        })
    }

    /// The same worker reading time from `clock` (tests move it instead of sleeping).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same worker writing its metrics to `metrics` (tests read them back).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }
}

#[async_trait]
impl Consumer for Inbound {
    fn name(&self) -> &'static str {
        "inbound"
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut blocked_groups = std::collections::HashSet::new();
        let mut failed = Vec::new();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let group = record.attributes.get("MessageGroupId").cloned().unwrap_or_default();
            // Later updates of a group wait for the one that failed, so they keep their order.
            if blocked_groups.contains(&group) {
                failed.push(id);
                continue;
            }
            let receive = gestor_shared::worker::receive_count(record);
            let span = tracing::info_span!("inbound", function = "inbound", message_id = %id, receive);
            let (result, usage) = measure(self.process_record(record).instrument(span)).await;
            // What the update cost, for the bill: table requests and capacity units.
            tracing::info!(
                function = "inbound",
                message_id = %id,
                table_requests = usage.request_count(),
                read_units = usage.read_units,
                write_units = usage.write_units,
                "update cost"
            );
            if let Err(e) = result {
                tracing::warn!(message_id = %id, cause = %e, "update not processed; it will be retried");
                if !group.is_empty() {
                    blocked_groups.insert(group);
                }
                failed.push(id);
            }
        }
        retry(failed)
    }
}

#[cfg(test)]
mod tests;
