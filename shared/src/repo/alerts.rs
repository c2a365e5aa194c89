//! Alerts for a tenant's admins: something they must act on, raised by a worker (a channel
//! whose token the channel refused). Ids only, never personal data; the live updates will push
//! them, and the members' issue lists them.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::alerts as keys;
use super::to_item;
use crate::domain::TenantId;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Table, TableError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The channel refused the account's token: connect it again to send through it.
    ChannelNeedsReconnect,
    /// Denied requests over a threshold in one window: `code` says whose (`member`, `ip`,
    /// `tenant`), `resource_id` names the member, the denied entry holding the IP, or the
    /// business; the `security.denied_burst` audit entry has the count.
    DeniedBurst,
    /// An owner or admin signed in from a device (`resource_id`: the member) never seen on
    /// their earlier sessions; `code` is the session.
    NewDevice,
    /// An owner or admin signed in from a country never seen on their earlier sessions.
    NewCountry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub kind: AlertKind,
    /// The item it is about (`ch_...`).
    pub resource_id: String,
    /// The provider's code that raised it, when there is one.
    pub code: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The alert's item.
fn item(tenant: &TenantId, alert: &Alert) -> Result<crate::ports::Item, TableError> {
    let mut item = to_item(alert)?;
    let key = keys::alert(tenant, alert.at, &alert.id);
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    Ok(item)
}

/// The write raising `alert`, to go in the transaction of what it is about.
pub fn raise_op(tenant: &TenantId, alert: &Alert) -> Result<crate::ports::TxOp, TableError> {
    Ok(crate::ports::TxOp::Put { item: item(tenant, alert)?, condition: Some(Condition::NotExists) })
}

#[derive(Clone)]
pub struct AlertRepo {
    table: Arc<dyn Table>,
}

impl AlertRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn raise(&self, tenant: &TenantId, alert: &Alert) -> Result<(), TableError> {
        self.table.put(item(tenant, alert)?, Some(Condition::NotExists)).await
    }

    /// Raises `alert` unless an alert of its id and time exists: `true` when raised now.
    pub async fn raise_once(&self, tenant: &TenantId, alert: &Alert) -> Result<bool, TableError> {
        match self.raise(tenant, alert).await {
            Ok(()) => Ok(true),
            Err(TableError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every alert of the tenant, oldest first (at most `limit`).
    pub async fn list(&self, tenant: &TenantId, limit: usize) -> Result<Vec<Alert>, TableError> {
        let partition = keys::alert(tenant, OffsetDateTime::UNIX_EPOCH, "").pk;
        let page = self.table.query(crate::ports::Query::table(partition).limit(limit)).await?;
        page.items.into_iter().map(super::from_item).collect()
    }
}
