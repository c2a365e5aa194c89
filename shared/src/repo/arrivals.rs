//! A channel message arriving: stored with everything it brings — a new contact, a new or
//! reopened conversation, the unread count, and the work it still owes (domain events, a
//! file to fetch) — in one transaction, so that a conversation never shows without its first
//! message and a crash or a failed send after the write loses nothing.
//!
//! Cost. The message's claim, the customer's identity claim, the customer pointer (the
//! shortcut from the customer's channel id on the account to their contact and conversation),
//! what was parked under the message's id, its erased mark and the claim of a replied-to
//! message are read in one `BatchGetItem`. A known customer's
//! message is then one read of the conversation and the transaction; a repeat stops at the
//! batch read.
//!
//! What is owed is recorded on the message's claim in the same transaction and cleared by
//! [`ArrivalRepo::settle`] once sent, so a retry after any failure sends exactly what the
//! first attempt did not confirm, with the same ids.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::audit::{Actor, AuditEntry, AuditRepo, Resource};
use super::contacts::{self, ContactError, ContactRepo, Identity};
use super::conversations::{
    self, Activity, Conversation, ConversationRepo, RACE_RETRIES, activity_on, new_conversation,
};
use super::erased::ErasedIds;
use super::keys::claims::{self, OWED};
use super::keys::contacts as contacts_keys;
use super::keys::conversations::{self as conversations_keys, CONVERSATION_ID};
use super::messages::{Message, claim_item, message_item};
use super::parked::{Parked, parked_key};
use crate::domain::Channel;
use crate::domain::{Phone, TenantId};
use crate::ids::{ChannelAccountId, ContactId, MessageId};
use crate::ports::{Condition, Item, Key, Table, TableError, TxOp, Update};

/// A queue message the arrival of a channel message owes: sent after the write, cleared from
/// the claim once the queue took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owed {
    /// The queue, by its role (`automation`, `media`): the worker maps it to its URL.
    pub to: String,
    /// Stable across attempts: consumers drop a repeat by it.
    pub id: String,
    pub body: String,
}

/// A channel message as it arrives, before it has a place.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    pub channel: Channel,
    pub account: &'a ChannelAccountId,
    /// The customer's id on the channel (wa_id, PSID, IGSID, open id).
    pub customer_id: &'a str,
    pub phone: Option<&'a Phone>,
    pub profile_name: Option<&'a str>,
    pub channel_message_id: &'a str,
    /// The channel id of the message this one replies to.
    pub reply_to: Option<&'a str>,
    /// The channel's own id of the conversation, where it has one (TikTok).
    pub channel_conversation_id: Option<&'a str>,
    /// The channel's time of the message.
    pub at: OffsetDateTime,
    /// From the customer (counts as unread and reopens), or an echo of the business's own.
    pub inbound: bool,
}

/// The conversation as the arriving message names it at the channel: TikTok's sends go to
/// the id its latest message carried (and a conversation from before the id was kept learns
/// it). A late redelivery of an older message changes nothing.
fn learning_channel_conversation(
    mut current: conversations::Stored,
    arrival: &Arrival<'_>,
) -> conversations::Stored {
    let known = &current.conversation.channel_conversation_id;
    if let Some(id) = arrival.channel_conversation_id
        && (known.is_none() || arrival.at >= current.conversation.last_message_at)
    {
        current.conversation.channel_conversation_id = Some(id.to_owned());
    }
    current
}

/// Where an arriving message lands, for the caller to build the message and what it owes.
#[derive(Debug)]
pub struct Placement<'a> {
    pub contact_id: &'a ContactId,
    /// The conversation as it is once the message is stored.
    pub conversation: &'a Conversation,
    pub contact_created: bool,
    pub conversation_created: bool,
    /// The stored message the arriving one replies to, when there is one.
    pub reply_to: Option<MessageId>,
}

#[derive(Debug)]
pub enum Landing {
    /// Stored now; `owed` is recorded on its claim until [`ArrivalRepo::settle`], and
    /// `parked` holds the updates that came before it, for the caller to apply and clear.
    Stored { message: Box<Message>, owed: Vec<Owed>, parked: Option<Parked> },
    /// Stored before: what the earlier attempt has not settled or applied.
    Repeated { owed: Vec<Owed>, parked: Option<Parked> },
    /// Erased (the right of cancellation): a late redelivery, dropped.
    Erased,
}

#[derive(Debug, thiserror::Error)]
pub enum ArrivalError {
    #[error("the customer's thread is changing too fast; retry")]
    Busy,
    #[error(transparent)]
    Contact(#[from] ContactError),
    #[error(transparent)]
    Table(#[from] TableError),
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn owed_of(claim: &Item) -> Vec<Owed> {
    claim.get(OWED).cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

#[derive(Clone)]
pub struct ArrivalRepo {
    table: Arc<dyn Table>,
    contacts: ContactRepo,
    conversations: ConversationRepo,
    erased: ErasedIds,
}

impl ArrivalRepo {
    /// `erased` tells the messages erased, by their ids' digests.
    pub fn new(table: Arc<dyn Table>, erased: ErasedIds) -> Self {
        Self {
            erased,
            contacts: ContactRepo::new(table.clone()),
            conversations: ConversationRepo::new(table.clone()),
            table,
        }
    }

    /// Stores the message `make` builds for its placement, once however often it arrives.
    pub async fn land<F>(
        &self,
        tenant: &TenantId,
        arrival: &Arrival<'_>,
        make: F,
    ) -> Result<Landing, ArrivalError>
    where
        F: Fn(&Placement<'_>) -> Result<(Message, Vec<Owed>), TableError>,
    {
        let channel = arrival.channel.as_str();
        let claim = claims::channel_claim(tenant, channel, arrival.channel_message_id);
        let identity_key = contacts_keys::identity_claim(tenant, channel, arrival.customer_id);
        let pointer_key = conversations_keys::customer(tenant, arrival.account.as_str(), arrival.customer_id);
        let reply_key = arrival.reply_to.map(|id| claims::channel_claim(tenant, channel, id));
        let parked_key = parked_key(tenant, arrival.channel, arrival.channel_message_id);
        let erased_key = self.erased.message_key(tenant, channel, arrival.channel_message_id);
        let mut wanted =
            vec![claim.clone(), identity_key, pointer_key.clone(), parked_key.clone(), erased_key.clone()];
        // A message naming itself as the one it replies to: a batch read takes each key once.
        wanted.extend(reply_key.clone().filter(|key| *key != claim));
        let found = self.table.batch_get(&wanted).await?;
        let read = |key: &Key| found.iter().find(|item| Key::of(item).as_ref() == Some(key));
        if read(&erased_key).is_some() {
            return Ok(Landing::Erased);
        }
        let parked = read(&parked_key).and_then(Parked::from_item);
        if let Some(existing) = read(&claim) {
            return Ok(Landing::Repeated { owed: owed_of(existing), parked });
        }
        let reply_to = reply_key
            .as_ref()
            .and_then(&read)
            .and_then(|item| text(item, "message_id"))
            .and_then(|id| MessageId::parse(&id).ok());
        let mut known_contact = read(&wanted[1])
            .and_then(|item| text(item, "contact_id"))
            .and_then(|id| ContactId::parse(&id).ok());
        let mut shortcut = read(&pointer_key)
            .filter(|p| {
                known_contact.as_ref().is_some_and(|c| text(p, "contact_id").as_deref() == Some(c.as_str()))
            })
            .and_then(|p| text(p, CONVERSATION_ID));
        let activity =
            if arrival.inbound { Activity::Inbound(arrival.at) } else { Activity::Outbound(arrival.at) };

        for _ in 0..RACE_RETRIES {
            let mut ops = Vec::new();
            let (contact_id, contact_created) = match known_contact.clone() {
                Some(id) => (id, false),
                None => self.contact_for(tenant, arrival, &mut ops).await?,
            };
            let current = match (&shortcut, contact_created) {
                (Some(id), false) => self.conversations.read(tenant, id).await?,
                _ => None,
            };
            let shortcut_holds = current.is_some();
            let (conversation, conversation_created) = match current {
                Some(current) => {
                    let before = current.conversation.clone();
                    let current = learning_channel_conversation(current, arrival);
                    let (write, next) = activity_on(tenant, &current, activity)?;
                    ops.push(write.into_op());
                    ops.extend(conversation_changed(tenant, arrival, &before, &next)?);
                    (next, false)
                }
                None => {
                    self.thread_for(tenant, arrival, &contact_id, contact_created, activity, &mut ops).await?
                }
            };
            if !shortcut_holds {
                ops.push(TxOp::Put {
                    item: super::conversations::customer_item(tenant, &pointer_key, &conversation),
                    condition: None,
                });
            }
            let placement = Placement {
                contact_id: &contact_id,
                conversation: &conversation,
                contact_created,
                conversation_created,
                reply_to: reply_to.clone(),
            };
            let (message, owed) = make(&placement)?;
            let mut claim_item = claim_item(tenant, &claim, &message);
            if !owed.is_empty() {
                let list = serde_json::to_value(&owed).map_err(|e| TableError::Invalid(e.to_string()))?;
                claim_item.insert(OWED.into(), list);
            }
            ops.push(TxOp::Put {
                item: message_item(tenant, &message)?,
                condition: Some(Condition::NotExists),
            });
            ops.push(AuditRepo::record_op(tenant, &created_entry(arrival, &message)?)?);
            let claim_op = ops.len();
            ops.push(TxOp::Put { item: claim_item, condition: Some(Condition::NotExists) });
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Landing::Stored { message: Box::new(message), owed, parked }),
                Err(TableError::TransactionCanceled { failed }) => {
                    if failed.get(claim_op).copied().unwrap_or(false) {
                        // A concurrent delivery stored it first: it owns what is owed.
                        let owed = self.table.get(&claim).await?.map(|c| owed_of(&c)).unwrap_or_default();
                        return Ok(Landing::Repeated { owed, parked: None });
                    }
                    // The contact, the thread or the conversation changed since they were
                    // read: read them again, the long way.
                    let identity =
                        Identity { channel: channel.to_owned(), external_id: arrival.customer_id.to_owned() };
                    known_contact = self.contacts.id_by_identity(tenant, &identity).await?;
                    shortcut = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ArrivalError::Busy)
    }

    /// The contact of a customer whose identity no contact claims: a contact typed in with
    /// the customer's phone takes the identity; otherwise a new contact's writes join `ops`.
    async fn contact_for(
        &self,
        tenant: &TenantId,
        arrival: &Arrival<'_>,
        ops: &mut Vec<TxOp>,
    ) -> Result<(ContactId, bool), ArrivalError> {
        let identity = Identity {
            channel: arrival.channel.as_str().to_owned(),
            external_id: arrival.customer_id.to_owned(),
        };
        let by_phone = match arrival.phone {
            Some(phone) => self.contacts.id_by_phone(tenant, phone).await?,
            None => None,
        };
        if by_phone.is_some() {
            let (contact, _) = self
                .contacts
                .upsert_from_channel(
                    tenant,
                    &channel_actor(arrival),
                    &identity,
                    arrival.phone,
                    arrival.profile_name,
                )
                .await?;
            return Ok((contact.id, false));
        }
        let contact = contacts::from_channel(&identity, arrival.phone, arrival.profile_name);
        ops.extend(contacts::creation_ops(tenant, &contact)?);
        // The channel made the contact: the business's log says so, in the same write.
        let created = AuditEntry::by(
            channel_actor(arrival),
            "contact.create",
            Resource { kind: "contact".into(), id: Some(contact.id.to_string()) },
            &["name", "phones", "identities"],
        );
        ops.push(AuditRepo::record_op(tenant, &created)?);
        Ok((contact.id, true))
    }

    /// The conversation of the contact on the account by the thread pointer, or a new one
    /// (with the pointer) whose writes join `ops`.
    async fn thread_for(
        &self,
        tenant: &TenantId,
        arrival: &Arrival<'_>,
        contact_id: &ContactId,
        contact_created: bool,
        activity: Activity,
        ops: &mut Vec<TxOp>,
    ) -> Result<(Conversation, bool), ArrivalError> {
        let pointed = match contact_created {
            true => None,
            false => self.conversations.find_for(tenant, contact_id, arrival.account).await?,
        };
        let current = match &pointed {
            Some(id) => self.conversations.read(tenant, id.as_str()).await?,
            None => None,
        };
        if let Some(current) = current {
            let before = current.conversation.clone();
            let current = learning_channel_conversation(current, arrival);
            let (write, next) = activity_on(tenant, &current, activity)?;
            ops.push(write.into_op());
            ops.extend(conversation_changed(tenant, arrival, &before, &next)?);
            return Ok((next, false));
        }
        let mut conversation = new_conversation(contact_id, arrival.channel, arrival.account, arrival.at);
        conversation.unread_count = u64::from(arrival.inbound);
        conversation.customer_channel_id = Some(arrival.customer_id.to_owned());
        conversation.channel_conversation_id = arrival.channel_conversation_id.map(str::to_owned);
        if arrival.inbound {
            // The customer's first message opens the channels' reply windows.
            conversation.last_inbound_at = Some(arrival.at);
        } else {
            conversation.replies_since_inbound = 1;
        }
        ops.extend(conversations::creation_ops(
            tenant,
            &conversation,
            pointed.as_ref().map(|id| id.as_str()),
        )?);
        if !contact_created {
            // A contact hidden for its erasure meanwhile gets no new conversation: the
            // message waits, and finds the person unknown once the erasure took their claims.
            ops.push(TxOp::Check {
                key: contacts_keys::contact(tenant, contact_id.as_str()),
                condition: Condition::Lacks(super::personal::ERASING.into()),
            });
        }
        let opened = AuditEntry::by(
            channel_actor(arrival),
            "conversation.create",
            Resource { kind: "conversation".into(), id: Some(conversation.id.to_string()) },
            &["contact_id", "channel_account_id", "status"],
        );
        ops.push(AuditRepo::record_op(tenant, &opened)?);
        Ok((conversation, true))
    }

    /// Clears what the message owed, once sent.
    pub async fn settle(
        &self,
        tenant: &TenantId,
        channel: Channel,
        channel_message_id: &str,
    ) -> Result<(), TableError> {
        let claim = claims::channel_claim(tenant, channel.as_str(), channel_message_id);
        match self.table.update(&claim, Update::default().remove(OWED), Some(Condition::Exists)).await {
            // Erased meanwhile: nothing is owed for a message that is gone.
            Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The channel account an arrival came through, as the log's actor.
fn channel_actor(arrival: &Arrival<'_>) -> Actor {
    Actor::channel(arrival.account.as_str())
}

/// `message.create` of the arriving message, naming the fields it came with.
fn created_entry(arrival: &Arrival<'_>, message: &Message) -> Result<AuditEntry, TableError> {
    let record = super::to_item(message)?;
    let fields: Vec<&str> = record
        .iter()
        .filter(|(_, value)| {
            !value.is_null()
                && *value != &Value::Bool(false)
                && value.as_array().is_none_or(|a| !a.is_empty())
        })
        .map(|(name, _)| name.as_str())
        .filter(|name| !matches!(*name, "id" | "created_at" | "updated_at"))
        .collect();
    let resource = Resource { kind: "message".into(), id: Some(message.id.to_string()) };
    Ok(AuditEntry::by(channel_actor(arrival), "message.create", resource, &fields))
}

/// The customer's message changed the conversation beyond its activity: reopened it (when
/// resolved or snoozed), or gave it the channel's new conversation id (TikTok). The log says
/// so, in the message's transaction; the activity itself (last message, unread count) is
/// the message's `message.create`.
fn conversation_changed(
    tenant: &TenantId,
    arrival: &Arrival<'_>,
    before: &Conversation,
    after: &Conversation,
) -> Result<Option<TxOp>, TableError> {
    let mut fields = Vec::new();
    if before.status != after.status {
        fields.push("status");
    }
    if before.snoozed_until != after.snoozed_until {
        fields.push("snoozed_until");
    }
    if before.channel_conversation_id != after.channel_conversation_id {
        fields.push("channel_conversation_id");
    }
    if fields.is_empty() {
        return Ok(None);
    }
    let resource = Resource { kind: "conversation".into(), id: Some(after.id.to_string()) };
    let entry = AuditEntry::by(channel_actor(arrival), "conversation.update", resource, &fields);
    AuditRepo::record_op(tenant, &entry).map(Some)
}
