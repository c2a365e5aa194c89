//! The `deferred` consumer: inbound work taken off the conversation's path, from a standard
//! queue whose messages each carry their own delay. A job is a media download
//! ([`MediaJob`]) or the expiry check of updates parked for a message ([`ParkedJob`]).

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use gestor_shared::backend::Backend;
use gestor_shared::ports::{OutgoingMessage, Queue, TableError};
use gestor_shared::repo::arrivals::Owed;
use gestor_shared::settings::Settings;
use gestor_shared::worker::{Consumer, retry};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::Instrument;

use crate::media::{MediaFetcher, MediaJob};
use crate::parking::ParkedJob;
use crate::{Clock, Inbound, SetupError};

/// The role of the deferred queue in what a message owes ([`Owed::to`]).
pub const QUEUE: &str = "deferred";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum DeferredJob {
    FetchMedia(MediaJob),
    ExpireParked(ParkedJob),
}

impl DeferredJob {
    pub fn to_owed(&self, id: String) -> Result<Owed, TableError> {
        let body = serde_json::to_string(self).map_err(|e| TableError::Invalid(e.to_string()))?;
        Ok(Owed { to: QUEUE.into(), id, body })
    }

    /// Sends the job to the deferred queue, visible after `delay` (at most 15 minutes).
    pub async fn send(
        &self,
        queue: &dyn Queue,
        address: &str,
        id: String,
        delay: Duration,
    ) -> Result<(), Retry> {
        let body = serde_json::to_string(self).map_err(retry_because)?;
        let outcome = queue
            .send_batch(address, vec![OutgoingMessage::new(id, body).delay(delay)])
            .await
            .map_err(retry_because)?;
        match outcome.failed.is_empty() {
            true => Ok(()),
            false => Err(Retry("the deferred queue refused the job".into())),
        }
    }
}

/// Why a job must be received again: the store or a queue failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Retry(pub String);

pub fn retry_because(e: impl std::fmt::Display) -> Retry {
    Retry(e.to_string())
}

pub struct Deferred {
    inbound: Inbound,
    media: MediaFetcher,
}

impl Deferred {
    /// The consumer, with its token cipher and Graph client built once per cold start.
    pub fn new(backend: &Backend, settings: &Settings) -> Result<Self, SetupError> {
        Ok(Self { inbound: Inbound::new(backend, settings)?, media: MediaFetcher::new(backend, settings)? })
    }

    pub fn with_clock(self, clock: Clock) -> Self {
        Self { inbound: self.inbound.with_clock(clock.clone()), media: self.media.with_clock(clock) }
    }

    pub fn with_metrics(self, metrics: gestor_shared::metrics::Metrics) -> Self {
        Self { inbound: self.inbound.with_metrics(metrics.clone()), media: self.media.with_metrics(metrics) }
    }

    async fn process(&self, record: &SqsMessage) -> Result<(), Retry> {
        let body = record.body.as_deref().unwrap_or_default();
        match serde_json::from_str::<DeferredJob>(body) {
            Ok(DeferredJob::FetchMedia(job)) => self.media.run(job).await,
            Ok(DeferredJob::ExpireParked(job)) => self.inbound.expire_parked(job).await,
            Err(_) => {
                tracing::warn!("a deferred job that does not parse; dropped");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Consumer for Deferred {
    fn name(&self) -> &'static str {
        "deferred"
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failed = Vec::new();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("deferred", function = "deferred", message_id = %id);
            if let Err(e) = self.process(record).instrument(span).await {
                tracing::warn!(message_id = %id, cause = %e, "deferred job not done; it will be retried");
                failed.push(id);
            }
        }
        retry(failed)
    }
}
