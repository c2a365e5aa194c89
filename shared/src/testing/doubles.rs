//! Ports that fail the way the real services do, for other crates' tests: a queue that
//! refuses sends (an SQS 5xx) and counts them, a table whose writes fail (a throttled
//! transaction, a timeout), a bucket whose deletes fail, a mail service that refuses.

use crate::ports::{
    Condition, Item, Key, OutgoingMessage, Page, Query, Queue, QueueError, ReceivedMessage, SendOutcome,
    Table, TableError, TxOp, Update,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Takes one failure from `left` if any is left.
fn take(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// Fails the next `fail` sends to `queue`; the rest pass through. Counts every send.
pub struct RefusingQueue {
    pub inner: Arc<dyn Queue>,
    pub queue: &'static str,
    pub fail: AtomicUsize,
    pub sends: AtomicUsize,
}

impl RefusingQueue {
    /// Refuses the next `fail` sends to `queue`.
    pub fn new(inner: Arc<dyn Queue>, queue: &'static str, fail: usize) -> Self {
        Self { inner, queue, fail: AtomicUsize::new(fail), sends: AtomicUsize::new(0) }
    }

    pub fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Queue for RefusingQueue {
    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendOutcome, QueueError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        if queue == self.queue && take(&self.fail) {
            return Err(QueueError::Backend("503 Service Unavailable".into()));
        }
        self.inner.send_batch(queue, messages).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.inner.receive(queue, max, visibility).await
    }
    async fn ack(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(queue, receipt).await
    }
    async fn set_visibility(&self, queue: &str, receipt: &str, after: Duration) -> Result<(), QueueError> {
        self.inner.set_visibility(queue, receipt, after).await
    }
    async fn redrive(&self, from: &str, to: &str) -> Result<usize, QueueError> {
        self.inner.redrive(from, to).await
    }
}

/// Fails the next `fail_transactions` transactions that write an item whose partition key
/// contains `writing` (any, when empty), throttled, and then the next `conflicts` of them as
/// DynamoDB cancels a transaction that collided with another (`TransactionConflict`: no
/// condition failed); the next `fail_updates` single-item updates; and, after
/// `batch_deletes_before_failing` more pass, the next `fail_batch_deletes` batch deletes. The
/// rest pass through.
pub struct FailingTable {
    pub inner: Arc<dyn Table>,
    pub fail_transactions: AtomicUsize,
    pub conflicts: AtomicUsize,
    pub writing: &'static str,
    pub fail_updates: AtomicUsize,
    pub batch_deletes_before_failing: AtomicUsize,
    pub fail_batch_deletes: AtomicUsize,
}

impl FailingTable {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        Self {
            inner,
            fail_transactions: AtomicUsize::new(0),
            conflicts: AtomicUsize::new(0),
            writing: "",
            fail_updates: AtomicUsize::new(0),
            batch_deletes_before_failing: AtomicUsize::new(0),
            fail_batch_deletes: AtomicUsize::new(0),
        }
    }
}

fn writes_partition(op: &TxOp, part: &str) -> bool {
    match op {
        TxOp::Put { item, .. } => Key::of(item).is_some_and(|k| k.pk.contains(part)),
        TxOp::Update { key, .. } | TxOp::Delete { key, .. } => key.pk.contains(part),
        TxOp::Check { .. } => false,
    }
}

#[async_trait]
impl Table for FailingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.inner.get(key).await
    }
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, TableError> {
        self.inner.batch_get(keys).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, TableError> {
        if take(&self.fail_updates) {
            return Err(TableError::Backend("request timed out".into()));
        }
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<Option<Item>, TableError> {
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, TableError> {
        self.inner.query(query).await
    }
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        if ops.iter().any(|op| writes_partition(op, self.writing)) {
            if take(&self.fail_transactions) {
                return Err(TableError::Throttled);
            }
            if take(&self.conflicts) {
                return Err(TableError::TransactionCanceled { failed: vec![false; ops.len()] });
            }
        }
        self.inner.transact(ops).await
    }
    async fn batch_delete(&self, keys: &[Key]) -> Result<(), TableError> {
        if !take(&self.batch_deletes_before_failing) && take(&self.fail_batch_deletes) {
            return Err(TableError::Backend("service unavailable".into()));
        }
        self.inner.batch_delete(keys).await
    }
    async fn scan(&self, limit: usize, start_after: Option<Item>) -> Result<Page, TableError> {
        self.inner.scan(limit, start_after).await
    }
}

/// Fails the next `fail_deletes` deletes and `fail_gets` reads (an S3 503); the rest pass
/// through.
pub struct FailingFiles {
    pub inner: Arc<dyn crate::ports::Files>,
    pub fail_deletes: AtomicUsize,
    pub fail_gets: AtomicUsize,
}

impl FailingFiles {
    pub fn new(inner: Arc<dyn crate::ports::Files>) -> Self {
        Self { inner, fail_deletes: AtomicUsize::new(0), fail_gets: AtomicUsize::new(0) }
    }
}

#[async_trait]
impl crate::ports::Files for FailingFiles {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), crate::ports::FileError> {
        self.inner.put(key, bytes, content_type).await
    }
    async fn put_tagged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), crate::ports::FileError> {
        self.inner.put_tagged(key, bytes, content_type, tags).await
    }
    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, crate::ports::FileError> {
        self.inner.tags(key).await
    }
    async fn get(&self, key: &str) -> Result<crate::ports::StoredObject, crate::ports::FileError> {
        if take(&self.fail_gets) {
            return Err(crate::ports::FileError::Backend("503 Slow Down".into()));
        }
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), crate::ports::FileError> {
        if take(&self.fail_deletes) {
            return Err(crate::ports::FileError::Backend("503 Slow Down".into()));
        }
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, crate::ports::FileError> {
        self.inner.list(prefix).await
    }
    async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, crate::ports::FileError> {
        self.inner.presigned_get(key, expires_in).await
    }
    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<String, crate::ports::FileError> {
        self.inner.presigned_put(key, content_type, size, expires_in).await
    }
}

/// A mail service that keeps what it is given, and answers the next `fail` sends with an
/// SES-like error (throttled when `unavailable`, refused otherwise) without keeping them.
#[derive(Default)]
pub struct Postbox {
    pub sent: std::sync::Mutex<Vec<crate::ports::Mail>>,
    pub fail: AtomicUsize,
    pub unavailable: bool,
}

impl Postbox {
    pub fn failing(fail: usize, unavailable: bool) -> Self {
        Self { fail: AtomicUsize::new(fail), unavailable, ..Self::default() }
    }

    pub fn sent(&self) -> Vec<crate::ports::Mail> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl crate::ports::Mailer for Postbox {
    async fn send(&self, mail: &crate::ports::Mail) -> Result<String, crate::ports::MailError> {
        use crate::ports::MailError;
        if take(&self.fail) {
            return Err(if self.unavailable {
                MailError::Unavailable("TooManyRequestsException: Maximum sending rate exceeded".into())
            } else {
                MailError::Refused("MessageRejected: Email address is not verified".into())
            });
        }
        let mut sent = self.sent.lock().map_err(|_| MailError::Unavailable("poisoned".into()))?;
        sent.push(mail.clone());
        Ok(format!("m-{}", sent.len()))
    }
}
