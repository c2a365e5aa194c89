//! Key formats of privacy requests (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

/// A business's privacy requests, by id (ULIDs: time order).
pub fn requests_partition(tenant: &TenantId) -> String {
    format!("{tenant}#PRIVACY")
}

pub fn request(tenant: &TenantId, id: &str) -> Key {
    Key::new(requests_partition(tenant), id.to_owned())
}

/// The claim of an open request of one kind for one subject: a second one finds the first.
pub fn open(tenant: &TenantId, kind: &str, subject: &str) -> Key {
    Key::new(open_partition(tenant), format!("{kind}#{subject}"))
}

/// A business's open claims: its requests not ended.
pub fn open_partition(tenant: &TenantId) -> String {
    format!("{tenant}#PRIVACY_OPEN")
}
