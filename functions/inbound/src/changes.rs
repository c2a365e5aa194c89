//! Updates that change a stored message: a status, a reaction, an unsend or revoke, an edit.
//! One naming a message that is not stored yet is parked (see `parking`), never retried in
//! its record, so it cannot hold back the customer's later updates.

use gestor_shared::domain::TenantId;
use gestor_shared::inbound::Channel;
use gestor_shared::normalize::{self, Normalized, StatusUpdate};
use gestor_shared::repo::audit::Actor;
use gestor_shared::repo::contacts::Identity;
use gestor_shared::repo::messages::{
    Change, MessageFailure, MessageStatus, Reaction, StatusChange, media_file_key,
};
use time::OffsetDateTime;

use crate::Inbound;
use crate::outcome::{Outcome, RetryLater, storage};

/// What to do with an update whose message is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfUnknown {
    /// Fresh from the queue: park it for its message.
    Park,
    /// From the parking, once its message is stored or its time is up: nothing more to wait for.
    Drop,
}

/// Where an update came from: its channel and channel account, the customer the envelope
/// names, and when the webhook took it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrived<'a> {
    pub channel: Channel,
    /// Absent on an update parked before parking kept it.
    pub account: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub received_at: OffsetDateTime,
}

impl Arrived<'_> {
    /// Who the audit log says made the change: the channel account whose webhook told it.
    pub(crate) fn actor(&self) -> Actor {
        Actor::channel(self.account.unwrap_or(self.channel.as_str()))
    }
}

/// The channel id of the message an update changes, and its customer when it names one.
pub(crate) fn target_of(update: &Normalized) -> Option<(&str, Option<&str>)> {
    match update {
        Normalized::Status(s) => Some((&s.channel_message_id, s.recipient_id.as_deref())),
        Normalized::Reaction(r) => Some((&r.target_channel_message_id, Some(&r.customer_id))),
        Normalized::Deleted { channel_message_id, .. } | Normalized::Edited { channel_message_id, .. } => {
            Some((channel_message_id, None))
        }
        _ => None,
    }
}

impl Inbound {
    pub(crate) async fn change_message(
        &self,
        tenant: &TenantId,
        arrived: &Arrived<'_>,
        update: Normalized,
        if_unknown: IfUnknown,
    ) -> Result<Outcome, RetryLater> {
        let by = &arrived.actor();
        let change = match &update {
            Normalized::Status(status) => self.apply_status(tenant, by, status).await?,
            Normalized::Reaction(reaction) => self.apply_reaction(tenant, by, reaction).await?,
            Normalized::Deleted { channel_message_id, .. } => {
                let change = self
                    .messages
                    .mark_deleted(tenant, by, arrived.channel, channel_message_id)
                    .await
                    .map_err(storage)?;
                // The downloaded file goes with the message (a download still running sees the
                // unsend and deletes what it wrote). Again on a repeat: the first attempt may
                // have stored the unsend and failed to delete.
                let unsent = match &change {
                    Change::Applied(message) => Some(message.id.clone()),
                    Change::Stale => self
                        .messages
                        .find_by_channel_id(tenant, arrived.channel, channel_message_id)
                        .await
                        .map_err(storage)?
                        .filter(|m| m.deleted)
                        .map(|m| m.id),
                    Change::Unknown => None,
                };
                if let Some(id) = unsent {
                    self.files.delete(&media_file_key(tenant, &id)).await.map_err(storage)?;
                }
                change
            }
            Normalized::Edited { channel_message_id, text, at } => self
                .messages
                .edit(tenant, by, arrived.channel, channel_message_id, text.as_deref(), *at)
                .await
                .map_err(storage)?,
            _ => return Ok(Outcome::Dropped("not a change of a message")),
        };
        match (change, if_unknown) {
            (Change::Applied(_), _) => Ok(Outcome::Stored),
            (Change::Stale, _) => Ok(Outcome::Repeated),
            (Change::Unknown, IfUnknown::Park) => self.park(tenant, arrived, &update).await,
            (Change::Unknown, IfUnknown::Drop) => Ok(Outcome::Dropped("unknown message")),
        }
    }

    async fn apply_status(
        &self,
        tenant: &TenantId,
        by: &Actor,
        update: &StatusUpdate,
    ) -> Result<Change, RetryLater> {
        let status = update.status.message_status();
        let error = update.error.as_ref().map(|e| MessageFailure {
            code: e.code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into()),
            title: e.title.clone().unwrap_or_default(),
        });
        let error = if status == MessageStatus::Failed { error } else { None };
        let moved = self
            .messages
            .advance_status(
                tenant,
                by,
                update.channel,
                &update.channel_message_id,
                status,
                error,
                update.timestamp,
            )
            .await
            .map_err(storage)?;
        Ok(match moved {
            StatusChange::Moved(message) => Change::Applied(message),
            StatusChange::Stale => Change::Stale,
            StatusChange::Unknown => Change::Unknown,
        })
    }

    async fn apply_reaction(
        &self,
        tenant: &TenantId,
        by: &Actor,
        reaction: &normalize::Reaction,
    ) -> Result<Change, RetryLater> {
        let from = match reaction.direction {
            normalize::Direction::Out => "business".to_owned(),
            normalize::Direction::In => {
                let identity = Identity {
                    channel: reaction.channel.as_str().to_owned(),
                    external_id: reaction.customer_id.clone(),
                };
                match self.contacts.id_by_identity(tenant, &identity).await.map_err(storage)? {
                    Some(id) => id.to_string(),
                    // No such customer yet: their message (and so the contact) is yet to come.
                    None => return Ok(Change::Unknown),
                }
            }
        };
        let target = &reaction.target_channel_message_id;
        let change = match &reaction.emoji {
            Some(emoji) => {
                let recorded = Reaction { emoji: emoji.clone(), from, at: reaction.timestamp };
                self.messages.add_reaction(tenant, by, reaction.channel, target, &recorded).await
            }
            None => {
                self.messages
                    .remove_reaction(tenant, by, reaction.channel, target, &from, reaction.timestamp)
                    .await
            }
        };
        change.map_err(storage)
    }
}
