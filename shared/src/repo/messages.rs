//! Messages: what the customer and the business said in a conversation, in the channel's own
//! order. Channels deliver at least once, late and out of order; this module is where that
//! stops mattering: a channel message is stored once however often it comes, a status only
//! moves forward, and a reaction or an unsend applies to the message it names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use time::OffsetDateTime;

use super::conversations::{Activity, ConversationRepo, RACE_RETRIES, rfc3339};
use super::keys::claims;
pub use super::keys::messages::media_file_key;
use super::keys::messages::{self as keys, REV};
use super::{from_item, now, personal, to_item};
use crate::domain::TenantId;
pub use crate::domain::{Direction, MessageKind, MessageStatus};
use crate::ids::{ContactId, ConversationId, MemberId, MessageId};
use crate::inbound::Channel;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Item, Key, Query, Table, TableError, TxOp, Update};

/// Internal: when each reactor last removed a reaction, so that an older reaction delivered
/// after its removal is not brought back.
const UNREACTED: &str = "unreacted";

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

fn rev(item: &Item) -> u64 {
    item.get(REV).and_then(Value::as_u64).unwrap_or(0)
}

fn json<T: Serialize>(value: &T) -> Result<Value, TableError> {
    serde_json::to_value(value).map_err(|e| TableError::Invalid(e.to_string()))
}

/// When `from` last removed a reaction of the message.
fn removed_at(item: &Item, from: &str) -> Option<OffsetDateTime> {
    let raw = item.get(UNREACTED)?.get(from)?.as_str()?;
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()
}

fn unreacted(item: &Item) -> Map<String, Value> {
    item.get(UNREACTED).and_then(Value::as_object).cloned().unwrap_or_default()
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

    /// Moves the message to `status` if that is forward (see [`MessageStatus`]). Conditional
    /// on the status read, so concurrent updates never move it back.
    pub async fn advance_status(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
        status: MessageStatus,
        error: Option<MessageFailure>,
        at: OffsetDateTime,
    ) -> Result<StatusChange, MessageError> {
        for _ in 0..RACE_RETRIES {
            let Some((key, item)) = self.by_channel_id(tenant, channel, channel_message_id).await? else {
                return Ok(StatusChange::Unknown);
            };
            let current: Message = from_item(item)?;
            if !current.status.can_become(status) {
                return Ok(StatusChange::Stale);
            }
            let mut update = Update::default()
                .set("status", status.as_str())
                .set("status_at", rfc3339(at)?)
                .set("updated_at", rfc3339(now())?);
            if status == MessageStatus::Failed {
                update = update.set("error", json(&error)?);
            }
            let condition = Condition::Equals("status".into(), current.status.as_str().into());
            match self.table.update(&key, update, Some(condition)).await {
                Ok(item) => return Ok(StatusChange::Moved(Box::new(from_item(item)?))),
                Err(TableError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(MessageError::Busy)
    }

    /// Records `reaction` on the message with this channel id, replacing the reactor's
    /// previous one unless that one (or its removal) is newer.
    /// Marks read every message the business sent in the conversation up to `watermark`
    /// (Messenger and TikTok say "read up to this time", naming no message). Walks back from
    /// the newest message and stops at the first one already read, so a watermark costs a
    /// page of reads, not the whole history. Answers how many messages moved.
    pub async fn read_up_to(
        &self,
        tenant: &TenantId,
        conversation_id: &ConversationId,
        watermark: OffsetDateTime,
    ) -> Result<usize, MessageError> {
        let (page, _) = self.list(tenant, conversation_id, MessageOrder::NewestFirst, 50, None).await?;
        let mut moved = 0;
        for message in page.iter().filter(|m| m.direction == Direction::Out && m.created_at <= watermark) {
            if message.status == MessageStatus::Read {
                break;
            }
            let Some(channel_id) = message.channel_message_id.as_deref() else { continue };
            if let StatusChange::Moved(_) = self
                .advance_status(tenant, message.channel, channel_id, MessageStatus::Read, None, watermark)
                .await?
            {
                moved += 1;
            }
        }
        Ok(moved)
    }

    pub async fn add_reaction(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
        reaction: &Reaction,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, channel, channel_message_id, |message, item| {
            let newer = message
                .reactions
                .iter()
                .any(|r| r.from == reaction.from && (r.at > reaction.at || r == reaction));
            if newer || removed_at(item, &reaction.from).is_some_and(|t| t > reaction.at) {
                return Ok(None);
            }
            let mut reactions: Vec<Reaction> =
                message.reactions.iter().filter(|r| r.from != reaction.from).cloned().collect();
            reactions.push(reaction.clone());
            let mut removals = unreacted(item);
            removals.remove(&reaction.from);
            Ok(Some(Update::default().set("reactions", json(&reactions)?).set(UNREACTED, removals)))
        })
        .await
    }

    /// Removes `from`'s reaction as of `at`, remembering the removal so that an older
    /// reaction delivered late stays removed.
    pub async fn remove_reaction(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
        from: &str,
        at: OffsetDateTime,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, channel, channel_message_id, |message, item| {
            let existing = message.reactions.iter().find(|r| r.from == from);
            let removed = removed_at(item, from);
            if existing.is_some_and(|r| r.at > at) || (existing.is_none() && removed.is_some_and(|t| t >= at))
            {
                return Ok(None);
            }
            let reactions: Vec<&Reaction> = message.reactions.iter().filter(|r| r.from != from).collect();
            let mut removals = unreacted(item);
            removals.insert(from.to_owned(), rfc3339(removed.map_or(at, |t| t.max(at)))?.into());
            Ok(Some(Update::default().set("reactions", json(&reactions)?).set(UNREACTED, removals)))
        })
        .await
    }

    /// The customer unsent the message: its text, media and details are removed (what the
    /// customer expects of an unsend), the message stays as a placeholder in the thread.
    pub async fn mark_deleted(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, channel, channel_message_id, |message, _| {
            if message.deleted {
                return Ok(None);
            }
            Ok(Some(
                Update::default()
                    .set("deleted", true)
                    .set("text", Value::Null)
                    .set("media", Value::Null)
                    .set("details", Value::Null),
            ))
        })
        .await
    }

    /// The sender edited the message at `at`: its text (and a media caption) become `text`.
    /// An edit older than the last one applied, or of an unsent message, changes nothing.
    pub async fn edit(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
        text: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, channel, channel_message_id, |message, _| {
            // Channels time edits to the second: of two in one second, the later delivery wins.
            if message.deleted || message.edited_at.is_some_and(|last| last > at) {
                return Ok(None);
            }
            let mut update = Update::default()
                .set("text", text.map_or(Value::Null, |t| t.into()))
                .set("edited_at", rfc3339(at)?);
            if let Some(media) = &message.media {
                let media = Media { caption: text.map(str::to_owned), ..media.clone() };
                update = update.set("media", json(&media)?);
            }
            Ok(Some(update))
        })
        .await
    }

    /// Records the downloaded file of the message's media. Idempotent: a message already
    /// pointing at `file_key` is `Stale`, and so is one without media (unsent meanwhile).
    #[allow(clippy::too_many_arguments)]
    pub async fn attach_media_file(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
        size: u64,
        sha256_hex: &str,
        file_key: &str,
        mime_type: Option<&str>,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, channel, channel_message_id, |message, _| {
            let Some(media) = message.media.as_ref() else { return Ok(None) };
            if media.file_key.as_deref() == Some(file_key) {
                return Ok(None);
            }
            let media = Media {
                size: Some(size),
                sha256: Some(sha256_hex.to_owned()),
                file_key: Some(file_key.to_owned()),
                mime_type: mime_type.map(str::to_owned).or_else(|| media.mime_type.clone()),
                ..media.clone()
            };
            Ok(Some(Update::default().set("media", json(&media)?)))
        })
        .await
    }

    /// Reads the message by channel id and applies `change` (`None`: nothing to do) if the
    /// message did not change meanwhile.
    async fn modify<F>(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
        change: F,
    ) -> Result<Change, MessageError>
    where
        F: Fn(&Message, &Item) -> Result<Option<Update>, TableError>,
    {
        for _ in 0..RACE_RETRIES {
            let Some((key, item)) = self.by_channel_id(tenant, channel, channel_message_id).await? else {
                return Ok(Change::Unknown);
            };
            let revision = rev(&item);
            let message: Message = from_item(item.clone())?;
            let Some(update) = change(&message, &item)? else { return Ok(Change::Stale) };
            let update = update.set(REV, revision + 1).set("updated_at", rfc3339(now())?);
            let condition = Condition::Equals(REV.into(), revision.into());
            match self.table.update(&key, update, Some(condition)).await {
                Ok(item) => return Ok(Change::Applied(Box::new(from_item(item)?))),
                Err(TableError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(MessageError::Busy)
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
        let messages = page.items.into_iter().map(from_item).collect::<Result<Vec<Message>, _>>()?;
        Ok((messages, page.last_key))
    }
}
