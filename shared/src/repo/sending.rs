//! A reply's way out, as conditional writes on its message item: `queued` → `sending` (one
//! sender holds it) → `sent` with the channel's id and its claim (from then on statuses find
//! it, and a retried queue message sees it is done), or back to `queued` with the attempt
//! recorded, or `failed` with the channel's code and reason. A redelivered job never sends a
//! message that left `queued` unless the sender holding it stopped without a word.

use serde_json::Value;
use time::OffsetDateTime;

use super::audit::{Actor, AuditEntry, AuditRepo, Resource, changed_fields};
use super::conversations::rfc3339;
use super::keys::claims;
use super::keys::messages as keys;
use super::messages::{Message, MessageFailure, claim_item, message_key};
use super::outbox;
use super::{from_item, now};
use crate::domain::{MessageStatus, TenantId};
use crate::ids::{ConversationId, MessageId};
use crate::ports::{Condition, Item, Key, Table, TableError, TxOp, Update};

/// When the sender took the message (internal, beside the record).
const SENDING_SINCE: &str = "sending_since";
/// Attempts that met a passing failure (rate limit, outage, timeout).
const ATTEMPTS: &str = "send_attempts";
/// Times the sender waited for the channel's pace before sending.
const PACED: &str = "send_paced";
/// The last passing failure, for the agent and the logs.
const LAST_ERROR: &str = "send_last_error";

/// Tries at recording a send the channel accepted.
const RECORD_TRIES: usize = 5;

/// A sender that has held a message this long without a word has stopped (its function timed
/// out or crashed); another may take it.
pub const ABANDONED_AFTER: time::Duration = time::Duration::minutes(2);

/// What taking a message for sending found.
#[derive(Debug, Clone, PartialEq)]
pub enum Take {
    /// This sender holds it now: send it. `attempts` passing failures came before; `resumed`
    /// when an abandoned send is taken over (the channel may have accepted that one).
    Send { message: Box<Message>, attempts: u32, paced: u32, resumed: bool },
    /// Another sender holds it and may still be working: look again later.
    Busy,
    /// Sent, failed, or gone (erased): nothing to do.
    Done,
}

/// The sender's `message.update` of a reply's outcome.
fn outcome_entry(message_id: &MessageId, update: &Update) -> AuditEntry {
    let fields = changed_fields(update, &[SENDING_SINCE, "updated_at"]);
    let resource = Resource { kind: "message".into(), id: Some(message_id.to_string()) };
    AuditEntry::by(Actor::system("outbound"), "message.update", resource, &fields)
}

#[derive(Clone)]
pub struct SendingRepo {
    table: std::sync::Arc<dyn Table>,
}

fn number(item: &Item, name: &str) -> u32 {
    item.get(name).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn status(item: &Item) -> Option<&str> {
    item.get("status").and_then(Value::as_str)
}

impl SendingRepo {
    pub fn new(table: std::sync::Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// The key of a reply, from what its send job carries.
    pub fn key(
        tenant: &TenantId,
        conversation_id: &ConversationId,
        created_at: OffsetDateTime,
        id: &MessageId,
    ) -> Key {
        keys::message(tenant, conversation_id.as_str(), created_at, id.as_str())
    }

    /// Takes the message for sending: one conditional write when it is `queued`.
    pub async fn take(&self, key: &Key, at: OffsetDateTime) -> Result<Take, TableError> {
        let since = rfc3339(at)?;
        let take = Update::default()
            .set("status", MessageStatus::Sending.as_str())
            .set(SENDING_SINCE, since.clone());
        let queued = Condition::Equals("status".into(), MessageStatus::Queued.as_str().into());
        let item = match self.table.update(key, take.clone(), Some(queued)).await {
            Ok(item) => return Self::held(item, false),
            Err(TableError::ConditionFailed) => match self.table.get(key).await? {
                Some(item) => item,
                None => return Ok(Take::Done),
            },
            Err(e) => return Err(e),
        };
        if status(&item) != Some(MessageStatus::Sending.as_str()) {
            return Ok(Take::Done);
        }
        let held_since = item.get(SENDING_SINCE).and_then(Value::as_str).unwrap_or_default().to_owned();
        let abandoned = OffsetDateTime::parse(&held_since, &time::format_description::well_known::Rfc3339)
            .map(|t| at - t >= ABANDONED_AFTER)
            .unwrap_or(true);
        if !abandoned {
            return Ok(Take::Busy);
        }
        // Taken over only if nobody else took it over since it was read.
        let same_holder = Condition::All(vec![
            Condition::Equals("status".into(), MessageStatus::Sending.as_str().into()),
            Condition::Equals(SENDING_SINCE.into(), held_since.into()),
        ]);
        match self.table.update(key, take, Some(same_holder)).await {
            Ok(item) => Self::held(item, true),
            Err(TableError::ConditionFailed) => Ok(Take::Busy),
            Err(e) => Err(e),
        }
    }

    fn held(item: Item, resumed: bool) -> Result<Take, TableError> {
        let (attempts, paced) = (number(&item, ATTEMPTS), number(&item, PACED));
        Ok(Take::Send { message: Box::new(from_item(item)?), attempts, paced, resumed })
    }

    /// The channel accepted it: `sent`, with the channel's id (and the file as sent, for a
    /// reply with one) and the claim statuses find it by, in one transaction; `false` if the claim was already taken (by an echo of this
    /// very message, which the inbound worker stored first).
    pub async fn sent(
        &self,
        tenant: &TenantId,
        message: &Message,
        channel_message_id: &str,
        at: OffsetDateTime,
    ) -> Result<bool, TableError> {
        let mut sent = message.clone();
        sent.status = MessageStatus::Sent;
        sent.channel_message_id = Some(channel_message_id.to_owned());
        sent.status_at = Some(at);
        let claim = claims::channel_claim(tenant, message.channel.as_str(), channel_message_id);
        let mut update = Update::default()
            .set("status", MessageStatus::Sent.as_str())
            .set("channel_message_id", channel_message_id)
            .set("status_at", rfc3339(at)?)
            .set("updated_at", rfc3339(now())?);
        if let Some(media) = &message.media {
            // A file fetched by URL is known now: its real type, size and kind.
            let media = serde_json::to_value(media).map_err(|e| TableError::Invalid(e.to_string()))?;
            update = update.set("media", media).set("kind", message.kind.as_str());
        }
        let logged = outcome_entry(&message.id, &update);
        let ops = vec![
            TxOp::Update {
                key: message_key(tenant, message),
                update,
                condition: Some(Condition::Equals("status".into(), MessageStatus::Sending.as_str().into())),
            },
            TxOp::Put { item: claim_item(tenant, &claim, &sent), condition: Some(Condition::NotExists) },
            outbox::delete(tenant, message.id.as_str(), message.created_at),
            AuditRepo::record_op(tenant, &logged)?,
        ];
        // The channel has the message now: every passing failure of this record is retried
        // here, because giving up leaves it `sending` and a takeover would send it again.
        let mut tries = 0;
        let outcome = loop {
            tries += 1;
            match self.table.transact(ops.clone()).await {
                Err(TableError::TransactionCanceled { failed })
                    if !failed.iter().any(|f| *f) && tries < RECORD_TRIES => {}
                Err(TableError::Throttled | TableError::Backend(_)) if tries < RECORD_TRIES => {}
                other => break other,
            }
        };
        match outcome {
            Ok(()) => Ok(true),
            Err(TableError::TransactionCanceled { failed }) if failed.get(1).copied().unwrap_or(false) => {
                // The id is claimed already: keep the message's own record of it all the same.
                let update = Update::default()
                    .set("status", MessageStatus::Sent.as_str())
                    .set("channel_message_id", channel_message_id)
                    .set("status_at", rfc3339(at)?);
                let sending = Condition::Equals("status".into(), MessageStatus::Sending.as_str().into());
                let logged = outcome_entry(&message.id, &update);
                let ops = vec![
                    TxOp::Update { key: message_key(tenant, message), update, condition: Some(sending) },
                    AuditRepo::record_op(tenant, &logged)?,
                ];
                self.record_outcome(ops).await?;
                let entry = super::keys::outbox::entry(tenant, message.id.as_str(), message.created_at);
                self.table.delete(&entry, None).await?;
                Ok(false)
            }
            // Someone else moved it meanwhile (an abandoned send taken over): theirs stands.
            Err(TableError::TransactionCanceled { failed }) if failed.first().copied().unwrap_or(false) => {
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// A passing failure, or a wait for the channel's pace: back to `queued` with the count
    /// recorded, for the next delivery of the job.
    pub async fn again(
        &self,
        message: &Message,
        key: &Key,
        paced: bool,
        reason: &str,
    ) -> Result<(), TableError> {
        let mut update = Update::default()
            .set("status", MessageStatus::Queued.as_str())
            .set(LAST_ERROR, reason)
            .set("updated_at", rfc3339(now())?);
        update.remove.push(SENDING_SINCE.into());
        update = update.add(if paced { PACED } else { ATTEMPTS }, 1);
        let sending = Condition::Equals("status".into(), MessageStatus::Sending.as_str().into());
        match self.table.update(key, update, Some(sending)).await {
            Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => {
                tracing::warn!(message_id = %message.id, "the retry was not recorded");
                Err(e)
            }
        }
    }

    /// The channel refused it for good, or it kept failing: `failed` with the reason.
    pub async fn failed(
        &self,
        tenant: &TenantId,
        message_id: &MessageId,
        key: &Key,
        failure: &MessageFailure,
        at: OffsetDateTime,
    ) -> Result<(), TableError> {
        let error = serde_json::to_value(failure).map_err(|e| TableError::Invalid(e.to_string()))?;
        let mut update = Update::default()
            .set("status", MessageStatus::Failed.as_str())
            .set("error", error)
            .set("status_at", rfc3339(at)?)
            .set("updated_at", rfc3339(now())?);
        update.remove.push(SENDING_SINCE.into());
        let sending = Condition::Equals("status".into(), MessageStatus::Sending.as_str().into());
        let logged = outcome_entry(message_id, &update);
        let ops = vec![
            TxOp::Update { key: key.clone(), update, condition: Some(sending) },
            AuditRepo::record_op(tenant, &logged)?,
        ];
        self.record_outcome(ops).await
    }

    /// Writes an outcome (`ops`: the message's update conditional on `sending`, then its
    /// entry). A failed condition means another sender recorded its outcome first: theirs
    /// stands, and so does its entry. A transaction that collided with another write (a
    /// status for the message, say) is tried again, never taken for done: the outbox entry
    /// goes after this, and a reply left `sending` without one would never be retried.
    async fn record_outcome(&self, ops: Vec<TxOp>) -> Result<(), TableError> {
        for _ in 0..RECORD_TRIES {
            match self.table.transact(ops.clone()).await {
                Ok(()) => return Ok(()),
                Err(TableError::TransactionCanceled { failed })
                    if failed.first().copied().unwrap_or(false) =>
                {
                    return Ok(());
                }
                Err(TableError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(TableError::Backend("the reply's outcome kept colliding with other writes".into()))
    }
}
