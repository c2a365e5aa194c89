//! Conversations: the inbox's threads, one per contact and channel account. A customer who
//! writes again after a conversation was resolved reopens it rather than starting another, so
//! the whole history with that person on that account reads as one thread.
//!
//! Concurrency. Inbound workers, outbound workers and agents write the same item. Every write
//! touching what the inbox indexes depend on (status, assignee, last activity) is an update of
//! the whole item computed from one read, conditional on the internal revision `rev` read with
//! it and incrementing it, so the index attributes always agree with the fields; a write that
//! lost the race reads again and retries. The unread count is an atomic counter (`ADD`) that
//! those rewrites never set, so no increment is lost. `version` (the API's ETag) counts
//! changes of what an agent edits (status, assignee, team, snooze) only: a new message does
//! not make an agent's `If-Match` fail unless it reopened the conversation.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::conversations::{self as keys, CONVERSATION_ID, REV, UNREAD};
use super::scope::RowScope;
use super::{from_item, now};
pub use crate::domain::ConversationStatus;
use crate::domain::TenantId;
use crate::ids::{ChannelAccountId, ContactId, ConversationId, MemberId};
use crate::inbound::Channel;
use crate::ports::table::{PK, SK};
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, Table, TableError, TxOp, Update};

mod items;
mod logged;
pub(crate) use items::{conversation_item, customer_item, thread_item};

/// The cursor of an inbox list: the index sort value of the last conversation answered.
const BEFORE: &str = "before";
/// Attempts of a conditional write that other writers keep beating before giving up (the
/// caller retries later: a queue message is redelivered, an API client gets a 503).
pub(crate) const RACE_RETRIES: usize = 20;
/// Most index pages one list request reads when a filter leaves few conversations per page.
const MAX_ROUNDS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub contact_id: ContactId,
    #[schema(schema_with = Channel::schema)]
    pub channel: Channel,
    pub channel_account_id: ChannelAccountId,
    pub status: ConversationStatus,
    pub assignee_id: Option<MemberId>,
    pub team_id: Option<String>,
    /// The channel's time of the newest message (of the first one until there are more). No
    /// message text is kept here: this item is copied into the inbox indexes, and a message
    /// the customer deletes or has erased must not survive in a preview.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_message_at: OffsetDateTime,
    /// Inbound messages since the conversation was last marked read.
    pub unread_count: u64,
    /// The channel's time of the customer's latest message: the channels' reply windows run
    /// from it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_inbound_at: Option<OffsetDateTime>,
    /// Messages of the business since the customer's latest one (TikTok allows a few only).
    #[serde(default)]
    pub replies_since_inbound: u32,
    /// The customer's id on this channel account (`wa_id`, PSID, IGSID), where replies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_channel_id: Option<String>,
    /// TikTok's id of the conversation, which its send API takes as the recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_conversation_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub snoozed_until: Option<OffsetDateTime>,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("no such conversation")]
    NotFound,
    /// The conversation is no longer at the version the change was based on.
    #[error("the conversation changed since it was read")]
    VersionConflict,
    /// Other writers kept changing it: retry later.
    #[error("the conversation is changing too fast; retry")]
    Busy,
    #[error(transparent)]
    Table(#[from] TableError),
}

/// What an agent changes (PATCH): `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationChange {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<Option<MemberId>>,
    pub team_id: Option<Option<String>>,
    pub snoozed_until: Option<Option<OffsetDateTime>>,
}

impl ConversationChange {
    fn apply(&self, c: &mut Conversation) {
        if let Some(status) = self.status {
            c.status = status;
        }
        if let Some(assignee) = &self.assignee_id {
            c.assignee_id = assignee.clone();
        }
        if let Some(team) = &self.team_id {
            c.team_id = team.clone();
        }
        if let Some(until) = self.snoozed_until {
            c.snoozed_until = until;
        }
        // A snooze time means nothing once the conversation is no longer snoozed.
        if c.status != ConversationStatus::Snoozed {
            c.snoozed_until = None;
        }
    }
}

impl Conversation {
    /// Whether the rows `scope` reaches include this conversation.
    pub fn reached_by(&self, scope: &RowScope) -> bool {
        scope.reaches(self.assignee_id.as_ref(), self.team_id.as_deref())
    }
}

/// The inbox filters. `assignee` and `unassigned` together match nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: Option<MemberId>,
    pub unassigned: bool,
    pub channel: Option<Channel>,
}

impl ConversationFilter {
    /// The canonical form a pagination cursor is bound to.
    pub fn canonical(&self) -> String {
        format!(
            "conversations?status={}&assignee={}&unassigned={}&channel={}",
            self.status.map(ConversationStatus::as_str).unwrap_or_default(),
            self.assignee.as_ref().map(MemberId::as_str).unwrap_or_default(),
            self.unassigned,
            self.channel.map(Channel::as_str).unwrap_or_default(),
        )
    }

    fn matches(&self, c: &Conversation) -> bool {
        self.status.is_none_or(|s| c.status == s)
            && self.assignee.as_ref().is_none_or(|a| c.assignee_id.as_ref() == Some(a))
            && (!self.unassigned || c.assignee_id.is_none())
            && self.channel.is_none_or(|ch| c.channel == ch)
    }
}

/// Activity a message brings to its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    Inbound(OffsetDateTime),
    Outbound(OffsetDateTime),
}

/// A conditional update of one conversation item, to run alone or in a transaction.
pub(crate) struct Write {
    key: Key,
    update: Update,
    condition: Condition,
}

impl Write {
    pub(crate) fn into_op(self) -> TxOp {
        TxOp::Update { key: self.key, update: self.update, condition: Some(self.condition) }
    }
}

/// A conversation as read, with the revision its next write is conditional on.
pub(crate) struct Stored {
    pub(crate) conversation: Conversation,
    pub(crate) rev: u64,
}

pub(crate) fn stored(item: Item) -> Result<Stored, TableError> {
    let rev = item.get(REV).and_then(Value::as_u64).unwrap_or(0);
    Ok(Stored { conversation: from_item(item)?, rev })
}

/// The write that turns the stored conversation (at revision `rev`) into `next`: every
/// attribute but the key and the unread counter, which only moves by `add_unread`.
pub(crate) fn rewrite(
    tenant: &TenantId,
    next: &Conversation,
    rev: u64,
    add_unread: i64,
) -> Result<Write, TableError> {
    let item = conversation_item(tenant, next, rev + 1)?;
    let set = item.into_iter().filter(|(name, _)| ![PK, SK, UNREAD].contains(&name.as_str())).collect();
    let mut update = Update { set, ..Update::default() };
    if add_unread != 0 {
        update = update.add(UNREAD, add_unread);
    }
    Ok(Write {
        key: keys::conversation(tenant, next.id.as_str()),
        update,
        condition: Condition::Equals(REV.into(), rev.into()),
    })
}

/// The write recording `activity` on `current`, and the conversation as it will be after it
/// (the unread count included).
pub(crate) fn activity_on(
    tenant: &TenantId,
    current: &Stored,
    activity: Activity,
) -> Result<(Write, Conversation), TableError> {
    let (at, inbound) = match activity {
        Activity::Inbound(at) => (at, true),
        Activity::Outbound(at) => (at, false),
    };
    let mut next = if inbound {
        reopened(&current.conversation).unwrap_or_else(|| current.conversation.clone())
    } else {
        current.conversation.clone()
    };
    next.last_message_at = next.last_message_at.max(at);
    if inbound {
        // A late retry of an older message neither moves the window back nor resets it.
        if next.last_inbound_at.is_none_or(|last| at > last) {
            next.last_inbound_at = Some(at);
            next.replies_since_inbound = 0;
        }
    } else {
        next.replies_since_inbound = next.replies_since_inbound.saturating_add(1);
    }
    next.updated_at = now();
    let write = rewrite(tenant, &next, current.rev, i64::from(inbound))?;
    next.unread_count += u64::from(inbound);
    Ok((write, next))
}

/// A new open conversation of a contact on a channel account, its first activity at `at`.
pub(crate) fn new_conversation(
    contact_id: &ContactId,
    channel: Channel,
    channel_account_id: &ChannelAccountId,
    at: OffsetDateTime,
) -> Conversation {
    let now = now();
    Conversation {
        id: ConversationId::new(),
        contact_id: contact_id.clone(),
        channel,
        channel_account_id: channel_account_id.clone(),
        status: ConversationStatus::Open,
        assignee_id: None,
        team_id: None,
        last_message_at: at,
        unread_count: 0,
        last_inbound_at: None,
        replies_since_inbound: 0,
        customer_channel_id: None,
        channel_conversation_id: None,
        snoozed_until: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The writes creating `conversation` as the one of its (contact, channel account), provided
/// the pointer is still as read: absent (`None`), or naming a conversation that is gone.
pub(crate) fn creation_ops(
    tenant: &TenantId,
    conversation: &Conversation,
    pointed: Option<&str>,
) -> Result<[TxOp; 2], TableError> {
    let pointer_condition = match pointed {
        None => Condition::NotExists,
        Some(id) => Condition::Equals(CONVERSATION_ID.into(), id.into()),
    };
    Ok([
        TxOp::Put { item: thread_item(tenant, conversation), condition: Some(pointer_condition) },
        TxOp::Put {
            item: conversation_item(tenant, conversation, 0)?,
            condition: Some(Condition::NotExists),
        },
    ])
}

/// Brings a resolved or snoozed conversation back to the inbox.
fn reopened(c: &Conversation) -> Option<Conversation> {
    if !matches!(c.status, ConversationStatus::Resolved | ConversationStatus::Snoozed) {
        return None;
    }
    let mut next = c.clone();
    next.status = ConversationStatus::Open;
    next.snoozed_until = None;
    next.version += 1;
    Some(next)
}

/// A time as the records store it (`time::serde::rfc3339`), for partial updates.
pub(crate) fn rfc3339(t: OffsetDateTime) -> Result<String, TableError> {
    t.format(&time::format_description::well_known::Rfc3339).map_err(|e| TableError::Invalid(e.to_string()))
}

fn sort_value(item: &Item, index: Index) -> Option<String> {
    item.get(index.sort_attribute()).and_then(Value::as_str).map(str::to_owned)
}

#[derive(Clone)]
pub struct ConversationRepo {
    table: Arc<dyn Table>,
}

impl ConversationRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> Result<Option<Conversation>, TableError> {
        Ok(self.read(tenant, id.as_str()).await?.map(|s| s.conversation))
    }

    /// The conversation if `scope` reaches it: what the API reads.
    pub async fn get_in(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        scope: &RowScope,
    ) -> Result<Option<Conversation>, TableError> {
        Ok(self.get(tenant, id).await?.filter(|c| c.reached_by(scope)))
    }

    pub(crate) async fn read(&self, tenant: &TenantId, id: &str) -> Result<Option<Stored>, TableError> {
        self.table
            .get(&keys::conversation(tenant, id))
            .await?
            .filter(super::personal::visible)
            .map(stored)
            .transpose()
    }

    /// Runs a conditional rewrite: `None` when the conversation changed since it was read.
    async fn apply(&self, write: Write) -> Result<Option<Conversation>, TableError> {
        match self.table.update(&write.key, write.update, Some(write.condition)).await {
            Ok(item) => Ok(Some(stored(item)?.conversation)),
            Err(TableError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The conversation of this contact on this channel account, created open if there is
    /// none and reopened if it was resolved or snoozed; `true` when it was created now. Two
    /// callers racing on a first message get the same conversation: the pointer item of the
    /// (contact, channel account) is created only if absent, with the conversation, in one
    /// transaction.
    pub async fn open_for(
        &self,
        tenant: &TenantId,
        contact_id: &ContactId,
        channel: Channel,
        channel_account_id: &ChannelAccountId,
        at: OffsetDateTime,
    ) -> Result<(Conversation, bool), ConversationError> {
        let thread = keys::thread(tenant, contact_id.as_str(), channel_account_id.as_str());
        for _ in 0..RACE_RETRIES {
            let pointer = self.table.get(&thread).await?;
            let pointed = pointer.as_ref().and_then(|p| p.get(CONVERSATION_ID)?.as_str().map(str::to_owned));
            if let Some(id) = &pointed
                && let Some(current) = self.read(tenant, id).await?
            {
                let Some(next) = reopened(&current.conversation) else {
                    return Ok((current.conversation, false));
                };
                match self.apply(rewrite(tenant, &next, current.rev, 0)?).await? {
                    Some(reopened) => return Ok((reopened, false)),
                    None => continue,
                }
            }
            // No conversation yet, or the pointer outlived it (it was erased): a new one,
            // provided nobody replaced the pointer since it was read.
            let conversation = new_conversation(contact_id, channel, channel_account_id, at);
            let ops = creation_ops(tenant, &conversation, pointed.as_deref())?.to_vec();
            match self.table.transact(ops).await {
                Ok(()) => return Ok((conversation, true)),
                Err(TableError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ConversationError::Busy)
    }

    /// The conversation of a contact on a channel account, if there is one (never creates).
    pub async fn find_for(
        &self,
        tenant: &TenantId,
        contact_id: &ContactId,
        channel_account_id: &ChannelAccountId,
    ) -> Result<Option<ConversationId>, TableError> {
        let pointer =
            self.table.get(&keys::thread(tenant, contact_id.as_str(), channel_account_id.as_str())).await?;
        Ok(pointer
            .and_then(|p| p.get(CONVERSATION_ID)?.as_str().map(str::to_owned))
            .and_then(|id| ConversationId::parse(&id).ok()))
    }

    /// An inbound message at `at` (the channel's time): one more unread, last activity moved
    /// to `at` unless a later message is already recorded (a late retry never moves it back),
    /// and a resolved or snoozed conversation reopened. A pending one stays pending.
    ///
    /// [`super::messages::MessageRepo::insert_once`] already does this for the message it
    /// stores, in the same transaction; this is for activity that is not a stored message.
    pub async fn record_inbound(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        at: OffsetDateTime,
    ) -> Result<Conversation, ConversationError> {
        self.record(tenant, id, Activity::Inbound(at)).await
    }

    /// A message sent at `at`: last activity moves forward only; status and unread stay.
    pub async fn record_outbound(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        at: OffsetDateTime,
    ) -> Result<Conversation, ConversationError> {
        self.record(tenant, id, Activity::Outbound(at)).await
    }

    async fn record(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        activity: Activity,
    ) -> Result<Conversation, ConversationError> {
        for _ in 0..RACE_RETRIES {
            let write =
                self.activity_write(tenant, id, activity).await?.ok_or(ConversationError::NotFound)?;
            if let Some(recorded) = self.apply(write).await? {
                return Ok(recorded);
            }
        }
        Err(ConversationError::Busy)
    }

    /// The write recording `activity` on the conversation as it is now (`None` when there is
    /// no such conversation); it fails its condition if the conversation changes meanwhile.
    pub(crate) async fn activity_write(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        activity: Activity,
    ) -> Result<Option<Write>, TableError> {
        let Some(current) = self.read(tenant, id.as_str()).await? else { return Ok(None) };
        activity_on(tenant, &current, activity).map(|(write, _)| Some(write))
    }

    /// No unread messages left (an agent opened the conversation).
    pub async fn mark_read(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        scope: &RowScope,
    ) -> Result<Conversation, ConversationError> {
        if *scope != RowScope::Business && self.get_in(tenant, id, scope).await?.is_none() {
            return Err(ConversationError::NotFound);
        }
        let update = Update::default().set(UNREAD, 0).set("updated_at", rfc3339(now())?);
        let key = keys::conversation(tenant, id.as_str());
        match self.table.update(&key, update, Some(Condition::Exists)).await {
            Ok(item) if super::personal::visible(&item) => Ok(stored(item)?.conversation),
            Ok(_) => Err(ConversationError::NotFound),
            Err(TableError::ConditionFailed) => Err(ConversationError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The inbox: newest activity first. Reads the index partitions of the filter side by
    /// side, merged by activity, until `limit` conversations match the other filters or the
    /// list ends (bounded). The returned key (for a signed cursor) is the sort value of the
    /// last conversation read, so one key serves any number of merged partitions.
    pub async fn list(
        &self,
        tenant: &TenantId,
        filter: &ConversationFilter,
        scope: &RowScope,
        limit: usize,
        start_after: Option<Item>,
    ) -> Result<(Vec<Conversation>, Option<Item>), TableError> {
        let mut found = Vec::new();
        if limit == 0 {
            return Ok((found, None));
        }
        let mut before = match start_after {
            None => None,
            Some(key) => match key.get(BEFORE).and_then(Value::as_str) {
                Some(b) if !b.is_empty() => Some(b.to_owned()),
                _ => return Err(TableError::Invalid("not a position in the inbox".into())),
            },
        };
        let assignee = match (&filter.assignee, filter.unassigned) {
            (Some(member), _) => Some(Some(member.as_str())),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let (index, partitions) = keys::inbox(tenant, filter.status, assignee);
        for _ in 0..MAX_ROUNDS {
            let (items, more) =
                self.merged(index, &partitions, before.as_deref(), limit - found.len()).await?;
            for (sort, item) in items {
                let shown = super::personal::visible(&item);
                let conversation = from_item::<Conversation>(item)?;
                if shown && filter.matches(&conversation) && conversation.reached_by(scope) {
                    found.push(conversation);
                }
                before = Some(sort);
            }
            if !more {
                before = None;
                break;
            }
            if found.len() >= limit {
                break;
            }
        }
        let last_key = before.map(|b| Item::from_iter([(BEFORE.to_owned(), Value::String(b))]));
        Ok((found, last_key))
    }

    /// Up to `want` items of the partitions, newest first, strictly before `before`, and
    /// whether more may follow.
    async fn merged(
        &self,
        index: Index,
        partitions: &[String],
        before: Option<&str>,
        want: usize,
    ) -> Result<(Vec<(String, Item)>, bool), TableError> {
        let mut all = Vec::new();
        let mut more = false;
        // The newest position up to which a partition with more items has been read: any of
        // its unread items sort below it, so nothing below it is certain to come next.
        let mut frontier: Option<String> = None;
        for partition in partitions {
            let mut query = Query::index(index, partition.clone()).backward().limit(want);
            if let Some(before) = before {
                query = query.sort(SortKey::LessThan(before.to_owned()));
            }
            let page = self.table.query(query).await?;
            let mut last = None;
            for item in page.items {
                if let Some(sort) = sort_value(&item, index) {
                    last = Some(sort.clone());
                    all.push((sort, item));
                }
            }
            if page.last_key.is_some() {
                more = true;
                if last > frontier {
                    frontier = last;
                }
            }
        }
        all.sort_by(|a, b| b.0.cmp(&a.0));
        let read = all.len();
        all.retain(|(sort, _)| frontier.as_ref().is_none_or(|f| sort >= f));
        all.truncate(want);
        let left_some = all.len() < read;
        Ok((all, more || left_some))
    }
}
