//! The queue port over the embedded redb database, behaving as SQS does: per-message
//! visibility, receive counts, receipts renewed on every receive, FIFO groups delivered in
//! order one in-flight run at a time, five-minute deduplication, and dead-letter queues.
//!
//! The `queue` argument is a queue name (`inbound.fifo`, `outbound`); a name ending in
//! `.fifo` is a FIFO queue. Queues come into being on first use. Every queue of
//! [`resources::QUEUES`] (named without prefix) has its redrive policy: a message received
//! `max_receive_count` times moves to its dead-letter queue on the next receive instead of
//! being delivered.
//!
//! Receipts: acking with a receipt from an earlier receive of a message answers `Ok` and
//! leaves the message alone, as SQS documents; `set_visibility` with one is an error, since
//! the caller no longer holds the message.
//!
//! A redrive moves messages whole (SQS's sends copies under new ids), resetting their receive
//! count, and skips those in flight.

use super::sqs::{MAX_DELAY, MAX_VISIBILITY, check_batch, check_receive, is_fifo};
use crate::ports::{OutgoingMessage, Queue, QueueError, ReceivedMessage, SendOutcome};
use crate::resources;
use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Messages by queue name and a sequence number that only grows, so a range over one queue
/// walks its messages in send order.
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue_messages");
/// FIFO dedup ids by queue, with the millisecond their window ends.
const DEDUP: TableDefinition<(&str, &str), u64> = TableDefinition::new("queue_dedup");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("queue_counters");
const SEQUENCE: &str = "sequence";

const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Where "now" comes from; tests pass one they move by hand.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[derive(Clone)]
pub struct EmbeddedQueue {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<redb::Database>,
    clock: Clock,
    /// Queue name -> (dead-letter queue name, max receives).
    redrive: HashMap<String, (String, u32)>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    body: String,
    group: Option<String>,
    /// Milliseconds since the epoch from which receivers may see the message.
    visible_at: u64,
    receives: u32,
    /// The receipt of the latest receive; only it may ack the message.
    receipt: Option<String>,
}

impl EmbeddedQueue {
    pub fn new(db: Arc<redb::Database>) -> Result<Self, QueueError> {
        Self::with_clock(db, Arc::new(SystemTime::now))
    }

    pub fn with_clock(db: Arc<redb::Database>, clock: Clock) -> Result<Self, QueueError> {
        // Creating the tables up front lets every later call assume they exist.
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(MESSAGES).map_err(backend)?;
        txn.open_table(DEDUP).map_err(backend)?;
        txn.open_table(COUNTERS).map_err(backend)?;
        txn.commit().map_err(backend)?;
        let redrive = resources::QUEUES
            .iter()
            .map(|spec| (spec.queue_name(""), (spec.dlq_name(""), spec.max_receive_count)))
            .collect();
        Ok(Self { inner: Arc::new(Inner { db, clock, redrive }) })
    }

    /// Runs one write transaction off the async runtime's threads, committing on success.
    async fn write<T, F>(&self, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &WriteTransaction, u64) -> Result<T, QueueError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let now = millis((inner.clock)());
            let txn = inner.db.begin_write().map_err(backend)?;
            let out = f(&inner, &txn, now)?;
            txn.commit().map_err(backend)?;
            Ok(out)
        })
        .await
        .map_err(|e| QueueError::Backend(format!("embedded queue task failed: {e}")))?
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendOutcome, QueueError> {
        check_name(queue)?;
        check_batch(&messages)?;
        let fifo = is_fifo(queue);
        if fifo {
            check_fifo_entries(&messages)?;
        }
        let queue = queue.to_owned();
        self.write(move |_, txn, now| {
            let mut failed = Vec::new();
            if fifo {
                forget_expired_dedup(txn, &queue, now)?;
            }
            let mut dedup = txn.open_table(DEDUP).map_err(backend)?;
            for m in messages {
                let delay = m.delay.unwrap_or_default();
                // SQS reports an out-of-range delay against the entry, storing the others.
                if delay > MAX_DELAY {
                    failed.push(m.id);
                    continue;
                }
                if let (true, Some(dedup_id)) = (fifo, &m.dedup_id) {
                    let duplicate = dedup
                        .get((queue.as_str(), dedup_id.as_str()))
                        .map_err(backend)?
                        .is_some_and(|until| until.value() > now);
                    if duplicate {
                        continue;
                    }
                    let until = now.saturating_add(millis_of(DEDUP_WINDOW));
                    dedup.insert((queue.as_str(), dedup_id.as_str()), until).map_err(backend)?;
                }
                let stored = Stored {
                    id: ulid::Ulid::new().to_string().to_ascii_lowercase(),
                    body: m.body,
                    group: m.group_id,
                    visible_at: now.saturating_add(millis_of(delay)),
                    receives: 0,
                    receipt: None,
                };
                append(txn, &queue, &stored)?;
            }
            Ok(SendOutcome { failed })
        })
        .await
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_name(queue)?;
        check_receive(max, visibility)?;
        let queue = queue.to_owned();
        self.write(move |inner, txn, now| {
            let policy = inner.redrive.get(&queue);
            let mut delivered = Vec::new();
            let mut to_dlq = Vec::new();
            let mut table = txn.open_table(MESSAGES).map_err(backend)?;
            for (seq, mut m) in deliverable(&table, &queue, now)? {
                if delivered.len() >= max {
                    break;
                }
                if let Some((dlq, max_receives)) = policy
                    && m.receives >= *max_receives
                {
                    to_dlq.push((seq, m, dlq.clone()));
                    continue;
                }
                m.receives += 1;
                m.visible_at = now.saturating_add(millis_of(visibility));
                m.receipt = Some(format!("{seq:016x}-{}", ulid::Ulid::new()));
                delivered.push((seq, m));
            }
            let mut answer = Vec::with_capacity(delivered.len());
            for (seq, m) in delivered {
                table.insert((queue.as_str(), seq), encode(&m)?.as_slice()).map_err(backend)?;
                answer.push(ReceivedMessage {
                    message_id: m.id,
                    receipt: m.receipt.unwrap_or_default(),
                    body: m.body,
                    group_id: m.group,
                    receive_count: m.receives,
                });
            }
            drop(table);
            for (seq, mut m, dlq) in to_dlq {
                remove(txn, &queue, seq)?;
                // SQS keeps the receive count of a moved message.
                m.visible_at = now;
                m.receipt = None;
                append(txn, &dlq, &m)?;
            }
            Ok(answer)
        })
        .await
    }

    async fn ack(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        let seq = parse_receipt(receipt)?;
        let (queue, receipt) = (queue.to_owned(), receipt.to_owned());
        self.write(move |_, txn, _| {
            let current = load(txn, &queue, seq)?;
            if current.is_some_and(|m| m.receipt.as_deref() == Some(receipt.as_str())) {
                remove(txn, &queue, seq)?;
            }
            Ok(())
        })
        .await
    }

    async fn set_visibility(&self, queue: &str, receipt: &str, after: Duration) -> Result<(), QueueError> {
        let seq = parse_receipt(receipt)?;
        if after > MAX_VISIBILITY {
            return Err(QueueError::Invalid(format!("visibility {after:?} exceeds 12 hours")));
        }
        let (queue, receipt) = (queue.to_owned(), receipt.to_owned());
        self.write(move |_, txn, now| {
            let Some(mut m) =
                load(txn, &queue, seq)?.filter(|m| m.receipt.as_deref() == Some(receipt.as_str()))
            else {
                return Err(QueueError::Invalid(format!(
                    "receipt {receipt} is not the latest of a message in {queue}"
                )));
            };
            m.visible_at = now.saturating_add(millis_of(after));
            let mut table = txn.open_table(MESSAGES).map_err(backend)?;
            table.insert((queue.as_str(), seq), encode(&m)?.as_slice()).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn redrive(&self, from: &str, to: &str) -> Result<usize, QueueError> {
        check_name(from)?;
        check_name(to)?;
        if from == to {
            return Err(QueueError::Invalid("cannot redrive a queue into itself".into()));
        }
        let fifo_target = is_fifo(to);
        let (from, to) = (from.to_owned(), to.to_owned());
        self.write(move |_, txn, now| {
            let movable = {
                let table = txn.open_table(MESSAGES).map_err(backend)?;
                deliverable(&table, &from, now)?
            };
            let moved = movable.len();
            for (seq, mut m) in movable {
                remove(txn, &from, seq)?;
                m.receives = 0;
                m.visible_at = now;
                m.receipt = None;
                if fifo_target && m.group.is_none() {
                    m.group = Some(m.id.clone());
                }
                append(txn, &to, &m)?;
            }
            Ok(moved)
        })
        .await
    }
}

/// The messages of `queue` a receive may take now, in send order: visible ones, and on a
/// FIFO queue only those of groups with no earlier message in flight.
fn deliverable<T>(table: &T, queue: &str, now: u64) -> Result<Vec<(u64, Stored)>, QueueError>
where
    T: ReadableTable<(&'static str, u64), &'static [u8]>,
{
    let fifo = is_fifo(queue);
    let mut blocked = HashSet::new();
    let mut out = Vec::new();
    for entry in table.range((queue, 0)..=(queue, u64::MAX)).map_err(backend)? {
        let (key, value) = entry.map_err(backend)?;
        let m = decode(value.value())?;
        let group = m.group.clone().filter(|_| fifo);
        if group.as_ref().is_some_and(|g| blocked.contains(g)) {
            continue;
        }
        if m.visible_at > now {
            blocked.extend(group);
            continue;
        }
        out.push((key.value().1, m));
    }
    Ok(out)
}

fn forget_expired_dedup(txn: &WriteTransaction, queue: &str, now: u64) -> Result<(), QueueError> {
    let mut dedup = txn.open_table(DEDUP).map_err(backend)?;
    let mut expired = Vec::new();
    for entry in dedup.range((queue, "")..).map_err(backend)? {
        let (key, until) = entry.map_err(backend)?;
        let (q, id) = key.value();
        if q != queue {
            break;
        }
        if until.value() <= now {
            expired.push(id.to_owned());
        }
    }
    for id in expired {
        dedup.remove((queue, id.as_str())).map_err(backend)?;
    }
    Ok(())
}

fn append(txn: &WriteTransaction, queue: &str, m: &Stored) -> Result<(), QueueError> {
    let mut counters = txn.open_table(COUNTERS).map_err(backend)?;
    let seq = counters.get(SEQUENCE).map_err(backend)?.map_or(0, |v| v.value()) + 1;
    counters.insert(SEQUENCE, seq).map_err(backend)?;
    let mut table = txn.open_table(MESSAGES).map_err(backend)?;
    table.insert((queue, seq), encode(m)?.as_slice()).map_err(backend)?;
    Ok(())
}

fn load(txn: &WriteTransaction, queue: &str, seq: u64) -> Result<Option<Stored>, QueueError> {
    let table = txn.open_table(MESSAGES).map_err(backend)?;
    let value = table.get((queue, seq)).map_err(backend)?;
    value.map(|v| decode(v.value())).transpose()
}

fn remove(txn: &WriteTransaction, queue: &str, seq: u64) -> Result<(), QueueError> {
    let mut table = txn.open_table(MESSAGES).map_err(backend)?;
    table.remove((queue, seq)).map_err(backend)?;
    Ok(())
}

/// FIFO rules SQS applies to a whole batch (the queue has no content-based deduplication).
fn check_fifo_entries(messages: &[OutgoingMessage]) -> Result<(), QueueError> {
    for m in messages {
        if m.group_id.as_deref().is_none_or(str::is_empty) {
            return Err(QueueError::Invalid(format!("entry {:?} needs a group id on a FIFO queue", m.id)));
        }
        if m.dedup_id.as_deref().is_none_or(str::is_empty) {
            return Err(QueueError::Invalid(format!("entry {:?} needs a dedup id on a FIFO queue", m.id)));
        }
        if m.delay.is_some_and(|d| !d.is_zero()) {
            return Err(QueueError::Invalid(format!(
                "entry {:?}: FIFO queues take no per-message delay",
                m.id
            )));
        }
    }
    Ok(())
}

/// SQS queue names: 1-80 letters, digits, '-' or '_', `.fifo` included.
fn check_name(queue: &str) -> Result<(), QueueError> {
    let base = queue.strip_suffix(".fifo").unwrap_or(queue);
    let ok = !base.is_empty()
        && queue.len() <= 80
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(QueueError::Invalid(format!("invalid queue name {queue:?}"))) }
}

fn parse_receipt(receipt: &str) -> Result<u64, QueueError> {
    receipt
        .split_once('-')
        .and_then(|(seq, _)| u64::from_str_radix(seq, 16).ok())
        .ok_or_else(|| QueueError::Invalid(format!("{receipt:?} is not a receipt of this queue")))
}

fn encode(m: &Stored) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(m).map_err(|e| QueueError::Backend(format!("cannot encode a message: {e}")))
}

fn decode(bytes: &[u8]) -> Result<Stored, QueueError> {
    serde_json::from_slice(bytes).map_err(|e| QueueError::Backend(format!("corrupt stored message: {e}")))
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, millis_of)
}

fn millis_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(format!("embedded queue: {e}"))
}
