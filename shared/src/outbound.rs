//! The outbound queue's job: which stored reply to send. The queue is FIFO, grouped by
//! conversation so that a conversation's replies leave in the order they were written, and
//! deduplicated by message id so that enqueueing a reply twice (a retried request, the sweep
//! of stuck replies) sends it once.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::TenantId;
use crate::domain::reply_window::Delivery;
use crate::ids::{ChannelAccountId, ConversationId, MessageId};
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
        }
    }

    /// The queue message carrying this job.
    pub fn to_queue_message(&self) -> Result<OutgoingMessage, serde_json::Error> {
        let body = serde_json::to_string(self)?;
        Ok(OutgoingMessage::new(self.message_id.as_str(), body)
            .group(self.conversation_id.as_str())
            .dedup(self.message_id.as_str()))
    }
}
