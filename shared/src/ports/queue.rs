//! The queue port: what the functions need of SQS, honoured the same way by the embedded queue.

use async_trait::async_trait;
use std::time::Duration;

/// Most entries SQS accepts in one `SendMessageBatch`.
pub const SEND_BATCH_LIMIT: usize = 10;
/// Most bytes SQS accepts in one message and in one batch (the sum of its bodies).
pub const MESSAGE_SIZE_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Unique within one batch call; used to report per-entry failures.
    pub id: String,
    pub body: String,
    /// FIFO queues: messages of one group are delivered in order, one at a time.
    pub group_id: Option<String>,
    /// FIFO queues: a second send with the same id within five minutes is dropped.
    pub dedup_id: Option<String>,
    /// Standard queues: not visible to receivers until this delay passes (at most 15 minutes).
    pub delay: Option<Duration>,
}

impl OutgoingMessage {
    pub fn new(id: impl Into<String>, body: impl Into<String>) -> Self {
        Self { id: id.into(), body: body.into(), group_id: None, dedup_id: None, delay: None }
    }

    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    pub fn dedup(mut self, dedup_id: impl Into<String>) -> Self {
        self.dedup_id = Some(dedup_id.into());
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Identifies this receive: acks and visibility changes use it.
    pub receipt: String,
    pub body: String,
    pub group_id: Option<String>,
    /// How many times the message has been received, this receive included.
    pub receive_count: u32,
}

/// Entries of a batch send that the queue refused, by the entry id given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOutcome {
    pub failed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("invalid request to the queue: {0}")]
    Invalid(String),
    #[error("the queue does not exist: {0}")]
    NoSuchQueue(String),
    #[error("queue backend failure: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends up to [`SEND_BATCH_LIMIT`] messages in one call. A refused call is an error; a
    /// call that stored some entries but not others answers the failed ids.
    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendOutcome, QueueError>;

    /// Receives up to `max` (at most 10) messages, hiding them from other receivers for
    /// `visibility`. Answers at once (no long polling) when nothing is visible.
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Deletes a received message, so it is not delivered again.
    async fn ack(&self, queue: &str, receipt: &str) -> Result<(), QueueError>;

    /// Makes a received message visible again after `after` (zero: at once).
    async fn set_visibility(&self, queue: &str, receipt: &str, after: Duration) -> Result<(), QueueError>;

    /// Moves every message of `from` (a dead-letter queue) back to `to`; answers how many.
    async fn redrive(&self, from: &str, to: &str) -> Result<usize, QueueError>;
}
