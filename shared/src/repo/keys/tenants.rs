//! Key format of a tenant's profile (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

pub fn profile(tenant: &TenantId) -> Key {
    Key::new(format!("{tenant}#TENANT"), "PROFILE")
}
