//! The sweep of stuck replies: every few minutes, the replies still waiting a while after
//! they were written (their enqueue failed, or their job was lost) are put on the outbound
//! queue again. Enqueueing twice is harmless: the sender sends a reply only from `queued`.

use async_trait::async_trait;
use gestor_shared::ports::queue::SEND_BATCH_LIMIT;
use gestor_shared::ports::{Queue, Table};
use gestor_shared::registry::StartError;
use gestor_shared::repo::outbox::OutboxRepo;
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// A reply waiting this long after it was written has lost its job.
pub const STUCK_AFTER: Duration = Duration::minutes(2);
/// A reply the sweep enqueued is enqueued again only after this (it may be waiting for a
/// retry, whose job is in the queue).
pub const SWEPT_AGAIN_AFTER: Duration = Duration::minutes(10);
/// Entries read per partition and run.
const PER_RUN: usize = 100;

pub struct Sweep {
    outbox: OutboxRepo,
    queue: Arc<dyn Queue>,
    outbound_queue: String,
}

impl Sweep {
    pub fn new(
        table: Arc<dyn Table>,
        queue: Arc<dyn Queue>,
        settings: &Settings,
    ) -> Result<Self, StartError> {
        Ok(Self {
            outbox: OutboxRepo::new(table),
            queue,
            outbound_queue: settings.get(Setting::OutboundQueueUrl)?.to_owned(),
        })
    }

    /// Enqueues the stuck replies as of `now`; answers how many.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<usize, ScheduleError> {
        let failed = |e: &dyn std::fmt::Display| ScheduleError(e.to_string());
        let due = self
            .outbox
            .waiting(now - STUCK_AFTER, now - SWEPT_AGAIN_AFTER, PER_RUN)
            .await
            .map_err(|e| failed(&e))?;
        let mut enqueued = 0;
        for chunk in due.chunks(SEND_BATCH_LIMIT) {
            let messages = chunk.iter().map(|w| w.job.to_queue_message()).collect::<Result<Vec<_>, _>>();
            let messages = messages.map_err(|e| failed(&e))?;
            let outcome =
                self.queue.send_batch(&self.outbound_queue, messages).await.map_err(|e| failed(&e))?;
            for entry in chunk.iter().filter(|w| !outcome.failed.contains(&w.job.message_id.to_string())) {
                self.outbox.swept(&entry.key, now).await.map_err(|e| failed(&e))?;
                enqueued += 1;
            }
        }
        if enqueued > 0 {
            tracing::warn!(enqueued, "stuck replies enqueued again");
        }
        Ok(enqueued)
    }
}

#[async_trait]
impl Scheduled for Sweep {
    fn name(&self) -> &'static str {
        "outbound-sweep"
    }

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError> {
        self.sweep(gestor_shared::worker::due_at(&event)).await.map(|_| ())
    }
}
