//! What became of an update, and why one must be received again.

/// Why an update must be received again (and, after the queue's bound, dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum RetryLater {
    #[error("the queue message is not an inbound envelope: {0}")]
    Malformed(String),
    #[error("the envelope is version {0}, newer than this code reads")]
    NewerVersion(u32),
    #[error("storage failed: {0}")]
    Storage(String),
}

pub(crate) fn storage(e: impl std::fmt::Display) -> RetryLater {
    RetryLater::Storage(e.to_string())
}

/// What became of an update (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Repeated,
    /// About a message not stored yet: kept until it arrives.
    Parked,
    Unroutable,
    Dropped(&'static str),
}
