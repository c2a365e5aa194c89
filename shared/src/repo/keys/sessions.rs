//! Key formats of a member's sessions (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

/// Every session of one member in one business.
pub fn partition(tenant: &TenantId, member_id: &str) -> String {
    format!("{tenant}#SESSION#{member_id}")
}

pub fn session(tenant: &TenantId, member_id: &str, session_id: &str) -> Key {
    Key::new(partition(tenant, member_id), session_id)
}
