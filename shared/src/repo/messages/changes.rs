//! What the channels and the workers change on a stored message: a status moving forward,
//! a reaction, an unsend, an edit, a downloaded file. Each change is one transaction with its
//! audit entry, which names the fields it changed (never their values) and who changed it:
//! the channel account for what a webhook said, the worker for what it did itself.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Change, Media, Message, MessageError, MessageFailure, MessageRepo, Reaction, StatusChange};
use super::{Direction, MessageOrder, MessageStatus, UNREACTED};
use crate::adapters::embedded_eval::updated;
use crate::domain::TenantId;
use crate::ids::ConversationId;
use crate::inbound::Channel;
use crate::ports::{Condition, Item, Key, TableError, TxOp, Update};
use crate::repo::audit::{Actor, AuditEntry, AuditRepo, Resource};
use crate::repo::conversations::{RACE_RETRIES, rfc3339};
use crate::repo::keys::messages::REV;
use crate::repo::{from_item, now};

/// Attributes a change writes that are bookkeeping rather than the message's fields.
const BOOKKEEPING: [&str; 3] = [REV, "updated_at", UNREACTED];

/// The message's fields whose values differ between `before` and `after`, bookkeeping left
/// out: what a change changed, whatever its update happened to write again.
fn differing<'a>(before: &'a Item, after: &'a Item) -> Vec<&'a str> {
    let mut names: Vec<&str> = before
        .keys()
        .chain(after.keys())
        .map(String::as_str)
        .filter(|name| !BOOKKEEPING.contains(name) && before.get(*name) != after.get(*name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
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

impl MessageRepo {
    /// Writes `update` to the message read as `item` if `condition` still holds, with its
    /// audit entry naming the fields it changes, in one transaction: the message as the
    /// update leaves the item read (fields another writer changed meanwhile, which the
    /// condition may let through, can be newer in the store), or `None` when the condition
    /// failed or a concurrent write got in the way (read again and retry). An update that
    /// moves only bookkeeping (when a reaction was removed) is written without an entry.
    async fn audited(
        &self,
        tenant: &TenantId,
        by: &Actor,
        key: &Key,
        item: &Item,
        update: Update,
        condition: Condition,
    ) -> Result<Option<Message>, TableError> {
        let after = updated(key, Some(item), update.clone())?;
        let fields = differing(item, &after);
        if fields.is_empty() {
            return match self.table.update(key, update, Some(condition)).await {
                Ok(stored) => Ok(Some(from_item(stored)?)),
                Err(TableError::ConditionFailed) => Ok(None),
                Err(e) => Err(e),
            };
        }
        let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
        let resource = Resource { kind: "message".into(), id };
        let entry = AuditEntry::by(by.clone(), "message.update", resource, &fields);
        let ops = vec![
            TxOp::Update { key: key.clone(), update, condition: Some(condition) },
            AuditRepo::record_op(tenant, &entry)?,
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(Some(from_item(after)?)),
            Err(TableError::TransactionCanceled { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves the message to `status` if that is forward (see [`MessageStatus`]). Conditional
    /// on the status read, so concurrent updates never move it back.
    #[allow(clippy::too_many_arguments)]
    pub async fn advance_status(
        &self,
        tenant: &TenantId,
        by: &Actor,
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
            let current: Message = from_item(item.clone())?;
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
            if let Some(moved) = self.audited(tenant, by, &key, &item, update, condition).await? {
                return Ok(StatusChange::Moved(Box::new(moved)));
            }
        }
        Err(MessageError::Busy)
    }

    /// Marks read every message the business sent in the conversation up to `watermark`
    /// (Messenger and TikTok say "read up to this time", naming no message). Walks back from
    /// the newest message and stops at the first one already read, so a watermark costs a
    /// page of reads, not the whole history. Answers how many messages moved.
    pub async fn read_up_to(
        &self,
        tenant: &TenantId,
        by: &Actor,
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
                .advance_status(tenant, by, message.channel, channel_id, MessageStatus::Read, None, watermark)
                .await?
            {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// Records `reaction` on the message with this channel id, replacing the reactor's
    /// previous one unless that one (or its removal) is newer.
    pub async fn add_reaction(
        &self,
        tenant: &TenantId,
        by: &Actor,
        channel: Channel,
        channel_message_id: &str,
        reaction: &Reaction,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, by, channel, channel_message_id, |message, item| {
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
        by: &Actor,
        channel: Channel,
        channel_message_id: &str,
        from: &str,
        at: OffsetDateTime,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, by, channel, channel_message_id, |message, item| {
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
        by: &Actor,
        channel: Channel,
        channel_message_id: &str,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, by, channel, channel_message_id, |message, _| {
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
        by: &Actor,
        channel: Channel,
        channel_message_id: &str,
        text: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, by, channel, channel_message_id, |message, _| {
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
        by: &Actor,
        channel: Channel,
        channel_message_id: &str,
        size: u64,
        sha256_hex: &str,
        file_key: &str,
        mime_type: Option<&str>,
    ) -> Result<Change, MessageError> {
        self.modify(tenant, by, channel, channel_message_id, |message, _| {
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
        by: &Actor,
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
            // A redelivery that would write what is there (the same edit again): nothing to do.
            let unchanged = updated(&key, Some(&item), update.clone())?;
            if unchanged == item {
                return Ok(Change::Stale);
            }
            let update = update.set(REV, revision + 1).set("updated_at", rfc3339(now())?);
            let condition = Condition::Equals(REV.into(), revision.into());
            if let Some(changed) = self.audited(tenant, by, &key, &item, update, condition).await? {
                return Ok(Change::Applied(Box::new(changed)));
            }
        }
        Err(MessageError::Busy)
    }
}
