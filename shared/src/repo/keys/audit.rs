//! Key formats of an audit entry and its two indexes (infra/DATA-MODEL.md).

use crate::domain::TenantId;

/// The tenant's log, newest last by entry id (a ULID).
pub fn log_partition(tenant: &TenantId) -> String {
    format!("{tenant}#AUDIT")
}

/// gsi1: one actor's entries.
pub fn actor_partition(tenant: &TenantId, actor_id: &str) -> String {
    format!("{tenant}#AUDIT#ACTOR#{actor_id}")
}

/// gsi2: the entries about one resource.
pub fn resource_partition(tenant: &TenantId, resource_id: &str) -> String {
    format!("{tenant}#AUDIT#RESOURCE#{resource_id}")
}
