//! Key formats of a WhatsApp Business Account's message templates (infra/DATA-MODEL.md).

use crate::domain::TenantId;
use crate::ports::Key;

pub fn partition(tenant: &TenantId, waba_id: &str) -> String {
    format!("{tenant}#TEMPLATE#{waba_id}")
}

/// Templates sort under `T#`, beside the record of the last sync.
pub const TEMPLATE_PREFIX: &str = "T#";

pub fn template(tenant: &TenantId, waba_id: &str, name: &str, language: &str) -> Key {
    Key::new(partition(tenant, waba_id), format!("{TEMPLATE_PREFIX}{name}#{language}"))
}

pub fn synced(tenant: &TenantId, waba_id: &str) -> Key {
    Key::new(partition(tenant, waba_id), "SYNCED")
}
