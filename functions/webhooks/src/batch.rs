//! Queue messages into as few `SendMessageBatch` calls as SQS allows: at most
//! [`SEND_BATCH_LIMIT`] entries and [`MESSAGE_SIZE_LIMIT`] bytes of bodies per call, packed
//! greedily in the delivery's order.
//!
//! Order within a FIFO group is the order the queue receives messages in, so calls run one
//! after another, except that consecutive batches sharing no group with each other run
//! together (up to [`MAX_IN_FLIGHT`]): a 1,000-update delivery from many customers does not
//! wait for a hundred round trips one by one, and one customer's updates stay in order.

use gestor_shared::ports::queue::{MESSAGE_SIZE_LIMIT, SEND_BATCH_LIMIT};
use gestor_shared::ports::{OutgoingMessage, Queue, QueueError};
use std::collections::HashSet;
use std::sync::Arc;

use crate::updates::QueueMessage;

/// Most batch calls in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;

/// Packs messages in order: a batch is closed when the next message would take it past the
/// entry or byte limit. Every message must fit on its own (oversized ones are pointers by now).
pub fn pack(messages: Vec<QueueMessage>) -> Vec<Vec<OutgoingMessage>> {
    let mut batches = Vec::new();
    let mut current: Vec<OutgoingMessage> = Vec::new();
    let mut bytes = 0;
    for (index, message) in messages.into_iter().enumerate() {
        let size = message.body.len();
        if !current.is_empty() && (current.len() == SEND_BATCH_LIMIT || bytes + size > MESSAGE_SIZE_LIMIT) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(
            OutgoingMessage::new(format!("u{index}"), message.body)
                .group(message.group_id)
                .dedup(message.dedup_id),
        );
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Why not every message was stored; the delivery must not be acknowledged.
#[derive(Debug)]
pub enum SendError {
    Refused(QueueError),
    /// The queue stored some entries of a call but not these.
    Failed(Vec<String>),
    Task(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => write!(f, "the queue refused a batch: {e}"),
            Self::Failed(ids) => write!(f, "the queue failed {} entries: {}", ids.len(), ids.join(", ")),
            Self::Task(e) => write!(f, "a batch send did not complete: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Sends every batch; stops after the first round with a failure (later rounds may hold
/// messages of the same groups, which must not overtake the failed ones).
pub async fn send_all(
    queue: &Arc<dyn Queue>,
    queue_url: &str,
    batches: Vec<Vec<OutgoingMessage>>,
) -> Result<(), SendError> {
    for round in rounds(batches) {
        let mut calls = tokio::task::JoinSet::new();
        for batch in round {
            let queue = Arc::clone(queue);
            let url = queue_url.to_owned();
            calls.spawn(async move { queue.send_batch(&url, batch).await });
        }
        let mut failure = None;
        while let Some(joined) = calls.join_next().await {
            let outcome = match joined {
                Err(e) => Err(SendError::Task(e.to_string())),
                Ok(Err(e)) => Err(SendError::Refused(e)),
                Ok(Ok(outcome)) if !outcome.failed.is_empty() => Err(SendError::Failed(outcome.failed)),
                Ok(Ok(_)) => Ok(()),
            };
            if let Err(e) = outcome {
                failure.get_or_insert(e);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}

/// Consecutive batches grouped into rounds whose batches share no FIFO group, at most
/// [`MAX_IN_FLIGHT`] to a round.
pub fn rounds(batches: Vec<Vec<OutgoingMessage>>) -> Vec<Vec<Vec<OutgoingMessage>>> {
    let mut rounds: Vec<Vec<Vec<OutgoingMessage>>> = Vec::new();
    let mut groups: HashSet<String> = HashSet::new();
    for batch in batches {
        let own: HashSet<String> = batch.iter().filter_map(|m| m.group_id.clone()).collect();
        let joins = rounds.last().is_some_and(|r| r.len() < MAX_IN_FLIGHT) && groups.is_disjoint(&own);
        if !joins {
            rounds.push(Vec::new());
            groups.clear();
        }
        groups.extend(own);
        if let Some(round) = rounds.last_mut() {
            round.push(batch);
        }
    }
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;
    use gestor_shared::inbound::{Channel, UpdateKind};

    fn message(group: &str, size: usize) -> QueueMessage {
        QueueMessage {
            channel: Channel::Whatsapp,
            kind: UpdateKind::Message,
            group_id: group.into(),
            dedup_id: format!("{group}-{size}"),
            body: "x".repeat(size),
            overflow: None,
        }
    }

    #[test]
    fn batches_close_at_ten_entries_or_at_the_byte_limit() {
        let small: Vec<_> = (0..25).map(|_| message("g", 100)).collect();
        let sizes: Vec<usize> = pack(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);

        let third = MESSAGE_SIZE_LIMIT / 3;
        let big: Vec<_> = (0..7).map(|_| message("g", third)).collect();
        let batches = pack(big);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        for batch in &batches {
            assert!(batch.iter().map(|m| m.body.len()).sum::<usize>() <= MESSAGE_SIZE_LIMIT);
        }

        let exact = vec![message("g", MESSAGE_SIZE_LIMIT), message("g", 1)];
        assert_eq!(pack(exact).len(), 2);
        assert!(pack(Vec::new()).is_empty());
    }

    #[test]
    fn entry_ids_are_unique_and_order_is_kept() {
        let messages: Vec<_> = (0..23).map(|i| message(&format!("g{i}"), 10)).collect();
        let flat: Vec<String> = pack(messages).into_iter().flatten().map(|m| m.id).collect();
        let expected: Vec<String> = (0..23).map(|i| format!("u{i}")).collect();
        assert_eq!(flat, expected);
    }

    #[test]
    fn rounds_never_put_one_group_in_two_concurrent_batches() {
        let one_customer = pack((0..30).map(|_| message("same", 10)).collect());
        assert_eq!(rounds(one_customer).iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);

        let many = pack((0..200).map(|i| message(&format!("c{i}"), 10)).collect());
        assert_eq!(rounds(many).iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 4]);

        // c0 appears in the first and third batches: the third starts a new round.
        let mut mixed: Vec<_> = (0..20).map(|i| message(&format!("c{}", i + 1), 10)).collect();
        mixed.insert(0, message("c0", 10));
        mixed.insert(20, message("c0", 10));
        let mixed = pack(mixed);
        assert_eq!(rounds(mixed).iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }
}
