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
use crate::ports::{Index, Item, Query, SortKey, Table, TableError, TxOp, Update};

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

impl Actor {
    /// A channel account, for what its webhooks said.
    pub fn channel(account_id: &str) -> Self {
        Self { kind: ActorType::Channel, id: account_id.to_owned() }
    }

    /// A worker or a schedule, by its function's name, for what it did itself.
    pub fn system(function: &str) -> Self {
        Self { kind: ActorType::System, id: function.to_owned() }
    }
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
    /// A denied entry stands for every denied request of its actor, IP and kind of resource
    /// in its window ([`DENIED_WINDOW`], starting at `at`): how many there were, and when the
    /// last one came. A purge of the log (`audit.purge`) says how many entries it deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_at: Option<time::OffsetDateTime>,
}

impl AuditEntry {
    /// What a worker or a schedule did, now: no IP, user agent or request of a person.
    pub fn by(actor: Actor, action: &str, resource: Resource, changed_fields: &[&str]) -> Self {
        Self {
            id: AuditId::new(),
            at: time::OffsetDateTime::now_utc(),
            actor,
            action: action.to_owned(),
            resource,
            outcome: Outcome::Ok,
            ip: None,
            user_agent: None,
            request_id: None,
            changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
            count: None,
            last_at: None,
        }
    }
}

/// The fields `update` changes, as an audit entry names them: what it sets, removes or adds
/// to, less the writer's own `bookkeeping` attributes.
pub fn changed_fields<'u>(update: &'u Update, bookkeeping: &[&str]) -> Vec<&'u str> {
    let mut fields: Vec<&str> = update
        .set
        .keys()
        .map(String::as_str)
        .chain(update.remove.iter().map(String::as_str))
        .chain(update.add.iter().map(|(name, _)| name.as_str()))
        .filter(|name| !bookkeeping.contains(name))
        .collect();
    fields.sort_unstable();
    fields.dedup();
    fields
}

/// Pages of 500 entries detection reads of one business's window at most.
const WINDOW_PAGES: usize = 20;

/// The window denied requests are counted in: one entry per actor, IP and kind of resource.
pub const DENIED_WINDOW: time::Duration = time::Duration::minutes(15);

/// The start of the window `at` falls in.
pub fn window_start(at: time::OffsetDateTime) -> time::OffsetDateTime {
    let seconds = DENIED_WINDOW.whole_seconds();
    let start = at.unix_timestamp().div_euclid(seconds) * seconds;
    time::OffsetDateTime::from_unix_timestamp(start).unwrap_or(at)
}

/// The id of the window's entry for these parts: a ULID of the window's start whose random
/// half is a digest of the parts, so every denied request of the window names the same entry
/// and the log's time order and `from`/`to` filters still hold. Writers that must record an
/// event once however often they run (detection) derive their ids the same way.
pub fn window_entry_id(window: time::OffsetDateTime, parts: &[&str]) -> Result<AuditId, TableError> {
    let digest = super::idempotency::fingerprint(parts.join("\n").as_bytes());
    let random = u128::from_str_radix(&digest[..20], 16).unwrap_or_default();
    let ms = u64::try_from(window.unix_timestamp()).unwrap_or_default() * 1000;
    AuditId::parse(&format!("au_{}", ulid::Ulid::from_parts(ms, random)))
        .map_err(|e| TableError::Invalid(e.to_string()))
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub resource: Option<String>,
    pub action: Option<String>,
    pub from: Option<time::OffsetDateTime>,
    pub to: Option<time::OffsetDateTime>,
    /// The retention's edge: older entries are past keeping, whether or not the daily purge
    /// deleted them yet. Not part of the query a cursor is bound to (it moves with the clock).
    pub not_before: Option<time::OffsetDateTime>,
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

    /// A denied entry stands for its window from `at` to `last_at`: it matches a time range
    /// it overlaps.
    fn matches(&self, entry: &AuditEntry) -> bool {
        self.from.is_none_or(|from| entry.last_at.unwrap_or(entry.at) >= from)
            && self.not_before.is_none_or(|edge| entry.last_at.unwrap_or(entry.at) >= edge)
            && self.to.is_none_or(|to| entry.at <= to)
            && self.action.as_ref().is_none_or(|a| &entry.action == a)
            && self.actor.as_ref().is_none_or(|a| &entry.actor.id == a)
            && self.resource.as_ref().is_none_or(|r| entry.resource.id.as_ref() == Some(r))
    }
}

/// An entry's item: the log's and its two indexes' keys, and the subject index when a member
/// acted (their IP and user agent are their personal data).
fn entry_item(tenant: &TenantId, entry: &AuditEntry) -> Result<Item, TableError> {
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
    } else if entry.resource.kind == "member"
        && let Some(member) = &entry.resource.id
    {
        // A security event about a member (a new device) is theirs too.
        personal::mark(&mut item, tenant, member, "AUDIT");
    }
    Ok(item)
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
        self.table.put(entry_item(tenant, entry)?, None).await
    }

    /// Counts a denied request in its window's entry (created by the first one) and answers
    /// the count so far: one write per request, and one entry per window however many come.
    pub async fn record_denied(&self, tenant: &TenantId, entry: &AuditEntry) -> Result<u64, TableError> {
        let window = window_start(entry.at);
        // An IPv6 client by its /64, as the rate limiter counts it: a host picks any of its
        // 2^64 addresses, and one entry per address would flood the log all the same.
        let ip = super::rate_limits::network_of(entry.ip.as_deref().unwrap_or_default());
        let id = window_entry_id(window, &[&entry.actor.id, &ip, &entry.resource.kind])?;
        let aggregate = AuditEntry { id, at: window, count: None, last_at: Some(entry.at), ..entry.clone() };
        self.add_to_count(tenant, &aggregate, 1).await
    }

    /// Writes `entry` (its id chosen by the caller) with `by` added to its `count`, created
    /// by the first writer: an entry that several runs or requests contribute to. Answers the
    /// count so far.
    pub async fn add_to_count(
        &self,
        tenant: &TenantId,
        entry: &AuditEntry,
        by: u64,
    ) -> Result<u64, TableError> {
        let entry = AuditEntry { count: None, ..entry.clone() };
        let mut item = entry_item(tenant, &entry)?;
        let key = crate::ports::Key::new(
            item.remove("pk").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            item.remove("sk").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        );
        let mut update = crate::ports::Update::default().add("count", i64::try_from(by).unwrap_or(i64::MAX));
        for (name, value) in item {
            update = update.set(name, value);
        }
        let after = self.table.update(&key, update, None).await?;
        Ok(after.get("count").and_then(serde_json::Value::as_u64).unwrap_or(1))
    }

    /// The write recording `entry`, for the transaction of what it records.
    pub fn record_op(tenant: &TenantId, entry: &AuditEntry) -> Result<TxOp, TableError> {
        Ok(TxOp::Put { item: entry_item(tenant, entry)?, condition: None })
    }

    /// Every entry from `from` to before `to`, oldest first: what detection reads of one
    /// window (bounded: a window holds one denied entry per actor, IP and kind of resource).
    pub async fn between(
        &self,
        tenant: &TenantId,
        from: time::OffsetDateTime,
        to: time::OffsetDateTime,
    ) -> Result<Vec<AuditEntry>, TableError> {
        let lower = format!("au_{}", ulid_bounds_for_time(from).0);
        let upper = format!("au_{}", ulid_bounds_for_time(to - time::Duration::milliseconds(1)).1);
        let mut entries = Vec::new();
        let mut after = None;
        for _ in 0..WINDOW_PAGES {
            let page = self
                .table
                .query(
                    Query::table(keys::log_partition(tenant))
                        .sort(SortKey::Between(lower.clone(), upper.clone()))
                        .limit(500)
                        .start_after(after.take()),
                )
                .await?;
            for item in page.items {
                entries.push(from_item::<AuditEntry>(item)?);
            }
            after = page.last_key;
            if after.is_none() {
                break;
            }
        }
        Ok(entries)
    }

    /// Deletes up to `most` entries older than `before` (oldest first); answers how many,
    /// and the failure that stopped it early, if one did (what went before it is gone). The
    /// entries' index attributes go with them.
    pub async fn purge_before(
        &self,
        tenant: &TenantId,
        before: time::OffsetDateTime,
        most: usize,
    ) -> (usize, Result<(), TableError>) {
        let edge = format!("au_{}", ulid_bounds_for_time(before).0);
        let mut purged = 0;
        while purged < most {
            let page = self
                .table
                .query(
                    Query::table(keys::log_partition(tenant))
                        .sort(SortKey::Between("au_".into(), edge.clone()))
                        .limit(100.min(most - purged)),
                )
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => return (purged, Err(e)),
            };
            let old: Vec<crate::ports::Key> = page
                .items
                .iter()
                .filter(|item| {
                    item.get("sk").and_then(serde_json::Value::as_str).is_some_and(|sk| sk < edge.as_str())
                })
                .filter_map(crate::ports::Key::of)
                .collect();
            if old.is_empty() {
                break;
            }
            if let Err(e) = self.table.batch_delete(&old).await {
                return (purged, Err(e));
            }
            purged += old.len();
        }
        (purged, Ok(()))
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
        // A window's denied entry is keyed at the window's start, up to a window before `from`.
        let lower = filter.from.map(|t| format!("au_{}", ulid_bounds_for_time(t - DENIED_WINDOW).0));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn denied_requests_from_one_ipv6_network_are_one_entry() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db =
            crate::adapters::embedded::open(&dir.path().join("t.redb")).unwrap_or_else(|e| panic!("{e}"));
        let table = crate::adapters::embedded_table::EmbeddedTable::new(db).unwrap_or_else(|e| panic!("{e}"));
        let audit = AuditRepo::new(Arc::new(table));
        let tenant = TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        let at = time::macros::datetime!(2026-12-03 10:01 UTC);
        let denied = |ip: &str| AuditEntry {
            at,
            outcome: Outcome::Denied,
            ip: Some(ip.to_owned()),
            ..AuditEntry::by(
                Actor { kind: ActorType::Member, id: "mb_stranger".into() },
                "auth.denied",
                Resource { kind: "contact".into(), id: None },
                &[],
            )
        };
        // A host walking its /64, then another network.
        for n in 1..=5 {
            let counted = audit.record_denied(&tenant, &denied(&format!("2001:db8:1:2::{n:x}"))).await;
            assert_eq!(counted.unwrap_or_default(), n);
        }
        assert_eq!(audit.record_denied(&tenant, &denied("2001:db8:9:9::1")).await.unwrap_or_default(), 1);
        let (entries, _) = audit.list(&tenant, &AuditFilter::default(), 10, None).await.unwrap_or_default();
        let counts: Vec<Option<u64>> = entries.iter().map(|e| e.count).collect();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(counts.contains(&Some(5)) && counts.contains(&Some(1)), "{counts:?}");
    }
}
