//! When snoozed conversations wake up, across tenants: an entry per snooze, read by the
//! wake-up schedule once due. An entry whose conversation was reopened, resolved or snoozed
//! again meanwhile is simply dropped: the conversation decides, the entry only says when to
//! look. Ids only.

use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::snoozes as keys;
use crate::domain::TenantId;
use crate::ids::ConversationId;
use crate::ports::table::{PK, SK};
use crate::ports::{Item, Key, Query, SortKey, Table, TableError};

/// A wake-up the schedule found due.
#[derive(Debug, Clone, PartialEq)]
pub struct WakeUp {
    pub key: Key,
    pub tenant: TenantId,
    pub conversation_id: ConversationId,
}

#[derive(Clone)]
pub struct SnoozeRepo {
    table: Arc<dyn Table>,
}

impl SnoozeRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn schedule(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        until: OffsetDateTime,
    ) -> Result<(), TableError> {
        let key = keys::wake_up(tenant, conversation_id.as_str(), until);
        let mut item = Item::new();
        item.insert(PK.into(), key.pk.into());
        item.insert(SK.into(), key.sk.into());
        item.insert("tenant_id".into(), tenant.as_str().into());
        item.insert("conversation_id".into(), conversation_id.as_str().into());
        self.table.put(item, None).await
    }

    /// Wake-ups due at `now`, oldest first, at most `limit` per partition.
    pub async fn due(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<WakeUp>, TableError> {
        let mut found = Vec::new();
        for shard in 0..keys::SHARDS {
            let query = Query::table(keys::partition(shard))
                .sort(SortKey::LessThan(keys::due_from(now)))
                .limit(limit);
            for item in self.table.query(query).await?.items {
                let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
                let tenant = text("tenant_id").and_then(|t| TenantId::parse(&t).ok());
                let conversation = text("conversation_id").and_then(|c| ConversationId::parse(&c).ok());
                match (text(PK), text(SK), tenant, conversation) {
                    (Some(pk), Some(sk), Some(tenant), Some(conversation_id)) => {
                        found.push(WakeUp { key: Key::new(pk, sk), tenant, conversation_id })
                    }
                    _ => tracing::warn!("a snooze entry without its ids"),
                }
            }
        }
        Ok(found)
    }

    pub async fn remove(&self, key: &Key) -> Result<(), TableError> {
        self.table.delete(key, None).await.map(|_| ())
    }
}
