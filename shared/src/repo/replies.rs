//! What the business writes in a conversation from the CRM: replies, stored `queued` for the
//! sender with their activity on the conversation in one transaction, and private notes,
//! which are never sent. A reply has no channel message id until the channel accepts it; the
//! sender records it then.

use std::sync::Arc;

use super::conversations::{Activity, Conversation, ConversationRepo, RACE_RETRIES, activity_on, stored};
use super::keys::conversations as conversation_keys;
use super::messages::{Message, MessageError, message_item};
use super::outbox;
use super::scope::RowScope;
use crate::domain::TenantId;
use crate::ids::ConversationId;
use crate::outbound::SendJob;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Item, Key, Table, TableError, TxOp};

#[derive(Clone)]
pub struct ReplyRepo {
    table: Arc<dyn Table>,
    conversations: ConversationRepo,
}

/// Why a reply was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError<E> {
    #[error("no such conversation")]
    NoConversation,
    /// The caller's rule refused it, seeing the conversation as it is now.
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Message(#[from] MessageError),
}

impl<E> From<TableError> for ReplyError<E> {
    fn from(e: TableError) -> Self {
        Self::Message(e.into())
    }
}

impl ReplyRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { conversations: ConversationRepo::new(table.clone()), table }
    }

    /// Stores the reply `compose` makes of the conversation as it is now (`compose` checks the
    /// channel's window and may refuse), and its activity, in one transaction conditional on
    /// the conversation being unchanged since it was read: two agents replying at once are
    /// both counted, and a window closed meanwhile is seen. Two table requests when nobody
    /// races it.
    ///
    /// `compose` also answers the reply's send job, which the outbox keeps (in the same
    /// transaction) until the reply is sent or fails.
    pub async fn queue<E>(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        scope: &RowScope,
        compose: impl Fn(&Conversation) -> Result<(Message, SendJob), E>,
    ) -> Result<(Message, SendJob), ReplyError<E>> {
        self.queue_reading(tenant, conversation_id, scope, None, |current, _| compose(current)).await
    }

    /// [`Self::queue`], reading `also` (the upload a reply sends) in the same request as
    /// the conversation, for `compose` to see.
    pub async fn queue_reading<E>(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        scope: &RowScope,
        also: Option<Key>,
        compose: impl Fn(&Conversation, Option<&Item>) -> Result<(Message, SendJob), E>,
    ) -> Result<(Message, SendJob), ReplyError<E>> {
        let conversation_key = conversation_keys::conversation(tenant, conversation_id.as_str());
        for _ in 0..RACE_RETRIES {
            let (current, extra) = match &also {
                None => (self.conversations.read(tenant, conversation_id.as_str()).await?, None),
                Some(also) => {
                    let items = self.table.batch_get(&[conversation_key.clone(), also.clone()]).await?;
                    let is = |item: &Item, key: &Key| {
                        item.get(PK).and_then(serde_json::Value::as_str) == Some(key.pk.as_str())
                            && item.get(SK).and_then(serde_json::Value::as_str) == Some(key.sk.as_str())
                    };
                    let current = items
                        .iter()
                        .find(|i| is(i, &conversation_key))
                        .filter(|i| super::personal::visible(i))
                        .cloned()
                        .map(stored)
                        .transpose()?;
                    (current, items.into_iter().find(|i| is(i, also)))
                }
            };
            let current =
                current.filter(|c| c.conversation.reached_by(scope)).ok_or(ReplyError::NoConversation)?;
            let (reply, job) = compose(&current.conversation, extra.as_ref()).map_err(ReplyError::Refused)?;
            let (write, _) = activity_on(tenant, &current, Activity::Outbound(reply.created_at))?;
            let ops = vec![
                TxOp::Put { item: message_item(tenant, &reply)?, condition: Some(Condition::NotExists) },
                write.into_op(),
                outbox::put(&job, reply.contact_id.as_str())?,
            ];
            match self.table.transact(ops).await {
                Ok(()) => return Ok((reply, job)),
                // The conversation changed since it was read: compose again on what it is now.
                Err(TableError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(MessageError::Busy.into())
    }

    /// Stores the private note `compose` makes in its conversation, which must exist: a note
    /// is never sent and is no activity for the customer's windows.
    pub async fn note<E>(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        scope: &RowScope,
        compose: impl FnOnce(&Conversation) -> Result<Message, E>,
    ) -> Result<Message, ReplyError<E>> {
        let current = self
            .conversations
            .read(tenant, conversation_id.as_str())
            .await?
            .filter(|c| c.conversation.reached_by(scope))
            .ok_or(ReplyError::NoConversation)?;
        let note = compose(&current.conversation).map_err(ReplyError::Refused)?;
        self.table.put(message_item(tenant, &note)?, Some(Condition::NotExists)).await?;
        Ok(note)
    }
}
