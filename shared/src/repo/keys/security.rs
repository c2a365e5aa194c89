//! Key format of the security windows (infra/DATA-MODEL.md).

use time::OffsetDateTime;

use super::time::fixed_time;
use crate::domain::TenantId;
use crate::ports::Key;

/// The businesses that saw a denied request or a sign-in in the window starting at `window`:
/// one global partition per window, so the detection schedule reads only the businesses with
/// something to look at.
pub fn window_partition(window: OffsetDateTime) -> String {
    format!("SECURITY#{}", fixed_time(window))
}

pub fn window_entry(window: OffsetDateTime, tenant: &TenantId) -> Key {
    Key::new(window_partition(window), tenant.as_str())
}
