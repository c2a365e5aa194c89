//! Key format of a tenant's profile (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

pub fn profile(tenant: &TenantId) -> Key {
    Key::new(format!("{tenant}#TENANT"), "PROFILE")
}

/// The revision of a tenant's roster: every change of a member's role or membership moves it,
/// conditional on the one read, so that two changes never both see the other owner.
pub fn roster(tenant: &TenantId) -> Key {
    Key::new(format!("{tenant}#TENANT"), "ROSTER")
}
