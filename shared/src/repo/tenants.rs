//! Tenants: the businesses using the CRM.
//!
//! Keys: `pk = {tenant}#TENANT`, `sk = PROFILE`.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{from_item, now, to_item};
use crate::domain::TenantId;
use crate::ports::{Item, Table, TableError};

pub const DEFAULT_TIMEZONE: &str = "America/Mexico_City";
/// Every module a tenant can switch off; a new tenant has them all.
pub const MODULES: [&str; 8] =
    ["contacts", "conversations", "deals", "tasks", "appointments", "inventory", "automations", "reports"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub timezone: String,
    pub modules: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

impl Tenant {
    pub fn new(id: TenantId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            timezone: DEFAULT_TIMEZONE.into(),
            modules: MODULES.iter().map(|m| (*m).to_owned()).collect(),
            created_at: now(),
        }
    }
}

pub use super::keys::tenants::profile as key;

pub fn item(tenant: &Tenant) -> Result<Item, TableError> {
    let mut item = to_item(tenant)?;
    let key = key(&tenant.id);
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    Ok(item)
}

#[derive(Clone)]
pub struct TenantRepo {
    table: Arc<dyn Table>,
}

impl TenantRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get(&self, tenant: &TenantId) -> Result<Option<Tenant>, TableError> {
        match self.table.get(&key(tenant)).await? {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }
}
