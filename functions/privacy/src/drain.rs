//! The `dead-letters` schedule: every hour, each dead-letter queue emptied into the bucket
//! (`gestor_shared::dead_letters`), where an erasure reaches what they hold. A letter is
//! acknowledged only once it is kept, so a failure leaves it for the next run; the queue's
//! own retention (48 hours from first sending) stays the backstop.

use async_trait::async_trait;
use gestor_shared::backend::Backend;
use gestor_shared::dead_letters::{self, DeadLetter};
use gestor_shared::domain::TenantId;
use gestor_shared::inbound::InboundEnvelope;
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{Files, OutgoingMessage, Queue, TableError};
use gestor_shared::registry::StartError;
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::resources::{INBOUND, QUEUES, QueueSpec};
use gestor_shared::settings::Settings;
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Receives of ten per queue in one run, at most: a run ends well within its timeout, and
/// the next one takes the rest.
const MOST_BATCHES: usize = 100;

pub struct Drain {
    queue: Arc<dyn Queue>,
    files: Arc<dyn Files>,
    channels: ChannelRepo,
    /// Each queue's spec and its dead-letter queue's URL.
    dead: Vec<(QueueSpec, String)>,
    metrics: Metrics,
}

/// What a run moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    pub kept: usize,
    /// Of those, kept under no business (an inbound update of a channel nobody connects).
    pub unrouted: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("queue: {0}")]
    Queue(String),
    #[error("files: {0}")]
    Files(String),
    #[error(transparent)]
    Table(#[from] TableError),
}

impl Drain {
    pub fn new(backend: &Backend, settings: &Settings, metrics: Metrics) -> Result<Self, StartError> {
        let mut dead = Vec::new();
        for spec in QUEUES {
            let url = settings.get(spec.url_setting)?;
            let dlq = spec
                .dlq_url(url)
                .ok_or_else(|| format!("{} does not end in the queue's name", spec.url_setting.name()))?;
            dead.push((spec, dlq));
        }
        Ok(Self {
            queue: backend.queue.clone(),
            files: backend.files.clone(),
            channels: ChannelRepo::new(backend.table.clone()),
            dead,
            metrics,
        })
    }

    pub async fn drain(&self, now: OffsetDateTime) -> Result<Drained, DrainError> {
        let mut drained = Drained::default();
        for (spec, url) in &self.dead {
            for _ in 0..MOST_BATCHES {
                let received = self
                    .queue
                    .receive(url, 10, Duration::from_secs(300))
                    .await
                    .map_err(|e| DrainError::Queue(e.to_string()))?;
                if received.is_empty() {
                    break;
                }
                for message in received {
                    let letter = DeadLetter {
                        queue: spec.name.to_owned(),
                        message_id: message.message_id.clone(),
                        body: message.body.clone(),
                        group_id: message.group_id.clone(),
                        receive_count: message.receive_count,
                        moved_at: now,
                    };
                    let tenant = self.tenant_of(spec, &letter.body).await?;
                    let key = dead_letters::key(tenant.as_ref(), &letter);
                    let bytes = serde_json::to_vec(&letter).map_err(|e| DrainError::Files(e.to_string()))?;
                    self.files
                        .put_tagged(&key, bytes, "application/json", &[dead_letters::TAG])
                        .await
                        .map_err(|e| DrainError::Files(e.to_string()))?;
                    self.queue
                        .ack(url, &message.receipt)
                        .await
                        .map_err(|e| DrainError::Queue(e.to_string()))?;
                    drained.kept += 1;
                    drained.unrouted += usize::from(tenant.is_none());
                    self.metrics.count("DeadLetterKept", &[("Queue", spec.name)], &[]);
                }
            }
        }
        if drained.kept > 0 {
            tracing::warn!(
                kept = drained.kept,
                unrouted = drained.unrouted,
                "dead letters moved to the bucket"
            );
        }
        Ok(drained)
    }

    /// The business a dead letter belongs to: the one its job names, or for an inbound
    /// update the one its channel account is connected to.
    async fn tenant_of(&self, spec: &QueueSpec, body: &str) -> Result<Option<TenantId>, TableError> {
        let Ok(value) = serde_json::from_str::<Value>(body) else { return Ok(None) };
        if spec.name != INBOUND.name {
            return Ok(dead_letters::tenant_named(&value));
        }
        let Ok(envelope) = serde_json::from_value::<InboundEnvelope>(value) else { return Ok(None) };
        Ok(self.channels.route(envelope.channel, &envelope.account_id).await?.map(|(tenant, _)| tenant))
    }
}

/// Sends the dead letters kept under `prefix` (`dead_letters::prefix`) back to their queue
/// at `queue_url`, once the cause of their failure is fixed, deleting each once sent: the
/// number sent. A FIFO queue gets each in its own group again.
pub async fn replay(
    files: &dyn Files,
    queue: &dyn Queue,
    spec: &QueueSpec,
    queue_url: &str,
    prefix: &str,
) -> Result<usize, DrainError> {
    let mut sent = 0;
    for key in files.list(prefix).await.map_err(|e| DrainError::Files(e.to_string()))? {
        let object = files.get(&key).await.map_err(|e| DrainError::Files(e.to_string()))?;
        let Ok(letter) = serde_json::from_slice::<DeadLetter>(&object.bytes) else {
            tracing::warn!(key = %key, "not a kept dead letter; left in place");
            continue;
        };
        let mut message = OutgoingMessage::new("0", letter.body.clone());
        if spec.fifo {
            let group = letter.group_id.clone().unwrap_or_else(|| letter.message_id.clone());
            message = message.group(group).dedup(format!("replay-{}", letter.message_id));
        }
        let outcome =
            queue.send_batch(queue_url, vec![message]).await.map_err(|e| DrainError::Queue(e.to_string()))?;
        if !outcome.failed.is_empty() {
            return Err(DrainError::Queue(format!("the queue refused {key}")));
        }
        files.delete(&key).await.map_err(|e| DrainError::Files(e.to_string()))?;
        sent += 1;
    }
    Ok(sent)
}

#[async_trait]
impl Scheduled for Drain {
    fn name(&self) -> &'static str {
        "dead-letters"
    }

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError> {
        self.drain(gestor_shared::worker::due_at(&event))
            .await
            .map(|_| ())
            .map_err(|e| ScheduleError(e.to_string()))
    }
}
