//! Key formats of a channel account and of its webhook route (infra/DATA-MODEL.md).

use crate::domain::{Channel, TenantId};
use crate::ports::Key;

pub fn account(tenant: &TenantId, id: &str) -> Key {
    Key::new(accounts_partition(tenant), id)
}

pub fn accounts_partition(tenant: &TenantId) -> String {
    format!("{tenant}#CHANNEL")
}

/// gsi1: a tenant's accounts by (kind, external id).
pub fn external_partition(tenant: &TenantId) -> String {
    format!("{tenant}#CHANNEL#EXTERNAL")
}

/// Global, ids only: which tenant a channel account's webhooks belong to.
pub fn route(kind: Channel, external_id: &str) -> Key {
    Key::new(format!("ROUTE#{kind}#{external_id}"), "ROUTE")
}

/// Global, ids only: which tenant (and which of its numbers) a WhatsApp Business Account's
/// own webhooks (`message_template_status_update`) belong to.
pub fn business_route(waba_id: &str) -> Key {
    Key::new(format!("ROUTE#whatsapp_business#{waba_id}"), "ROUTE")
}

/// The note that an account receives its webhooks through a Graph object (a WABA, a Page):
/// global, ids only, one partition per object.
pub fn subscribers_partition(graph_id: &str) -> String {
    format!("SUBSCRIBER#{graph_id}")
}

pub fn subscriber(graph_id: &str, tenant: &TenantId, account: &str) -> Key {
    Key::new(subscribers_partition(graph_id), format!("{tenant}#{account}"))
}
