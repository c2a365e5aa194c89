//! Domain events, as the workers that cause them write them to the automation queue and the
//! automation worker reads them. Each has an id derived from what it is about, so a
//! redelivered update emits the same event again and consumers drop the repeat.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::TenantId;
use crate::ids::ContactId;
use crate::ports::TableError;
use crate::repo::arrivals::Owed;
use crate::repo::conversations::Conversation;
use crate::repo::messages::Message;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "conversation.created")]
    ConversationCreated,
    #[serde(rename = "contact.created")]
    ContactCreated,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageReceived => "message.received",
            Self::ConversationCreated => "conversation.created",
            Self::ContactCreated => "contact.created",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// `evt_` and a digest of the event's type and subject: stable across redeliveries.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub tenant_id: String,
    /// Ids only: consumers read what they need, so no message text travels in events.
    pub data: Value,
}

impl DomainEvent {
    fn new(tenant: &TenantId, kind: EventType, subject: &str, data: Value) -> Self {
        let digest = Sha256::digest(format!("{tenant}|{}|{subject}", kind.as_str()).as_bytes());
        Self { id: format!("evt_{}", hex::encode(&digest[..16])), kind, tenant_id: tenant.to_string(), data }
    }

    pub fn message_received(tenant: &TenantId, message: &Message) -> Self {
        Self::new(
            tenant,
            EventType::MessageReceived,
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
            EventType::ConversationCreated,
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
        Self::new(tenant, EventType::ContactCreated, contact.as_str(), json!({"contact_id": contact}))
    }

    /// The event as owed by the message that caused it, for the automation queue.
    pub fn to_owed(&self) -> Result<Owed, TableError> {
        let body = serde_json::to_string(self).map_err(|e| TableError::Invalid(e.to_string()))?;
        Ok(Owed { to: "automation".into(), id: self.id.clone(), body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reads_back_as_written_and_its_id_depends_on_its_subject_only() {
        let tenant = TenantId::parse("tienda-1").unwrap_or_else(|e| panic!("{e}"));
        let contact = ContactId::new();
        let event = DomainEvent::contact_created(&tenant, &contact);
        let text = serde_json::to_string(&event).unwrap_or_default();
        assert!(text.contains(r#""type":"contact.created""#), "{text}");
        assert_eq!(serde_json::from_str::<DomainEvent>(&text).ok(), Some(event.clone()));
        assert_eq!(
            DomainEvent::contact_created(&tenant, &contact).id,
            event.id,
            "stable across redeliveries"
        );
        assert_ne!(DomainEvent::contact_created(&tenant, &ContactId::new()).id, event.id);
    }
}
