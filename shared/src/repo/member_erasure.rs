//! Erasing a member who leaves: the business keeps its records (who replied, who changed
//! what), and the member's id in them becomes a tombstone: an id nothing links to a person
//! once their profile, sign-in id, sessions, accepted invite and request records are gone,
//! and the IP and browser of everything they did are struck from the activity log.
//!
//! The member is taken off the roster when the request is accepted; the worker erases the
//! rest. The user's sign-in id (`sub`), which keys their idempotency records, is kept until
//! then on a marker item of the subject, which the erasure deletes with the rest.

use serde_json::Value;

use super::keys::idempotency as idempotency_keys;
use super::members::Member;
use super::personal;
use crate::domain::TenantId;
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, Table, TableError, TxOp, Update};

const SUB: &str = "sub";

/// The marker of a request's member erasure (none for other requests).
pub fn marker_key(tenant: &TenantId, request_id: &str) -> Key {
    Key::new(format!("{tenant}#MEMBER_ERASURE"), request_id)
}

/// The marker written with the request: whose sign-in id the worker must erase by.
pub fn marker_op(tenant: &TenantId, request_id: &str, member: &Member) -> TxOp {
    let key = marker_key(tenant, request_id);
    let mut item = Item::new();
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert(SUB.into(), member.sub.as_str().into());
    personal::mark(&mut item, tenant, member.id.as_str(), "MEMBER_ERASURE");
    TxOp::Put { item, condition: None }
}

/// The sign-in id the marker keeps, while the erasure has not deleted it.
pub async fn marked_sub(
    table: &dyn Table,
    tenant: &TenantId,
    request_id: &str,
) -> Result<Option<String>, TableError> {
    let item = table.get(&marker_key(tenant, request_id)).await?;
    Ok(item.and_then(|i| i.get(SUB).and_then(Value::as_str).map(str::to_owned)))
}

/// The delete of the user's membership of the business: their way into it.
pub fn membership_delete_op(tenant: &TenantId, sub: &str) -> TxOp {
    TxOp::Delete { key: super::keys::members::membership(sub, tenant), condition: None }
}

/// The user's idempotency records in the business (each answer they were given, kept a day).
pub async fn idempotency_records(
    table: &dyn Table,
    tenant: &TenantId,
    sub: &str,
) -> Result<Vec<Key>, TableError> {
    let partition = idempotency_keys::record(tenant, sub, "").pk;
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let query = Query::table(partition.clone())
            .sort(SortKey::BeginsWith(format!("{sub}#")))
            .limit(500)
            .start_after(start);
        let page = table.query(query).await?;
        keys.extend(page.items.iter().filter_map(Key::of));
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(keys),
        }
    }
}

/// Takes an audit entry out of its subject's data: off the subject index, and, for what the
/// subject did themselves, without the IP and browser it was done from. The entry stays in
/// the business's log.
pub async fn scrub_entry(table: &dyn Table, item: &Item) -> Result<(), TableError> {
    let Some(key) = Key::of(item) else { return Ok(()) };
    let subject = item.get(Index::Subject.partition_attribute()).and_then(Value::as_str).unwrap_or_default();
    let actor = item.get("actor").and_then(|a| a.get("id")).and_then(Value::as_str).unwrap_or_default();
    let mut update = Update::default()
        .remove(Index::Subject.partition_attribute())
        .remove(Index::Subject.sort_attribute());
    if !actor.is_empty() && subject.ends_with(&format!("#{actor}")) {
        update = update.remove("ip").remove("user_agent");
    }
    match table.update(&key, update, Some(Condition::Exists)).await {
        Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}
