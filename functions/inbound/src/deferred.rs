//! The `deferred` consumer: inbound work taken off the conversation's path, from a standard
//! queue whose messages each carry their own delay. A job is a media download
//! ([`MediaJob`]) or the expiry check of updates parked for a message ([`ParkedJob`]).

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use gestor_shared::backend::Backend;
use gestor_shared::settings::Settings;
use gestor_shared::worker::{Consumer, retry};
use tracing::Instrument;

use crate::jobs::{DeferredJob, Retry};
use crate::media::MediaFetcher;
use crate::{Clock, Inbound, SetupError};

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
