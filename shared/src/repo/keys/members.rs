//! Key formats of a member and of a user's memberships (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

/// A member of a tenant, by the `sub` of their token.
pub fn member(tenant: &TenantId, sub: &str) -> Key {
    Key::new(format!("{tenant}#MEMBER"), format!("SUB#{sub}"))
}

/// gsi1: a tenant's members by member id.
pub fn by_id_partition(tenant: &TenantId) -> String {
    format!("{tenant}#MEMBER#ID")
}

/// Global, ids only: a request names no tenant before it is known.
pub fn membership(sub: &str, tenant: &TenantId) -> Key {
    Key::new(format!("USER#{sub}"), tenant.as_str())
}

/// Every membership of a user.
pub fn memberships_partition(sub: &str) -> String {
    format!("USER#{sub}")
}

/// A tenant's teams.
pub fn team(tenant: &TenantId, id: &str) -> Key {
    Key::new(teams_partition(tenant), id)
}

pub fn teams_partition(tenant: &TenantId) -> String {
    format!("{tenant}#TEAM")
}

/// Global: an invite by the SHA-256 of its code (the code itself is never stored).
pub fn invite(code_hash: &str) -> Key {
    Key::new(format!("INVITE#{code_hash}"), "INVITE")
}
