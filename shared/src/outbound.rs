//! The outbound queue's jobs: a stored reply to send, or a read receipt for the customer's
//! latest message. The queue is FIFO, grouped by conversation so that a conversation's
//! replies leave in the order they were written, and deduplicated by message id so that
//! enqueueing a reply twice (a retried request, the sweep of stuck replies) sends it once.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::reply_window::Delivery;
use crate::domain::{Channel, TenantId};
use crate::ids::{ChannelAccountId, ContactId, ConversationId, MessageId};
use crate::ports::OutgoingMessage;
use crate::repo::messages::Message;

/// Names the message by its key (tenant, conversation, time, id), the account to send it
/// through, and how the window allowed it when it was written: no lookup of the conversation
/// before sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    pub tenant: TenantId,
    pub conversation_id: ConversationId,
    pub channel_account_id: ChannelAccountId,
    pub message_id: MessageId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub delivery: Delivery,
    /// The channel's id of the message this one answers (WhatsApp's `context.message_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The customer's id on the channel, as the conversation knows it; `None` for a
    /// conversation from before it was kept (the sender then reads the contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl SendJob {
    pub fn of(tenant: &TenantId, account: &ChannelAccountId, message: &Message, delivery: Delivery) -> Self {
        Self {
            tenant: tenant.clone(),
            conversation_id: message.conversation_id.clone(),
            channel_account_id: account.clone(),
            message_id: message.id.clone(),
            created_at: message.created_at,
            delivery,
            context: None,
            recipient: None,
        }
    }

    /// The queue message carrying this job.
    pub fn to_queue_message(&self) -> Result<OutgoingMessage, serde_json::Error> {
        let body = serde_json::to_string(&OutboundJob::Send(self.clone()))?;
        Ok(OutgoingMessage::new(self.message_id.as_str(), body)
            .group(self.conversation_id.as_str())
            .dedup(self.message_id.as_str()))
    }
}

/// Tells the customer's channel that the business read their message (WhatsApp's blue ticks,
/// Messenger's and Instagram's "seen"). Best effort: a receipt that cannot go is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptJob {
    pub tenant: TenantId,
    pub conversation_id: ConversationId,
    pub channel_account_id: ChannelAccountId,
    pub channel: Channel,
    pub contact_id: ContactId,
    /// The customer's latest message, as the channel knows it.
    pub channel_message_id: String,
    /// The customer's id on the channel, as the conversation knows it (see [`SendJob`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl ReceiptJob {
    /// The queue message carrying this job, in its conversation's order, once per message.
    pub fn to_queue_message(&self) -> Result<OutgoingMessage, serde_json::Error> {
        let body = serde_json::to_string(&OutboundJob::Receipt(self.clone()))?;
        // Queue entry ids take letters, digits, - and _ only; a channel's id has more.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(self.channel_message_id.as_bytes());
        let id = format!("read_{}", hex::encode(&digest[..16]));
        Ok(OutgoingMessage::new(id.clone(), body).group(self.conversation_id.as_str()).dedup(id))
    }
}

/// What travels on the outbound queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum OutboundJob {
    Send(SendJob),
    Receipt(ReceiptJob),
}
