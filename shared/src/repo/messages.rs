//! Messages: what the customer and the business said in a conversation, in the channel's own
//! order. Channels deliver at least once, late and out of order; this module is where that
//! stops mattering: a channel message is stored once however often it comes, a status only
//! moves forward, and a reaction or an unsend applies to the message it names.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::conversations::{Activity, ConversationRepo, RACE_RETRIES};
use super::keys::claims;
pub use super::keys::messages::media_file_key;
use super::keys::messages::{self as keys, REV};
use super::{from_item, personal, to_item};
use crate::domain::TenantId;
pub use crate::domain::{Direction, MessageKind, MessageStatus};
use crate::ids::{ContactId, ConversationId, MemberId, MessageId};
use crate::inbound::Channel;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Item, Key, Query, Table, TableError, TxOp};

/// Internal: when each reactor last removed a reaction, so that an older reaction delivered
/// after its removal is not brought back.
const UNREACTED: &str = "unreacted";

mod changes;

/// Why the channel refused a message: its own error code and title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageFailure {
    pub code: String,
    pub title: String,
}

/// A message's attachment as stored. The file itself is in the bucket once downloaded; its
/// URL is made for each answer (the conversations function's view) and never stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = StoredMedia)]
pub struct Media {
    /// The channel's reference for downloading it (a WhatsApp media id, a Messenger URL).
    pub channel_media_id: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub size: Option<u64>,
    /// Lowercase hex SHA-256 of the downloaded file.
    pub sha256: Option<String>,
    /// The object key in the bucket once downloaded (under the tenant's prefix).
    pub file_key: Option<String>,
}

/// An emoji reaction, recorded on the message it reacts to. One per reactor: a new one
/// replaces theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reaction {
    pub emoji: String,
    /// Who reacted: the contact (`ct_...`), a member (`mb_...`), or `business` for a reaction
    /// sent from the channel's own app.
    pub from: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// A message. Stored with its attachment as kept (`Message`, the default); the API shows it
/// with a link to the file (`Message<MediaView>`, the conversations function's view), so that
/// the fields are written once and a link, which expires, can never be stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message<M = Media> {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The customer of the conversation, whose personal data the message is.
    pub contact_id: ContactId,
    #[schema(schema_with = Channel::schema)]
    pub channel: Channel,
    pub direction: Direction,
    pub kind: MessageKind,
    /// The channel's own name of the kind (`reaction`, `ephemeral` ...), kept when ours says
    /// less than the channel did.
    pub raw_kind: Option<String>,
    pub text: Option<String>,
    pub media: Option<M>,
    /// What a kind carries besides text and media: a location, shared contacts, the button
    /// or list reply chosen, an order, a postback, an ad referral.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    pub status: MessageStatus,
    /// The channel's time of the current status.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub status_at: Option<OffsetDateTime>,
    pub error: Option<MessageFailure>,
    /// The channel's id of the message (absent on an outbound one until it is sent).
    pub channel_message_id: Option<String>,
    /// The message this one replies to.
    pub reply_to: Option<MessageId>,
    pub reactions: Vec<Reaction>,
    /// Unsent by the customer: its text and media are gone, the place in the thread stays.
    pub deleted: bool,
    /// When the sender last edited it (`text` is the latest); absent if never edited.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<OffsetDateTime>,
    /// The member who sent it (outbound from the CRM).
    pub sent_by: Option<MemberId>,
    /// For inbound messages, the channel's timestamp: the order of the conversation.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl<M> Message<M> {
    /// The same message with its attachment shown another way (the API's view adds a link).
    pub fn with_media<N>(self, media: Option<N>) -> Message<N> {
        Message {
            id: self.id,
            conversation_id: self.conversation_id,
            contact_id: self.contact_id,
            channel: self.channel,
            direction: self.direction,
            kind: self.kind,
            raw_kind: self.raw_kind,
            text: self.text,
            media,
            details: self.details,
            status: self.status,
            status_at: self.status_at,
            error: self.error,
            channel_message_id: self.channel_message_id,
            reply_to: self.reply_to,
            reactions: self.reactions,
            deleted: self.deleted,
            edited_at: self.edited_at,
            sent_by: self.sent_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    Created(Message),
    /// The channel message was stored before (this is a repeat delivery): the stored one.
    AlreadyThere(Message),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatusChange {
    Moved(Box<Message>),
    /// The message is already at this status or past it.
    Stale,
    /// No message has this channel id (yet: a status can race the send API's answer).
    Unknown,
}

/// What became of a reaction or an unsend.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Applied(Box<Message>),
    /// Already applied, or superseded by a later event.
    Stale,
    /// No message has this channel id (yet).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageOrder {
    /// Chronological, the thread as it is read.
    #[default]
    OldestFirst,
    /// The latest first, for a chat view that opens at the bottom and scrolls back.
    NewestFirst,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("a channel message needs its channel message id")]
    NoChannelId,
    #[error("the message's conversation does not exist")]
    ConversationMissing,
    /// The claim of the channel id names a message that is gone: not stored again.
    #[error("the channel message id is claimed by a message that no longer exists")]
    Dangling,
    #[error("the conversation is changing too fast; retry")]
    Busy,
    #[error(transparent)]
    Table(#[from] TableError),
}

pub(crate) fn message_key(tenant: &TenantId, m: &Message) -> Key {
    keys::message(tenant, m.conversation_id.as_str(), m.created_at, m.id.as_str())
}

/// The message item: the record, its key in the thread and its subject.
pub(crate) fn message_item(tenant: &TenantId, m: &Message) -> Result<Item, TableError> {
    let mut item = to_item(m)?;
    let key = message_key(tenant, m);
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    item.insert(REV.into(), 0.into());
    personal::mark(&mut item, tenant, m.contact_id.as_str(), "MESSAGE");
    Ok(item)
}

/// The claim of a channel message id: unique, and the way from that id to the message.
pub(crate) fn claim_item(tenant: &TenantId, claim: &Key, m: &Message) -> Item {
    let message = message_key(tenant, m);
    let mut item = Item::new();
    item.insert(PK.into(), claim.pk.clone().into());
    item.insert(SK.into(), claim.sk.clone().into());
    item.insert("message_pk".into(), message.pk.into());
    item.insert("message_sk".into(), message.sk.into());
    item.insert("message_id".into(), m.id.as_str().into());
    personal::mark(&mut item, tenant, m.contact_id.as_str(), "MESSAGE_INDEX");
    item
}
#[derive(Clone)]
pub struct MessageRepo {
    table: Arc<dyn Table>,
    conversations: ConversationRepo,
}

impl MessageRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { conversations: ConversationRepo::new(table.clone()), table }
    }

    /// Stores a channel's message once however often it is delivered: the message, the claim
    /// of its (channel, channel message id), and its activity on the conversation (what
    /// `ConversationRepo::record_inbound` / `record_outbound` do) in one transaction. So a
    /// repeat is `AlreadyThere` with nothing counted twice, and a crash leaves either all of
    /// it or none: the caller must not record the activity again.
    pub async fn insert_once(&self, tenant: &TenantId, message: &Message) -> Result<Inserted, MessageError> {
        let channel_id = message.channel_message_id.as_deref().ok_or(MessageError::NoChannelId)?;
        let claim = claims::channel_claim(tenant, message.channel.as_str(), channel_id);
        let activity = match message.direction {
            Direction::In => Activity::Inbound(message.created_at),
            Direction::Out => Activity::Outbound(message.created_at),
        };
        for _ in 0..RACE_RETRIES {
            let Some(recorded) =
                self.conversations.activity_write(tenant, &message.conversation_id, activity).await?
            else {
                return Err(MessageError::ConversationMissing);
            };
            let ops = vec![
                TxOp::Put { item: message_item(tenant, message)?, condition: Some(Condition::NotExists) },
                TxOp::Put {
                    item: claim_item(tenant, &claim, message),
                    condition: Some(Condition::NotExists),
                },
                recorded.into_op(),
            ];
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Inserted::Created(message.clone())),
                Err(TableError::TransactionCanceled { failed }) => {
                    if failed.get(1).copied().unwrap_or(false) {
                        match self.claimed(&claim).await? {
                            Some(Some((_, item))) => return Ok(Inserted::AlreadyThere(from_item(item)?)),
                            Some(None) => return Err(MessageError::Dangling),
                            // Released since (its message was erased): try again.
                            None => continue,
                        }
                    }
                    if failed.first().copied().unwrap_or(false) {
                        return Err(TableError::Invalid(
                            "a message id was reused for another message".into(),
                        )
                        .into());
                    }
                    // The conversation changed since it was read, or a concurrent
                    // transaction got in the way: read it again.
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(MessageError::Busy)
    }

    /// The message claiming this channel id: `None` without a claim, `Some(None)` when the
    /// claim's message is gone.
    async fn claimed(&self, claim: &Key) -> Result<Option<Option<(Key, Item)>>, TableError> {
        let Some(item) = self.table.get(claim).await? else { return Ok(None) };
        let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(pk), Some(sk)) = (text("message_pk"), text("message_sk")) else { return Ok(Some(None)) };
        let key = Key::new(pk, sk);
        Ok(Some(self.table.get(&key).await?.map(|message| (key, message))))
    }

    async fn by_channel_id(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
    ) -> Result<Option<(Key, Item)>, TableError> {
        let claim = claims::channel_claim(tenant, channel.as_str(), channel_message_id);
        Ok(self.claimed(&claim).await?.flatten())
    }

    pub async fn find_by_channel_id(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
    ) -> Result<Option<Message>, TableError> {
        match self.by_channel_id(tenant, channel, channel_message_id).await? {
            Some((_, item)) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// A page of the conversation's messages in the channel's order (or its reverse), and
    /// the store's last key when more may follow.
    pub async fn list(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        order: MessageOrder,
        limit: usize,
        start_after: Option<Item>,
    ) -> Result<(Vec<Message>, Option<Item>), TableError> {
        let mut query = Query::table(keys::messages_partition(tenant, conversation_id.as_str()))
            .limit(limit.max(1))
            .start_after(start_after);
        if order == MessageOrder::NewestFirst {
            query = query.backward();
        }
        let page = self.table.query(query).await?;
        // A message being erased (a partial cancellation) is read as absent.
        let messages = page
            .items
            .into_iter()
            .filter(super::personal::visible)
            .map(from_item)
            .collect::<Result<Vec<Message>, _>>()?;
        Ok((messages, page.last_key))
    }
}
