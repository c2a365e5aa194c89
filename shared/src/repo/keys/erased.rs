//! Key formats of what erasure leaves behind (infra/DATA-MODEL.md): no personal data, only
//! keyed digests and ids.

use crate::domain::TenantId;
use crate::ports::Key;

/// The mark of an erased channel message: its id only as a digest.
pub fn erased_message(tenant: &TenantId, channel: &str, digest: &str) -> Key {
    Key::new(format!("{tenant}#ERASED#{channel}#{digest}"), "ERASED")
}

/// A completed erasure the hourly sweep checks again until its deadline has passed.
pub fn check(tenant: &TenantId, request_id: &str) -> Key {
    Key::new(checks_partition(tenant), request_id.to_owned())
}

pub fn checks_partition(tenant: &TenantId) -> String {
    format!("{tenant}#PRIVACY_CHECK")
}
