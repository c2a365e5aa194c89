//! Domain events for the automation queue. Each has an id derived from what it is about, so a
//! redelivered update emits the same event again and consumers drop the repeat.

use gestor_shared::domain::TenantId;
use gestor_shared::ids::ContactId;
use gestor_shared::ports::TableError;
use gestor_shared::repo::arrivals::Owed;
use gestor_shared::repo::conversations::Conversation;
use gestor_shared::repo::messages::Message;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize)]
pub struct DomainEvent {
    /// `evt_` and a digest of the event's type and subject: stable across redeliveries.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub tenant_id: String,
    /// Ids only: consumers read what they need, so no message text travels in events.
    pub data: Value,
}

impl DomainEvent {
    fn new(tenant: &TenantId, kind: &'static str, subject: &str, data: Value) -> Self {
        let digest = Sha256::digest(format!("{tenant}|{kind}|{subject}").as_bytes());
        Self { id: format!("evt_{}", hex::encode(&digest[..16])), kind, tenant_id: tenant.to_string(), data }
    }

    pub fn message_received(tenant: &TenantId, message: &Message) -> Self {
        Self::new(
            tenant,
            "message.received",
            message.id.as_str(),
            json!({
                "message_id": message.id,
                "conversation_id": message.conversation_id,
                "contact_id": message.contact_id,
                "channel": message.channel,
                "kind": message.kind,
            }),
        )
    }

    pub fn conversation_created(tenant: &TenantId, conversation: &Conversation) -> Self {
        Self::new(
            tenant,
            "conversation.created",
            conversation.id.as_str(),
            json!({
                "conversation_id": conversation.id,
                "contact_id": conversation.contact_id,
                "channel": conversation.channel,
                "channel_account_id": conversation.channel_account_id,
            }),
        )
    }

    pub fn contact_created(tenant: &TenantId, contact: &ContactId) -> Self {
        Self::new(tenant, "contact.created", contact.as_str(), json!({"contact_id": contact}))
    }

    /// The event as owed by the message that caused it, for the automation queue.
    pub fn to_owed(&self) -> Result<Owed, TableError> {
        let body = serde_json::to_string(self).map_err(|e| TableError::Invalid(e.to_string()))?;
        Ok(Owed { to: "automation".into(), id: self.id.clone(), body })
    }
}
