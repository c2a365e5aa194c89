//! Key format of an alert for a tenant's admins (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::time::fixed_time;
use crate::domain::TenantId;
use crate::ports::Key;

/// A tenant's alerts, oldest first by time, then by id.
pub fn alert(tenant: &TenantId, at: OffsetDateTime, id: &str) -> Key {
    Key::new(format!("{tenant}#ALERT"), format!("{}#{id}", fixed_time(at)))
}
