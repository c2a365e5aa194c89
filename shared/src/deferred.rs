//! The jobs of the deferred queue, as they travel: a media download or the expiry check of
//! parked updates, and why one must be received again.

use crate::inbound::Channel;
use crate::ports::{OutgoingMessage, Queue, TableError};
use crate::repo::arrivals::Owed;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

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

/// The download a stored message owes. Ids only: the reference to fetch is read from the
/// message itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaJob {
    pub tenant_id: String,
    pub channel_account_id: String,
    pub channel: Channel,
    pub channel_message_id: String,
    pub message_id: String,
    /// When the webhook received the message: the retry window counts from here.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// Downloads tried so far.
    pub attempt: u32,
}

/// The expiry check of what is parked under one channel message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedJob {
    pub tenant_id: String,
    pub channel: Channel,
    pub target: String,
}

impl ParkedJob {
    /// A queue entry id (letters, digits, `_`, at most 80) that is the same for one target.
    pub fn entry_id(&self) -> String {
        use sha2::Digest;
        let digest =
            sha2::Sha256::digest(format!("{}|{}|{}", self.tenant_id, self.channel, self.target).as_bytes());
        format!("parked_{}", hex::encode(&digest[..16]))
    }
}
