//! Updates that came before their message: a status, a reaction, an edit or an unsend naming
//! a channel message id that nothing stored yet (it is still in the queue, or was sent from
//! another tool). They are parked under that id instead of failing their record, which would
//! hold back every later update of the customer; the message's arrival applies them, and what
//! no message claims within the parking window is dropped.
//!
//! One item per target id, beside the target's claim, so the arriving message reads it in
//! the same `BatchGetItem` as its claim and pays nothing when there is none.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::conversations::{RACE_RETRIES, rfc3339};
use super::personal;
use crate::domain::Channel;
use crate::domain::TenantId;
use crate::ports::table::{PK, SK, TTL_ATTRIBUTE};
use crate::ports::{Condition, Item, Table, TableError, Update};

const UPDATES: &str = "updates";
const REV: &str = "rev";
const PARKED_AT: &str = "parked_at";
/// The store may remove a parked item after this (a backstop: the window is enforced in code).
const BACKSTOP: time::Duration = time::Duration::days(7);
/// Most updates kept under one id (a message gets a few statuses and reactions): past it the
/// oldest go, so the item stays far below DynamoDB's 400 KB.
pub const MOST_PARKED: usize = 50;

/// What parking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parking {
    /// Whether the caller should schedule the expiry check: the first update parked there,
    /// or a repeat of it (whose first attempt may have failed to schedule it).
    pub schedule: bool,
    /// Older updates pushed out by [`MOST_PARKED`].
    pub pushed_out: usize,
}

/// One parked update: what the channel said (normalized), and when the webhook took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedUpdate {
    pub update: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The channel account whose webhook said it (absent on updates parked before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// The updates parked under one target, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parked {
    pub updates: Vec<ParkedUpdate>,
    pub parked_at: OffsetDateTime,
    rev: u64,
}

impl Parked {
    /// Reads a parked item (as the arriving message's batch read returns it).
    pub(crate) fn from_item(item: &Item) -> Option<Self> {
        let updates = serde_json::from_value(item.get(UPDATES)?.clone()).ok()?;
        let raw = item.get(PARKED_AT)?.as_str()?;
        let parked_at = OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
        Some(Self { updates, parked_at, rev: item.get(REV).and_then(Value::as_u64).unwrap_or(0) })
    }
}

pub(crate) use super::keys::claims::parked as parked_key;

#[derive(Clone)]
pub struct ParkedRepo {
    table: Arc<dyn Table>,
}

impl ParkedRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Parks `update` under the target id; `subject` is whose data it is (the contact, or the
    /// customer's channel identity when no contact is known).
    pub async fn park(
        &self,
        tenant: &TenantId,
        channel: Channel,
        target: &str,
        subject: &str,
        update: ParkedUpdate,
        now: OffsetDateTime,
    ) -> Result<Parking, TableError> {
        let key = parked_key(tenant, channel, target);
        for _ in 0..RACE_RETRIES {
            let Some(item) = self.table.get(&key).await? else {
                let mut item = Item::new();
                item.insert(PK.into(), key.pk.clone().into());
                item.insert(SK.into(), key.sk.clone().into());
                item.insert(UPDATES.into(), json(std::slice::from_ref(&update))?);
                item.insert(PARKED_AT.into(), rfc3339(now)?.into());
                item.insert(REV.into(), 0.into());
                item.insert(TTL_ATTRIBUTE.into(), (now + BACKSTOP).unix_timestamp().into());
                personal::mark(&mut item, tenant, subject, "PARKED_UPDATE");
                match self.table.put(item, Some(Condition::NotExists)).await {
                    Ok(()) => return Ok(Parking { schedule: true, pushed_out: 0 }),
                    Err(TableError::ConditionFailed) => continue,
                    Err(e) => return Err(e),
                }
            };
            let Some(parked) = Parked::from_item(&item) else {
                return Err(TableError::Backend("a parked item that does not read".into()));
            };
            if parked.updates.contains(&update) {
                return Ok(Parking { schedule: true, pushed_out: 0 });
            }
            let mut updates = parked.updates;
            updates.push(update.clone());
            let pushed_out = updates.len().saturating_sub(MOST_PARKED);
            updates.drain(..pushed_out);
            let change = Update::default().set(UPDATES, json(&updates)?).set(REV, parked.rev + 1);
            match self
                .table
                .update(&key, change, Some(Condition::Equals(REV.into(), parked.rev.into())))
                .await
            {
                Ok(_) => return Ok(Parking { schedule: false, pushed_out }),
                Err(TableError::ConditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(TableError::Backend("parked updates are changing too fast".into()))
    }

    /// What is parked under the target, if anything.
    pub async fn get(
        &self,
        tenant: &TenantId,
        channel: Channel,
        target: &str,
    ) -> Result<Option<Parked>, TableError> {
        Ok(self.table.get(&parked_key(tenant, channel, target)).await?.as_ref().and_then(Parked::from_item))
    }

    /// Removes what was parked, provided nothing was added since `parked` was read; `false`
    /// when something was (read it again and apply the rest).
    pub async fn clear(
        &self,
        tenant: &TenantId,
        channel: Channel,
        target: &str,
        parked: &Parked,
    ) -> Result<bool, TableError> {
        let key = parked_key(tenant, channel, target);
        match self.table.delete(&key, Some(Condition::Equals(REV.into(), parked.rev.into()))).await {
            Ok(_) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(self.table.get(&key).await?.is_none()),
            Err(e) => Err(e),
        }
    }
}

fn json(updates: &[ParkedUpdate]) -> Result<Value, TableError> {
    serde_json::to_value(updates).map_err(|e| TableError::Invalid(e.to_string()))
}
