//! Updates parked for a message not stored yet: parked under the message's channel id, applied
//! by the same code when the message arrives (so both orders end in the same state), and
//! dropped, with the `InboundParkedDropped` metric, once [`PARK_WINDOW`] passes without it.
//! The expiry is a delayed job on the deferred queue that checks again until then.

use gestor_shared::domain::TenantId;
use gestor_shared::inbound::Channel;
use gestor_shared::normalize::Normalized;
use gestor_shared::repo::contacts::Identity;
use gestor_shared::repo::parked::{Parked, ParkedUpdate};
use std::time::Duration;

use crate::Inbound;
use crate::changes::{Arrived, IfUnknown, target_of};
use crate::jobs::{DeferredJob, ParkedJob, Retry, retry_because};
use crate::outcome::{Outcome, RetryLater, storage};

/// How long a parked update waits for its message: a status races the send API's answer by
/// seconds, a reaction or an edit can overtake a message whose own delivery is being retried
/// by the channel; a message sent from another tool never comes.
pub const PARK_WINDOW: time::Duration = time::Duration::hours(1);
/// The longest delay a standard queue takes: the expiry check comes back at most this often.
const CHECK_EVERY: Duration = Duration::from_secs(900);
/// Rounds of apply-then-clear when more updates are parked meanwhile.
const ROUNDS: usize = 5;

impl Inbound {
    /// Parks `update`, whose message is not stored, and schedules its expiry check.
    pub(crate) async fn park(
        &self,
        tenant: &TenantId,
        arrived: &Arrived<'_>,
        update: &Normalized,
    ) -> Result<Outcome, RetryLater> {
        let Some((target, customer)) = target_of(update) else { return Ok(Outcome::Dropped("no target")) };
        // Its message was erased: nothing waits for it, and the update must not keep its id.
        if self
            .erased
            .is_erased(self.table.as_ref(), tenant, arrived.channel.as_str(), target)
            .await
            .map_err(storage)?
        {
            return Ok(Outcome::Dropped("an update of an erased message"));
        }
        let customer = customer.or(arrived.customer);
        // Whose data it is: the contact when known, else the channel identity (erasure of a
        // contact also looks under each of its identities).
        let subject = match customer {
            Some(external_id) => {
                let identity = Identity {
                    channel: arrived.channel.as_str().to_owned(),
                    external_id: external_id.to_owned(),
                };
                match self.contacts.id_by_identity(tenant, &identity).await.map_err(storage)? {
                    Some(contact) => contact.to_string(),
                    None => format!("{}:{external_id}", arrived.channel),
                }
            }
            None => format!("{}:unknown", arrived.channel),
        };
        let value = serde_json::to_value(update).map_err(storage)?;
        let parked = ParkedUpdate {
            update: value,
            received_at: arrived.received_at,
            account: arrived.account.map(str::to_owned),
        };
        let parking = self
            .parked
            .park(tenant, arrived.channel, target, &subject, parked, self.now())
            .await
            .map_err(storage)?;
        if parking.pushed_out > 0 {
            self.dropped(arrived.channel, parking.pushed_out);
        }
        if parking.schedule {
            let job = ParkedJob {
                tenant_id: tenant.to_string(),
                channel: arrived.channel,
                target: target.to_owned(),
            };
            let id = job.entry_id();
            DeferredJob::ExpireParked(job)
                .send(self.queue.as_ref(), &self.deferred_queue, id, CHECK_EVERY)
                .await
                .map_err(|e| RetryLater::Storage(e.0))?;
        }
        // The message may have landed between the update's miss and its parking: it would
        // not see this update, so apply it now rather than at the first check.
        if self.messages.find_by_channel_id(tenant, arrived.channel, target).await.map_err(storage)?.is_some()
            && let Some(parked) = self.parked.get(tenant, arrived.channel, target).await.map_err(storage)?
        {
            // Boxed: applying a parked update is a change that can no longer park.
            Box::pin(self.apply_parked(tenant, arrived.channel, target, parked)).await?;
            return Ok(Outcome::Stored);
        }
        self.metrics.count("InboundParked", &[("Channel", arrived.channel.as_str())], &[]);
        Ok(Outcome::Parked)
    }

    /// Applies what was parked under a message now stored, then clears it; again if more was
    /// parked meanwhile.
    pub(crate) async fn apply_parked(
        &self,
        tenant: &TenantId,
        channel: Channel,
        target: &str,
        parked: Parked,
    ) -> Result<(), RetryLater> {
        let mut next = Some(parked);
        for _ in 0..ROUNDS {
            let Some(parked) = next.take() else { return Ok(()) };
            for item in &parked.updates {
                let Ok(update) = serde_json::from_value::<Normalized>(item.update.clone()) else {
                    tracing::warn!("a parked update that no longer reads; dropped");
                    continue;
                };
                let arrived = Arrived {
                    channel,
                    account: item.account.as_deref(),
                    customer: None,
                    received_at: item.received_at,
                };
                if let Outcome::Dropped(_) =
                    self.change_message(tenant, &arrived, update, IfUnknown::Drop).await?
                {
                    self.dropped(channel, 1);
                }
            }
            if self.parked.clear(tenant, channel, target, &parked).await.map_err(storage)? {
                return Ok(());
            }
            next = self.parked.get(tenant, channel, target).await.map_err(storage)?;
        }
        Err(RetryLater::Storage("updates keep being parked for this message".into()))
    }

    /// The expiry check: applies what is parked if the message came meanwhile, drops it once
    /// the window is over, else checks again later.
    pub(crate) async fn expire_parked(&self, job: ParkedJob) -> Result<(), Retry> {
        let Ok(tenant) = TenantId::parse(&job.tenant_id) else { return Ok(()) };
        let Some(parked) = self.parked.get(&tenant, job.channel, &job.target).await.map_err(retry_because)?
        else {
            return Ok(());
        };
        let stored = self
            .messages
            .find_by_channel_id(&tenant, job.channel, &job.target)
            .await
            .map_err(retry_because)?;
        if stored.is_some() {
            return self.apply_parked(&tenant, job.channel, &job.target, parked).await.map_err(retry_because);
        }
        let age = self.now() - parked.parked_at;
        if age < PARK_WINDOW {
            let left = Duration::try_from(PARK_WINDOW - age).unwrap_or(CHECK_EVERY);
            let delay = left.min(CHECK_EVERY).max(Duration::from_secs(1));
            let id = job.entry_id();
            return DeferredJob::ExpireParked(job)
                .send(self.queue.as_ref(), &self.deferred_queue, id, delay)
                .await;
        }
        let count = parked.updates.len();
        if !self.parked.clear(&tenant, job.channel, &job.target, &parked).await.map_err(retry_because)? {
            return Err(Retry("more updates were parked meanwhile".into()));
        }
        tracing::warn!(tenant = %tenant, channel = %job.channel, count, "parked updates dropped: their message never came");
        self.dropped(job.channel, count);
        Ok(())
    }

    fn dropped(&self, channel: Channel, count: usize) {
        self.metrics.count_n("InboundParkedDropped", count as f64, &[("Channel", channel.as_str())], &[]);
    }
}
