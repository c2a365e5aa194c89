//! One queued update: read the envelope, find the business it belongs to, and apply what the
//! update means. Every step is idempotent, so a redelivery — concurrent, or days later, or
//! after a crash half-way — stores nothing twice and loses nothing.

use aws_lambda_events::event::sqs::SqsMessage;
use gestor_shared::domain::TenantId;
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::inbound::{ENVELOPE_VERSION, InboundEnvelope};
use gestor_shared::normalize::{self, IncomingMessage, Normalized, StatusUpdate};
use gestor_shared::repo::contacts::Identity;
use gestor_shared::repo::messages::{
    Change, Inserted, MessageFailure, MessageStatus, Reaction, StatusChange,
};

use crate::claims::{Claim, ClaimState};
use crate::events::DomainEvent;
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
    #[error("the media file could not be downloaded yet: {0}")]
    Media(String),
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
            self.channels.route(envelope.channel, &envelope.account_id).await.map_err(storage)?
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
        let claim = Claim::new(tenant, incoming.channel, &incoming.channel_message_id);
        // A claim found complete: this delivery repeats one fully stored. Any other state is
        // (re)done, since every effect below is idempotent.
        if claim.begin(self.table.as_ref(), self.now()).await.map_err(storage)? == ClaimState::Complete {
            return Ok(Outcome::Repeated);
        }

        let identity = Identity {
            channel: incoming.channel.as_str().to_owned(),
            external_id: incoming.customer.external_id.clone(),
        };
        let (contact, contact_created) = self
            .contacts
            .upsert_from_channel(
                tenant,
                &identity,
                incoming.customer.phone.as_ref(),
                incoming.customer.profile_name.as_deref(),
            )
            .await
            .map_err(storage)?;
        let (conversation, conversation_created) = self
            .conversations
            .open_for(tenant, &contact.id, incoming.channel, account, incoming.timestamp)
            .await
            .map_err(storage)?;
        let reply_to = match incoming.reply_to.as_deref() {
            Some(id) => {
                self.messages.find_by_channel_id(tenant, incoming.channel, id).await.map_err(storage)?
            }
            None => None,
        };
        let stored =
            message::from_incoming(&incoming, &conversation, &contact.id, reply_to.map(|m| m.id), self.now());
        let inserted = self.messages.insert_once(tenant, &stored).await.map_err(storage)?;
        let message = match &inserted {
            Inserted::Created(m) | Inserted::AlreadyThere(m) => m,
        };

        // Echoes are what the business itself sent: nothing to automate.
        if !incoming.is_echo {
            let mut events = vec![DomainEvent::message_received(tenant, message)];
            if conversation_created {
                events.push(DomainEvent::conversation_created(tenant, &conversation));
            }
            if contact_created {
                events.push(DomainEvent::contact_created(tenant, &contact.id));
            }
            self.emit(events).await?;
        }
        // After the events: a retry finds the contact and conversation already created and
        // could no longer announce them, while `message.received` is at least once anyway.
        // The claim completes only once the file is kept (or given up).
        self.fetch_media(tenant, account, envelope.received_at, message).await?;
        claim.complete(self.table.as_ref(), self.now()).await.map_err(storage)?;
        Ok(match inserted {
            Inserted::Created(_) => Outcome::Stored,
            Inserted::AlreadyThere(_) => Outcome::Repeated,
        })
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

    async fn emit(&self, events: Vec<DomainEvent>) -> Result<(), RetryLater> {
        let messages = events
            .iter()
            .map(DomainEvent::to_queue_message)
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage)?;
        let outcome = self.queue.send_batch(&self.automation_queue, messages).await.map_err(storage)?;
        if outcome.failed.is_empty() {
            Ok(())
        } else {
            Err(RetryLater::Storage(format!("{} domain events refused by the queue", outcome.failed.len())))
        }
    }
}
