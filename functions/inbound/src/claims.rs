//! The processing claim of a channel message: written when the worker starts on it and marked
//! complete only once every effect (contact, conversation, message, domain events) is stored.
//! A complete claim makes any later delivery a no-op; an incomplete one (a crash, or a
//! concurrent delivery) is simply done again, since every effect is idempotent.
//!
//! Keys: `pk = {tenant}#INBOUND#{channel}#{channel message id}`, `sk = PROCESSING`; ids only.
//! Kept 30 days (checked in code; the TTL attribute lets the store clean up), longer than
//! any channel retries a delivery.

use gestor_shared::domain::TenantId;
use gestor_shared::inbound::Channel;
use gestor_shared::ports::table::TTL_ATTRIBUTE;
use gestor_shared::ports::{Condition, Item, Key, Table, TableError, Update};
use serde_json::Value;
use time::OffsetDateTime;

const LIFETIME: time::Duration = time::Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    New,
    InProgress,
    Complete,
}

pub struct Claim {
    key: Key,
}

impl Claim {
    pub fn new(tenant: &TenantId, channel: Channel, channel_message_id: &str) -> Self {
        Self { key: Key::new(format!("{tenant}#INBOUND#{channel}#{channel_message_id}"), "PROCESSING") }
    }

    /// Claims the message for processing and answers what the claim was before: `New` when
    /// this call wrote it (one conditional write, the common case), else what a read of it
    /// shows. An expired claim counts as new and is written again.
    pub async fn begin(&self, table: &dyn Table, now: OffsetDateTime) -> Result<ClaimState, TableError> {
        let mut item = Item::new();
        item.insert("pk".into(), self.key.pk.clone().into());
        item.insert("sk".into(), self.key.sk.clone().into());
        item.insert("state".into(), "in_progress".into());
        item.insert("started_at".into(), now.unix_timestamp().into());
        item.insert(TTL_ATTRIBUTE.into(), (now + LIFETIME).unix_timestamp().into());
        match table.put(item.clone(), Some(Condition::NotExists)).await {
            Ok(()) => return Ok(ClaimState::New),
            Err(TableError::ConditionFailed) => {}
            Err(e) => return Err(e),
        }
        let Some(existing) = table.get(&self.key).await? else { return Ok(ClaimState::InProgress) };
        let expires = existing.get(TTL_ATTRIBUTE).and_then(Value::as_i64).unwrap_or(i64::MAX);
        if expires <= now.unix_timestamp() {
            table.put(item, None).await?;
            return Ok(ClaimState::New);
        }
        Ok(match existing.get("state").and_then(Value::as_str) {
            Some("complete") => ClaimState::Complete,
            _ => ClaimState::InProgress,
        })
    }

    pub async fn complete(&self, table: &dyn Table, now: OffsetDateTime) -> Result<(), TableError> {
        let update = Update::default()
            .set("state", "complete")
            .set("completed_at", now.unix_timestamp())
            .set(TTL_ATTRIBUTE, (now + LIFETIME).unix_timestamp());
        table.update(&self.key, update, None).await.map(|_| ())
    }
}
