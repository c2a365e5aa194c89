//! The audit log: every successful mutation and every denied request, for the business's
//! owners and for detecting unauthorized access. Entries name changed fields, never values.
//!
//! Keys: `pk = {tenant}#AUDIT`, `sk = {audit id}` (ULIDs sort by time);
//! by actor `gsi1pk = {tenant}#AUDIT#ACTOR#{actor id}`, by resource
//! `gsi2pk = {tenant}#AUDIT#RESOURCE#{resource id}`, both sorted by the audit id. An entry
//! whose actor is a member is personal data of that member (IP, user agent).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::keys::audit as keys;
use super::{from_item, personal, to_item};
use crate::domain::TenantId;
use crate::ids::{AuditId, ulid_bounds_for_time};
use crate::ports::{Index, Item, Query, SortKey, Table, TableError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    Member,
    System,
    Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Denied,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    #[schema(value_type = String, example = "au_01JD5Z8Q9X7V4B3N2M1K0H9G8F")]
    pub id: AuditId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: time::OffsetDateTime,
    pub actor: Actor,
    /// `contact.create`, `contact.update`, `auth.denied` ...
    pub action: String,
    pub resource: Resource,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Names of the fields a mutation changed; never their values.
    #[serde(default)]
    pub changed_fields: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub resource: Option<String>,
    pub action: Option<String>,
    pub from: Option<time::OffsetDateTime>,
    pub to: Option<time::OffsetDateTime>,
}

impl AuditFilter {
    /// The canonical form of the filter, which a pagination cursor is bound to.
    pub fn canonical(&self) -> String {
        let time = |t: &Option<time::OffsetDateTime>| {
            t.map(|t| t.unix_timestamp_nanos().to_string()).unwrap_or_default()
        };
        format!(
            "audit-log?actor={}&resource={}&action={}&from={}&to={}",
            self.actor.as_deref().unwrap_or_default(),
            self.resource.as_deref().unwrap_or_default(),
            self.action.as_deref().unwrap_or_default(),
            time(&self.from),
            time(&self.to),
        )
    }

    fn matches(&self, entry: &AuditEntry) -> bool {
        self.action.as_ref().is_none_or(|a| &entry.action == a)
            && self.actor.as_ref().is_none_or(|a| &entry.actor.id == a)
            && self.resource.as_ref().is_none_or(|r| entry.resource.id.as_ref() == Some(r))
    }
}

#[derive(Clone)]
pub struct AuditRepo {
    table: Arc<dyn Table>,
}

impl AuditRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn record(&self, tenant: &TenantId, entry: &AuditEntry) -> Result<(), TableError> {
        let mut item = to_item(entry)?;
        let id = entry.id.as_str();
        item.insert("pk".into(), keys::log_partition(tenant).into());
        item.insert("sk".into(), id.into());
        item.insert(
            Index::Gsi1.partition_attribute().into(),
            keys::actor_partition(tenant, &entry.actor.id).into(),
        );
        item.insert(Index::Gsi1.sort_attribute().into(), id.into());
        if let Some(resource_id) = &entry.resource.id {
            item.insert(
                Index::Gsi2.partition_attribute().into(),
                keys::resource_partition(tenant, resource_id).into(),
            );
            item.insert(Index::Gsi2.sort_attribute().into(), id.into());
        }
        if entry.actor.kind == ActorType::Member {
            personal::mark(&mut item, tenant, &entry.actor.id, "AUDIT");
        }
        self.table.put(item, None).await
    }

    /// Newest first. Reads pages of the most selective index until `limit` entries match or
    /// the log is exhausted, so a page may hold fewer than `limit` and still have a cursor.
    pub async fn list(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        limit: usize,
        mut start_after: Option<Item>,
    ) -> Result<(Vec<AuditEntry>, Option<Item>), TableError> {
        let base = if let Some(actor) = &filter.actor {
            Query::index(Index::Gsi1, keys::actor_partition(tenant, actor))
        } else if let Some(resource) = &filter.resource {
            Query::index(Index::Gsi2, keys::resource_partition(tenant, resource))
        } else {
            Query::table(keys::log_partition(tenant))
        };
        let lower = filter.from.map(|t| format!("au_{}", ulid_bounds_for_time(t).0));
        let upper = filter.to.map(|t| format!("au_{}", ulid_bounds_for_time(t).1));
        let sort = match (lower, upper) {
            (Some(lo), Some(hi)) => SortKey::Between(lo, hi),
            (Some(lo), None) => SortKey::GreaterOrEqual(lo),
            (None, Some(hi)) => SortKey::LessOrEqual(hi),
            (None, None) => SortKey::BeginsWith("au_".into()),
        };
        let mut entries = Vec::new();
        // Bounded: a filter matching nothing in a long log answers an empty page with a cursor
        // rather than reading the whole log in one request.
        for _ in 0..10 {
            let page = self
                .table
                .query(
                    base.clone()
                        .sort(sort.clone())
                        .backward()
                        .limit(limit - entries.len())
                        .start_after(start_after.take()),
                )
                .await?;
            for item in page.items {
                let entry: AuditEntry = from_item(item)?;
                if filter.matches(&entry) {
                    entries.push(entry);
                }
            }
            start_after = page.last_key;
            if entries.len() >= limit || start_after.is_none() {
                break;
            }
        }
        Ok((entries, start_after))
    }
}
