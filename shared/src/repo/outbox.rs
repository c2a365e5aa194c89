//! The replies waiting to be sent, across tenants: an entry is written with the reply (in the
//! same transaction) and removed when it is sent or fails, so a reply whose enqueue failed,
//! or whose job was lost, is still found by the sweep, which enqueues it again. The job names
//! the customer on the channel (a WhatsApp id is a phone number), so the entry is the
//! contact's data, marked for the subject index like the reply itself.

use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::conversations::rfc3339;
use super::keys::outbox as keys;
use super::personal;
use crate::domain::TenantId;
use crate::outbound::SendJob;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Item, Key, Query, SortKey, Table, TableError, TxOp, Update};

const JOB: &str = "job";
const SWEPT_AT: &str = "swept_at";

/// The entry's key for a job.
pub fn key(job: &SendJob) -> Key {
    keys::entry(&job.tenant, job.message_id.as_str(), job.created_at)
}

/// The write adding the entry of `job`, whose customer is `contact_id`, to go in the reply's
/// transaction.
pub fn put(job: &SendJob, contact_id: &str) -> Result<TxOp, TableError> {
    let key = key(job);
    let tenant = job.tenant.clone();
    let mut item = Item::new();
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    let job = serde_json::to_value(job).map_err(|e| TableError::Invalid(e.to_string()))?;
    item.insert(JOB.into(), job);
    personal::mark(&mut item, &tenant, contact_id, "OUTBOX");
    Ok(TxOp::Put { item, condition: Some(Condition::NotExists) })
}

/// The write removing the entry of the reply of `tenant` with this id, queued at `at`.
pub fn delete(tenant: &TenantId, message_id: &str, queued_at: OffsetDateTime) -> TxOp {
    TxOp::Delete { key: keys::entry(tenant, message_id, queued_at), condition: None }
}

/// Pages of one partition read per sweep, at most.
const MOST_PAGES: usize = 10;

fn waiting_of(item: &Item) -> Option<Waiting> {
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let (pk, sk) = (text(PK)?, text(SK)?);
    let Some(job) = item.get(JOB).and_then(|j| serde_json::from_value(j.clone()).ok()) else {
        tracing::warn!("an outbox entry without a readable job");
        return None;
    };
    let swept_at = text(SWEPT_AT)
        .and_then(|t| OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok());
    Some(Waiting { key: Key::new(pk, sk), job, swept_at })
}

/// A waiting reply the sweep found.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub key: Key,
    pub job: SendJob,
    pub swept_at: Option<OffsetDateTime>,
}

#[derive(Clone)]
pub struct OutboxRepo {
    table: Arc<dyn Table>,
}

impl OutboxRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Replies queued before `before` and not swept since `swept_before`, oldest first, at
    /// most `limit` per partition. Pages past entries swept recently (replies waiting for a
    /// retry), so that they never hide newer lost ones.
    pub async fn waiting(
        &self,
        before: OffsetDateTime,
        swept_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<Waiting>, TableError> {
        let mut found = Vec::new();
        for shard in 0..keys::SHARDS {
            let mut taken = 0;
            let mut after = None;
            for _ in 0..MOST_PAGES {
                let query = Query::table(keys::partition(shard))
                    .sort(SortKey::LessThan(keys::since(before)))
                    .limit(limit)
                    .start_after(after.take());
                let page = self.table.query(query).await?;
                for item in page.items {
                    let Some(entry) = waiting_of(&item) else { continue };
                    if entry.swept_at.is_some_and(|at| at >= swept_before) || taken >= limit {
                        continue;
                    }
                    taken += 1;
                    found.push(entry);
                }
                match page.last_key {
                    Some(last) if taken < limit => after = Some(last),
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Records that the sweep enqueued the entry again at `at`.
    pub async fn swept(&self, key: &Key, at: OffsetDateTime) -> Result<(), TableError> {
        let update = Update::default().set(SWEPT_AT, rfc3339(at)?);
        match self.table.update(key, update, Some(Condition::Exists)).await {
            Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the entry of a reply that is done (sent, failed or gone).
    pub async fn remove(&self, job: &SendJob) -> Result<(), TableError> {
        self.table.delete(&key(job), None).await.map(|_| ())
    }
}
