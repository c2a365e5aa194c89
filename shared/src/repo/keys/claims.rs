//! Key formats of a channel message id's claim and of what waits beside it: the updates
//! parked until their message arrives (infra/DATA-MODEL.md).

use crate::domain::{Channel, TenantId};
use crate::ports::Key;

/// The attribute of a claim listing the work owed once its message is stored.
pub const OWED: &str = "owed";

/// One message per channel message id in a tenant; the claim also points at the message.
/// Only ever read by key, so each claim has its own partition rather than one hot one.
pub fn channel_claim(tenant: &TenantId, channel: &str, channel_message_id: &str) -> Key {
    Key::new(format!("{tenant}#CHANNEL_MESSAGE#{channel}#{channel_message_id}"), "CLAIM")
}

/// What is parked under a channel message id: beside its claim.
pub fn parked(tenant: &TenantId, channel: Channel, channel_message_id: &str) -> Key {
    let claim = channel_claim(tenant, channel.as_str(), channel_message_id);
    Key::new(claim.pk, "PARKED")
}
