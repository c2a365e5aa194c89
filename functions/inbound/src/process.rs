//! One queued update: read the envelope, find the business it belongs to, and apply what the
//! update means. Every step is idempotent, so a redelivery — concurrent, or days later, or
//! after a crash half-way — stores nothing twice and loses nothing.

use aws_lambda_events::event::sqs::SqsMessage;
use gestor_shared::domain::TenantId;
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::inbound::{ENVELOPE_VERSION, InboundEnvelope};
use gestor_shared::normalize::{self, IncomingMessage, Normalized};
use gestor_shared::ports::queue::SEND_BATCH_LIMIT;
use gestor_shared::ports::{OutgoingMessage, TableError};
use gestor_shared::repo::arrivals::{Arrival, Landing, Owed, Placement};
use gestor_shared::repo::audit::Actor;
use gestor_shared::repo::contacts::Identity;
use gestor_shared::repo::messages::{Direction, Message};

use crate::changes::{Arrived, IfUnknown};
use crate::jobs::{self, MediaJob};
use crate::media::MediaJobs;
use crate::outcome::{Outcome, RetryLater, storage};
use crate::{Inbound, message};
use gestor_shared::events::DomainEvent;

/// The webhook field of a WhatsApp Business Account's template status changes.
const TEMPLATE_UPDATES: &str = "message_template_status_update";

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
        // A WhatsApp Business Account's own updates name the account, not a number.
        let business = envelope.channel == gestor_shared::inbound::Channel::Whatsapp
            && envelope.field == TEMPLATE_UPDATES;
        let route = match business {
            true => self.routes.business(&envelope.account_id, self.now()).await,
            false => self.routes.route(envelope.channel, &envelope.account_id, self.now()).await,
        };
        let Some((tenant, account)) = route.map_err(storage)? else {
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
            Normalized::ReadUpTo { channel, customer_id, watermark, .. } => {
                let by = Actor::channel(account.as_str());
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
                match self
                    .messages
                    .read_up_to(tenant, &by, &conversation, watermark)
                    .await
                    .map_err(storage)?
                {
                    0 => Ok(Outcome::Repeated),
                    _ => Ok(Outcome::Stored),
                }
            }
            Normalized::Ignored { .. } => Ok(Outcome::Dropped("ignored")),
            Normalized::TemplateStatus { name, language, status, reason } => {
                // The envelope's account is the WhatsApp Business Account.
                let known = self
                    .templates
                    .set_status(tenant, &envelope.account_id, &name, &language, &status, reason.as_deref())
                    .await
                    .map_err(storage)?;
                Ok(if known {
                    Outcome::Stored
                } else {
                    Outcome::Dropped("a template not synced yet: the next listing syncs")
                })
            }
            change => {
                let arrived = Arrived {
                    channel: envelope.channel,
                    account: Some(account.as_str()),
                    customer: envelope.sender_id.as_deref(),
                    received_at: envelope.received_at,
                };
                self.change_message(tenant, &arrived, change, IfUnknown::Park).await
            }
        }
    }

    async fn store_message(
        &self,
        tenant: &TenantId,
        account: &ChannelAccountId,
        envelope: &InboundEnvelope,
        incoming: IncomingMessage,
    ) -> Result<Outcome, RetryLater> {
        if incoming.is_echo && incoming.app_id.is_some() && incoming.app_id == self.own_app_id {
            // A reply of ours: the sender stores it and records its id, and an echo landing
            // first would show it twice.
            return Ok(Outcome::Dropped("an echo of a reply this app sent"));
        }
        let arrival = Arrival {
            channel: incoming.channel,
            account,
            customer_id: &incoming.customer.external_id,
            phone: incoming.customer.phone.as_ref(),
            profile_name: incoming.customer.profile_name.as_deref(),
            channel_message_id: &incoming.channel_message_id,
            reply_to: incoming.reply_to.as_deref(),
            channel_conversation_id: incoming.conversation_id.as_deref(),
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
        let (outcome, owed, parked) = match landing {
            Landing::Stored { owed, parked, .. } => (Outcome::Stored, owed, parked),
            Landing::Repeated { owed, parked } => (Outcome::Repeated, owed, parked),
            Landing::Erased => return Ok(Outcome::Dropped("an erased message")),
        };
        // What is owed first, so a parked update that fails cannot hold it back (a download
        // finds the message unsent, if a parked unsend applies meanwhile, and stops).
        if !owed.is_empty() {
            self.send_owed(owed).await?;
            self.arrivals
                .settle(tenant, incoming.channel, &incoming.channel_message_id)
                .await
                .map_err(storage)?;
        }
        if let Some(parked) = parked {
            self.apply_parked(tenant, incoming.channel, &incoming.channel_message_id, parked).await?;
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
                jobs::QUEUE => self.deferred_queue.clone(),
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
}
