//! One queued update: read the envelope, find the business it belongs to, and apply what the
//! update means. Every step is idempotent, so a redelivery — concurrent, or days later, or
//! after a crash half-way — stores nothing twice and loses nothing.

use aws_lambda_events::event::sqs::SqsMessage;
use gestor_shared::domain::TenantId;
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::inbound::{ENVELOPE_VERSION, InboundEnvelope};
use gestor_shared::normalize::{self, IncomingMessage, Normalized, StatusUpdate};
use gestor_shared::ports::queue::SEND_BATCH_LIMIT;
use gestor_shared::ports::{OutgoingMessage, TableError};
use gestor_shared::repo::arrivals::{Arrival, Landing, Owed, Placement};
use gestor_shared::repo::contacts::Identity;
use gestor_shared::repo::messages::{
    Change, Direction, Message, MessageFailure, MessageStatus, Reaction, StatusChange,
};

use crate::events::DomainEvent;
use crate::media::MediaJob;
use crate::{Inbound, UNKNOWN_TARGET_WINDOW, message};

/// Why an update must be received again (and, after the queue's bound, dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum RetryLater {
    #[error("the queue message is not an inbound envelope: {0}")]
    Malformed(String),
    #[error("the envelope is version {0}, newer than this code reads")]
    NewerVersion(u32),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("the message this update refers to is not stored yet")]
    TargetNotYetKnown,
}

fn storage(e: impl std::fmt::Display) -> RetryLater {
    RetryLater::Storage(e.to_string())
}

/// What became of an update (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Repeated,
    Unroutable,
    Dropped(&'static str),
}

impl Inbound {
    pub(crate) async fn process_record(&self, record: &SqsMessage) -> Result<Vec<Outcome>, RetryLater> {
        let body = record.body.as_deref().unwrap_or_default();
        let mut envelope: InboundEnvelope =
            serde_json::from_str(body).map_err(|e| RetryLater::Malformed(e.to_string()))?;
        if envelope.v > ENVELOPE_VERSION {
            return Err(RetryLater::NewerVersion(envelope.v));
        }
        if let Some(pointer) = envelope.payload_ref.clone() {
            // Too large for a queue message: the whole envelope is in the bucket.
            let object = self.files.get(&pointer.key).await.map_err(storage)?;
            envelope =
                serde_json::from_slice(&object.bytes).map_err(|e| RetryLater::Malformed(e.to_string()))?;
        }
        let Some((tenant, account)) =
            self.routes.route(envelope.channel, &envelope.account_id, self.now()).await.map_err(storage)?
        else {
            self.metrics.count("InboundUnroutable", &[("Channel", envelope.channel.as_str())], &[]);
            tracing::warn!(channel = %envelope.channel, "update for a channel account no business has connected; dropped");
            return Ok(vec![Outcome::Unroutable]);
        };
        let mut outcomes = Vec::new();
        for update in normalize::normalize(&envelope) {
            let label = update.label();
            let outcome = self.apply(&tenant, &account, &envelope, update).await?;
            tracing::info!(tenant = %tenant, update = %label, outcome = ?outcome, "update applied");
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        account: &ChannelAccountId,
        envelope: &InboundEnvelope,
        update: Normalized,
    ) -> Result<Outcome, RetryLater> {
        match update {
            Normalized::Message(incoming) => self.store_message(tenant, account, envelope, incoming).await,
            Normalized::Status(status) => self.apply_status(tenant, envelope, status).await,
            Normalized::Reaction(reaction) => self.apply_reaction(tenant, envelope, reaction).await,
            Normalized::Deleted { channel_message_id, .. } => {
                match self
                    .messages
                    .mark_deleted(tenant, envelope.channel, &channel_message_id)
                    .await
                    .map_err(storage)?
                {
                    Change::Applied(_) => Ok(Outcome::Stored),
                    Change::Stale => Ok(Outcome::Repeated),
                    Change::Unknown => self.unknown_target(envelope),
                }
            }
            Normalized::ReadUpTo { channel, customer_id, watermark, .. } => {
                let identity = Identity { channel: channel.as_str().to_owned(), external_id: customer_id };
                let Some(contact) = self.contacts.id_by_identity(tenant, &identity).await.map_err(storage)?
                else {
                    return Ok(Outcome::Dropped("read mark from an unknown customer"));
                };
                let Some(conversation) =
                    self.conversations.find_for(tenant, &contact, account).await.map_err(storage)?
                else {
                    return Ok(Outcome::Dropped("read mark without a conversation"));
                };
                match self.messages.read_up_to(tenant, &conversation, watermark).await.map_err(storage)? {
                    0 => Ok(Outcome::Repeated),
                    _ => Ok(Outcome::Stored),
                }
            }
            Normalized::Ignored { .. } => Ok(Outcome::Dropped("ignored")),
        }
    }

    async fn store_message(
        &self,
        tenant: &TenantId,
        account: &ChannelAccountId,
        envelope: &InboundEnvelope,
        incoming: IncomingMessage,
    ) -> Result<Outcome, RetryLater> {
        let arrival = Arrival {
            channel: incoming.channel,
            account,
            customer_id: &incoming.customer.external_id,
            phone: incoming.customer.phone.as_ref(),
            profile_name: incoming.customer.profile_name.as_deref(),
            channel_message_id: &incoming.channel_message_id,
            reply_to: incoming.reply_to.as_deref(),
            at: incoming.timestamp,
            inbound: !incoming.is_echo,
        };
        let now = self.now();
        let landing = self
            .arrivals
            .land(tenant, &arrival, |placement| {
                let message = message::from_incoming(
                    &incoming,
                    placement.conversation,
                    placement.contact_id,
                    placement.reply_to.clone(),
                    now,
                );
                let owed = self.owed_by(tenant, account, envelope, &message, placement)?;
                Ok((message, owed))
            })
            .await
            .map_err(storage)?;
        let (outcome, owed) = match landing {
            Landing::Stored { owed, .. } => (Outcome::Stored, owed),
            Landing::Repeated { owed } => (Outcome::Repeated, owed),
        };
        if !owed.is_empty() {
            self.send_owed(owed).await?;
            self.arrivals
                .settle(tenant, incoming.channel, &incoming.channel_message_id)
                .await
                .map_err(storage)?;
        }
        Ok(outcome)
    }

    /// What storing `message` owes: its domain events (none for an echo, which the business
    /// itself sent) and the download of its file.
    fn owed_by(
        &self,
        tenant: &TenantId,
        account: &ChannelAccountId,
        envelope: &InboundEnvelope,
        message: &Message,
        placement: &Placement<'_>,
    ) -> Result<Vec<Owed>, TableError> {
        let mut events = Vec::new();
        if message.direction == Direction::In {
            events.push(DomainEvent::message_received(tenant, message));
            if placement.conversation_created {
                events.push(DomainEvent::conversation_created(tenant, placement.conversation));
            }
            if placement.contact_created {
                events.push(DomainEvent::contact_created(tenant, placement.contact_id));
            }
        }
        let mut owed = events.iter().map(DomainEvent::to_owed).collect::<Result<Vec<_>, _>>()?;
        if let Some(job) = MediaJob::for_message(tenant, account, envelope.received_at, message) {
            owed.push(job.to_owed()?);
        }
        Ok(owed)
    }

    /// Sends what a message owes, each to its queue; fails unless every one was taken.
    async fn send_owed(&self, owed: Vec<Owed>) -> Result<(), RetryLater> {
        let mut by_queue: Vec<(String, Vec<OutgoingMessage>)> = Vec::new();
        for item in owed {
            let queue = match item.to.as_str() {
                MediaJob::QUEUE => self.media_queue.clone(),
                _ => self.automation_queue.clone(),
            };
            let message = OutgoingMessage::new(item.id, item.body);
            match by_queue.iter_mut().find(|(q, _)| *q == queue) {
                Some((_, list)) => list.push(message),
                None => by_queue.push((queue, vec![message])),
            }
        }
        for (queue, messages) in by_queue {
            for chunk in messages.chunks(SEND_BATCH_LIMIT) {
                let outcome = self.queue.send_batch(&queue, chunk.to_vec()).await.map_err(storage)?;
                if !outcome.failed.is_empty() {
                    return Err(RetryLater::Storage(format!(
                        "{} owed messages refused by the queue",
                        outcome.failed.len()
                    )));
                }
            }
        }
        Ok(())
    }

    async fn apply_status(
        &self,
        tenant: &TenantId,
        envelope: &InboundEnvelope,
        update: StatusUpdate,
    ) -> Result<Outcome, RetryLater> {
        let status = message::status_of(update.status);
        let error = update.error.as_ref().map(|e| MessageFailure {
            code: e.code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into()),
            title: e.title.clone().unwrap_or_default(),
        });
        let error = if status == MessageStatus::Failed { error } else { None };
        match self
            .messages
            .advance_status(
                tenant,
                update.channel,
                &update.channel_message_id,
                status,
                error,
                update.timestamp,
            )
            .await
            .map_err(storage)?
        {
            StatusChange::Moved(_) => Ok(Outcome::Stored),
            StatusChange::Stale => Ok(Outcome::Repeated),
            StatusChange::Unknown => self.unknown_target(envelope),
        }
    }

    async fn apply_reaction(
        &self,
        tenant: &TenantId,
        envelope: &InboundEnvelope,
        reaction: normalize::Reaction,
    ) -> Result<Outcome, RetryLater> {
        let from = match reaction.direction {
            normalize::Direction::Out => "business".to_owned(),
            normalize::Direction::In => {
                let identity = Identity {
                    channel: reaction.channel.as_str().to_owned(),
                    external_id: reaction.customer_id.clone(),
                };
                match self.contacts.id_by_identity(tenant, &identity).await.map_err(storage)? {
                    Some(id) => id.to_string(),
                    None => return self.unknown_target(envelope),
                }
            }
        };
        let target = &reaction.target_channel_message_id;
        let change = match &reaction.emoji {
            Some(emoji) => {
                let recorded = Reaction { emoji: emoji.clone(), from, at: reaction.timestamp };
                self.messages.add_reaction(tenant, reaction.channel, target, &recorded).await
            }
            None => {
                self.messages
                    .remove_reaction(tenant, reaction.channel, target, &from, reaction.timestamp)
                    .await
            }
        };
        match change.map_err(storage)? {
            Change::Applied(_) => Ok(Outcome::Stored),
            Change::Stale => Ok(Outcome::Repeated),
            Change::Unknown => self.unknown_target(envelope),
        }
    }

    /// An update about a message not stored (yet): retried while it may still be racing the
    /// message, then dropped — it never creates a message by itself.
    fn unknown_target(&self, envelope: &InboundEnvelope) -> Result<Outcome, RetryLater> {
        if self.now() - envelope.received_at < UNKNOWN_TARGET_WINDOW {
            Err(RetryLater::TargetNotYetKnown)
        } else {
            tracing::warn!(channel = %envelope.channel, "update about an unknown message dropped after the retry window");
            Ok(Outcome::Dropped("unknown message"))
        }
    }
}
