//! `Idempotency-Key` records: a repeated write with the same key and body answers the first
//! answer instead of acting twice.
//!
//! Keys: `pk = {tenant}#IDEMPOTENCY`, `sk = {sub}#{sha256(key)}`. A record lives 24 hours
//! (checked in code; the TTL attribute only lets the store clean up). The stored answer holds
//! the created resource, so the record is personal data of that resource's subject.

use serde_json::Value;
use std::sync::Arc;

use super::keys::idempotency as keys;
use super::{now, personal};
use crate::domain::TenantId;
use crate::ports::table::TTL_ATTRIBUTE;
use crate::ports::{Condition, Item, Table, TableError, Update};

const LIFETIME_SECS: i64 = 24 * 3600;
/// A request still marked in progress after this long crashed; its key may be used again.
const IN_PROGRESS_SECS: i64 = 120;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First use of the key: act, then `complete` or `abandon`.
    Started,
    /// The key was used with the same body: answer this again.
    Replay(StoredAnswer),
    /// The key was used with another body.
    Mismatch,
    /// The first request with this key is still being handled.
    InProgress,
}

pub use super::keys::idempotency::fingerprint;

#[derive(Clone)]
pub struct IdempotencyRepo {
    table: Arc<dyn Table>,
}

impl IdempotencyRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn begin(
        &self,
        tenant: &TenantId,
        sub: &str,
        idempotency_key: &str,
        request_hash: &str,
    ) -> Result<Begin, TableError> {
        let key = keys::record(tenant, sub, idempotency_key);
        let now = now().unix_timestamp();
        let mut item = Item::new();
        item.insert("pk".into(), key.pk.clone().into());
        item.insert("sk".into(), key.sk.clone().into());
        item.insert("request_hash".into(), request_hash.into());
        item.insert("state".into(), "in_progress".into());
        item.insert("started_at".into(), now.into());
        item.insert(TTL_ATTRIBUTE.into(), (now + LIFETIME_SECS).into());
        match self.table.put(item.clone(), Some(Condition::NotExists)).await {
            Ok(()) => return Ok(Begin::Started),
            Err(TableError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        let Some(existing) = self.table.get(&key).await? else {
            // Deleted between our put and get (abandoned): take it.
            return self.take_over(item, None).await;
        };
        let int = |name: &str| existing.get(name).and_then(Value::as_i64).unwrap_or(0);
        let expired = int(TTL_ATTRIBUTE) <= now;
        let in_progress = existing.get("state").and_then(Value::as_str) == Some("in_progress");
        let stale = in_progress && int("started_at") + IN_PROGRESS_SECS <= now;
        if expired || stale {
            return self.take_over(item, existing.get("started_at").cloned()).await;
        }
        if existing.get("request_hash").and_then(Value::as_str) != Some(request_hash) {
            return Ok(Begin::Mismatch);
        }
        if in_progress {
            return Ok(Begin::InProgress);
        }
        Ok(Begin::Replay(StoredAnswer {
            status: u16::try_from(int("status")).unwrap_or(200),
            body: existing.get("body").and_then(Value::as_str).unwrap_or_default().to_owned(),
            etag: existing.get("etag").and_then(Value::as_str).map(str::to_owned),
        }))
    }

    async fn take_over(&self, item: Item, seen_started_at: Option<Value>) -> Result<Begin, TableError> {
        let condition = match seen_started_at {
            Some(v) => Condition::Equals("started_at".into(), v),
            None => Condition::NotExists,
        };
        match self.table.put(item, Some(condition)).await {
            Ok(()) => Ok(Begin::Started),
            Err(TableError::ConditionFailed) => Ok(Begin::InProgress),
            Err(e) => Err(e),
        }
    }

    /// Stores the answer. `subject` is whose data the answer holds, if anyone's.
    pub async fn complete(
        &self,
        tenant: &TenantId,
        sub: &str,
        idempotency_key: &str,
        answer: &StoredAnswer,
        subject: Option<&str>,
    ) -> Result<(), TableError> {
        let key = keys::record(tenant, sub, idempotency_key);
        let mut update = Update::default()
            .set("state", "done")
            .set("status", i64::from(answer.status))
            .set("body", answer.body.clone());
        if let Some(etag) = &answer.etag {
            update = update.set("etag", etag.clone());
        }
        if let Some(subject) = subject {
            let mut marks = Item::new();
            marks.insert("pk".into(), key.pk.clone().into());
            marks.insert("sk".into(), key.sk.clone().into());
            personal::mark(&mut marks, tenant, subject, "IDEMPOTENCY");
            for (name, value) in marks.into_iter().filter(|(n, _)| n != "pk" && n != "sk") {
                update.set.insert(name, value);
            }
        }
        self.table.update(&key, update, Some(Condition::Exists)).await.map(|_| ())
    }

    /// Forgets the key after a failed request, so the client may retry with it.
    pub async fn abandon(
        &self,
        tenant: &TenantId,
        sub: &str,
        idempotency_key: &str,
    ) -> Result<(), TableError> {
        self.table.delete(&keys::record(tenant, sub, idempotency_key), None).await.map(|_| ())
    }
}
