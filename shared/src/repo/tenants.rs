//! Tenants: the businesses using the CRM, and their settings.
//!
//! Keys: `pk = {tenant}#TENANT`, `sk = PROFILE`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{from_item, now, to_item};
use crate::domain::TenantId;
use crate::ports::{Condition, Item, Table, TableError, TxOp};

pub const DEFAULT_TIMEZONE: &str = "America/Mexico_City";
/// Every module a tenant can switch off; a new tenant has them all.
pub const MODULES: [&str; 8] =
    ["contacts", "conversations", "deals", "tasks", "appointments", "inventory", "automations", "reports"];
/// The days of business hours, as the frontend names them.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Opening hours of one day: `from` and `to` as `HH:MM` in the tenant's time zone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Opening {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Tenant {
    #[schema(value_type = String)]
    pub id: TenantId,
    pub name: String,
    /// IANA time zone (`America/Mexico_City`): reports and business hours use it.
    pub timezone: String,
    pub modules: Vec<String>,
    /// Opening hours by day (`mon` ... `sun`); a day without any is closed. Stored for the
    /// reports and automations to come.
    #[serde(default)]
    pub business_hours: BTreeMap<String, Vec<Opening>>,
    /// Agents see only the conversations and contacts assigned to them or their team.
    #[serde(default)]
    pub row_scoping: bool,
    /// Whether marking a conversation read tells the customer's channel (blue ticks, "seen").
    #[serde(default = "enabled")]
    pub read_receipts: bool,
    /// Moves on every change (`If-Match` on `PATCH /v1/tenant`).
    #[serde(default)]
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

fn enabled() -> bool {
    true
}

impl Tenant {
    pub fn new(id: TenantId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            timezone: DEFAULT_TIMEZONE.into(),
            modules: MODULES.iter().map(|m| (*m).to_owned()).collect(),
            business_hours: BTreeMap::new(),
            row_scoping: false,
            read_receipts: true,
            version: 1,
            created_at: now(),
        }
    }
}

pub use super::keys::tenants::profile as key;

/// The global list of businesses (ids only), for the schedules that visit each of them.
pub const REGISTRY: &str = "TENANTS";

/// The item listing `tenant` among the businesses.
pub fn registry_item(tenant: &TenantId) -> Item {
    Item::from_iter([("pk".to_owned(), REGISTRY.into()), ("sk".to_owned(), tenant.as_str().into())])
}

pub fn item(tenant: &Tenant) -> Result<Item, TableError> {
    let mut item = to_item(tenant)?;
    let key = key(&tenant.id);
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    Ok(item)
}

/// Why a settings change was not stored.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no such tenant")]
    NotFound,
    /// The version named is not the stored one.
    #[error("the settings changed since they were read")]
    Stale,
    #[error(transparent)]
    Table(#[from] TableError),
}

#[derive(Clone)]
pub struct TenantRepo {
    table: Arc<dyn Table>,
}

impl TenantRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// A page of every business, by id, after `after`.
    pub async fn all(
        &self,
        after: Option<Item>,
        limit: usize,
    ) -> Result<(Vec<TenantId>, Option<Item>), TableError> {
        let page =
            self.table.query(crate::ports::Query::table(REGISTRY).limit(limit).start_after(after)).await?;
        let tenants = page
            .items
            .iter()
            .filter_map(|i| i.get("sk")?.as_str())
            .filter_map(|t| TenantId::parse(t).ok())
            .collect();
        Ok((tenants, page.last_key))
    }

    /// The business's settings; `None` once its erasure is accepted.
    pub async fn get(&self, tenant: &TenantId) -> Result<Option<Tenant>, TableError> {
        match self.table.get(&key(tenant)).await? {
            Some(item) if super::account_erasure::is_hidden(&item) => Ok(None),
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// A new tenant, with the rest of its creation (its owner) in the same transaction;
    /// `false` when the id is taken.
    pub async fn create(&self, tenant: &Tenant, with: Vec<TxOp>) -> Result<bool, TableError> {
        let mut ops = vec![TxOp::Put { item: item(tenant)?, condition: Some(Condition::NotExists) }];
        ops.push(TxOp::Put { item: registry_item(&tenant.id), condition: None });
        ops.extend(with);
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            Err(TableError::TransactionCanceled { failed }) if failed.first().copied().unwrap_or(false) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Applies `change` to the settings as stored, if they are still at `expected` (when
    /// named): the whole profile is rewritten conditional on the version it was read at.
    pub async fn change(
        &self,
        tenant: &TenantId,
        expected: Option<u64>,
        change: impl FnOnce(&mut Tenant),
    ) -> Result<Tenant, TenantError> {
        let mut current = self.get(tenant).await?.ok_or(TenantError::NotFound)?;
        if expected.is_some_and(|v| v != current.version) {
            return Err(TenantError::Stale);
        }
        let read_at = current.version;
        change(&mut current);
        current.version = read_at + 1;
        let condition = if read_at == 0 {
            // A profile from before versions were kept.
            Condition::Exists
        } else {
            Condition::Equals("version".into(), read_at.into())
        };
        // The registry again, in the same write: a business created before the registry
        // existed joins it with its first settings change (only while its profile exists).
        let ops = vec![
            TxOp::Put { item: item(&current)?, condition: Some(condition) },
            TxOp::Put { item: registry_item(tenant), condition: None },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(current),
            Err(TableError::TransactionCanceled { failed }) if failed.first().copied().unwrap_or(false) => {
                Err(TenantError::Stale)
            }
            Err(e) => Err(e.into()),
        }
    }
}
