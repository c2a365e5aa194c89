//! Erasing a contact: the right of cancellation. The moment the request is accepted the
//! contact is hidden (read as absent by every repository, out of every list and index);
//! then every item the subject index holds for them and every file of theirs is deleted,
//! the channel ids of their messages are kept only as keyed digests ([`ErasedIds`]), and
//! the counts per item type are the proof. Every step reads what is stored and can be
//! repeated: a crash half-way, a redelivered job or two workers at once end the same.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use time::OffsetDateTime;

use super::contacts::Contact;
use super::erased::ErasedIds;
use super::from_item;
use super::keys::contacts as contact_keys;
use super::keys::conversations::REV;
use super::keys::erased as erased_keys;
use super::keys::messages as message_keys;
use super::messages::MessageFailure;
use super::personal::{self, ERASING, visible};
use crate::domain::{MessageStatus, TenantId};
use crate::outbound::SendJob;
use crate::ports::{
    Condition, FileError, Files, Index, Item, Key, Query, SortKey, Table, TableError, TxOp, Update,
};

/// The index attributes a hidden item loses, so that no list or search finds it.
const INDEX_ATTRIBUTES: [&str; 4] = ["gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"];

/// Counts per item type of what an erasure deleted (the proof), plus `files` and
/// `erased_message_ids`.
pub type Counts = BTreeMap<String, u64>;

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("files: {0}")]
    Files(#[from] FileError),
}

/// What an erasure found of its subject.
#[derive(Debug, Default)]
pub struct Found {
    items: Vec<Item>,
    files: Vec<String>,
    /// Raw deliveries kept outside the tenant's prefix that name the subject.
    payloads: Vec<String>,
    /// (channel, channel message id) of every message, claim and parked update found.
    channel_ids: BTreeSet<(String, String)>,
}

impl Found {
    /// What erasing `items` and `payloads` takes: their files, and the channel ids of the
    /// messages, claims and parked updates among them.
    pub(crate) fn of(tenant: &TenantId, items: Vec<Item>, payloads: Vec<String>) -> Self {
        let files = personal::files_of(tenant, &items);
        let channel_prefix = format!("{tenant}#CHANNEL_MESSAGE#");
        let mut channel_ids = BTreeSet::new();
        for item in &items {
            // A claim or parked update: the id is in its key.
            if let Some((channel, id)) = item
                .get("pk")
                .and_then(Value::as_str)
                .and_then(|pk| pk.strip_prefix(&channel_prefix))
                .and_then(|rest| rest.split_once('#'))
            {
                channel_ids.insert((channel.to_owned(), id.to_owned()));
            }
            // A message: the id it carries (its claim may be gone already).
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
            if let (Some(channel), Some(id)) = (text("channel"), text("channel_message_id"))
                && item.get("direction").is_some()
            {
                channel_ids.insert((channel, id));
            }
        }
        Self { items, files, payloads, channel_ids }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.files.is_empty() && self.payloads.is_empty()
    }

    /// What is left leaving out items of these types (not messages: their files stay).
    pub fn without_kinds(mut self, kinds: &[&str]) -> Self {
        self.items.retain(|item| !kinds.contains(&kind_of(item)));
        self
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::new();
        for item in &self.items {
            *counts.entry(count_name(kind_of(item))).or_default() += 1;
        }
        counts.insert("files".into(), self.files.len() as u64);
        counts.insert("raw_payloads".into(), self.payloads.len() as u64);
        counts.insert("erased_message_ids".into(), self.channel_ids.len() as u64);
        counts
    }
}

/// An item's type, as the subject index groups it.
fn kind_of(item: &Item) -> &str {
    let sort = item.get(Index::Subject.sort_attribute()).and_then(Value::as_str).unwrap_or_default();
    sort.split('#').next().unwrap_or_default()
}

/// The proof's name for an item type of the subject index.
fn count_name(kind: &str) -> String {
    match kind {
        "CONTACT" => "contacts",
        "CONTACT_INDEX" => "contact_claims",
        "CONVERSATION" => "conversations",
        "CONVERSATION_INDEX" => "conversation_pointers",
        "MESSAGE" => "messages",
        "MESSAGE_INDEX" => "message_claims",
        "PARKED_UPDATE" => "parked_updates",
        "OUTBOX" => "outbox_entries",
        "IDEMPOTENCY" => "idempotency_records",
        "PRIVACY" => "privacy_requests",
        "PRIVACY_OPEN" => "privacy_request_claims",
        "MEMBER" => "members",
        "MEMBER_ERASURE" => "erasure_markers",
        "SESSION" => "sessions",
        "INVITE" => "invites",
        "AUDIT" => "audit_entries_scrubbed",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

/// The write that hides a contact in the transaction accepting its erasure: marked, out of
/// the lifecycle and name indexes, and its version moved so that a write that read it before
/// (a PATCH, an arriving message) fails and reads it again, as absent.
pub fn hide_op(tenant: &TenantId, contact: &Contact, request_id: &str) -> TxOp {
    let mut update = Update::default().set(ERASING, request_id).add("version", 1);
    for attribute in INDEX_ATTRIBUTES {
        update = update.remove(attribute);
    }
    TxOp::Update {
        key: contact_keys::contact(tenant, contact.id.as_str()),
        update,
        condition: Some(Condition::Equals("version".into(), contact.version.into())),
    }
}

/// [`hide_op`] of a contact item as found, whatever its version: a restore re-applying an
/// erasure to it (`functions/privacy/src/restore.rs`).
pub fn mark_erasing_op(key: Key, request_id: &str) -> TxOp {
    let mut update = Update::default().set(ERASING, request_id).add("version", 1);
    for attribute in INDEX_ATTRIBUTES {
        update = update.remove(attribute);
    }
    TxOp::Update { key, update, condition: Some(Condition::Exists) }
}

/// The contact's own item, deleted last: the transaction completing its erasure.
pub fn contact_key(tenant: &TenantId, contact_id: &str) -> Key {
    contact_keys::contact(tenant, contact_id)
}

/// Whether the contact is hidden, its erasure under way.
pub async fn being_erased(
    table: &dyn Table,
    tenant: &TenantId,
    contact_id: &str,
) -> Result<bool, TableError> {
    Ok(table.get(&contact_keys::contact(tenant, contact_id)).await?.is_some_and(|item| !visible(&item)))
}

/// The rest of hiding, after the contact itself: its phone, email and identity claims and
/// tag entries deleted (a new message from the same person finds no contact and makes a
/// new one), and its conversations marked and out of the inbox indexes.
pub async fn hide_rest(
    table: &dyn Table,
    tenant: &TenantId,
    contact_id: &str,
    request_id: &str,
) -> Result<(), TableError> {
    for claim in of_kind(table, tenant, contact_id, "CONTACT_INDEX#").await? {
        delete_if_still_theirs(table, &claim).await?;
    }
    for conversation in of_kind(table, tenant, contact_id, "CONVERSATION#").await? {
        hide_conversation(table, conversation, request_id).await?;
    }
    for entry in of_kind(table, tenant, contact_id, "OUTBOX#").await? {
        stop_reply(table, tenant, &entry).await?;
    }
    Ok(())
}

/// A reply still queued for the contact is not sent: it fails as `erased`, and the sender,
/// finding it no longer queued, drops its job. One the sender holds already may still go.
pub(crate) async fn stop_reply(table: &dyn Table, tenant: &TenantId, entry: &Item) -> Result<(), TableError> {
    let Some(job) = entry.get("job").and_then(|j| serde_json::from_value::<SendJob>(j.clone()).ok()) else {
        return Ok(());
    };
    let key =
        message_keys::message(tenant, job.conversation_id.as_str(), job.created_at, job.message_id.as_str());
    let failure = MessageFailure {
        code: "erased".into(),
        title: "the customer's data was erased at their request before this reply went".into(),
    };
    let error = serde_json::to_value(failure).map_err(|e| TableError::Invalid(e.to_string()))?;
    let update = Update::default().set("status", MessageStatus::Failed.as_str()).set("error", error);
    let queued = Condition::Equals("status".into(), MessageStatus::Queued.as_str().into());
    match table.update(&key, update, Some(queued)).await {
        Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Conversations are rewritten whole on their `rev`: the hiding moves it too, so a writer
/// that read the conversation before fails and reads it again, hidden.
pub(crate) async fn hide_conversation(
    table: &dyn Table,
    mut item: Item,
    request_id: &str,
) -> Result<(), TableError> {
    for _ in 0..5 {
        let Some(key) = Key::of(&item) else { return Ok(()) };
        if !visible(&item) {
            return Ok(());
        }
        let mut update = Update::default().set(ERASING, request_id).add(REV, 1);
        for attribute in INDEX_ATTRIBUTES {
            update = update.remove(attribute);
        }
        let condition = match item.get(REV) {
            Some(rev) => Condition::Equals(REV.into(), rev.clone()),
            None => Condition::Exists,
        };
        match table.update(&key, update, Some(condition)).await {
            Ok(_) => return Ok(()),
            Err(TableError::ConditionFailed) => match table.get(&key).await? {
                Some(now) => item = now,
                None => return Ok(()),
            },
            Err(e) => return Err(e),
        }
    }
    Err(TableError::Backend("a conversation kept changing while it was hidden".into()))
}

/// Deletes an item keyed by something other than its subject (a phone's claim, a channel
/// identity's pointer) unless it names someone else by now: the same person writing again
/// after the hiding makes a new contact, whose claims take the same keys.
async fn delete_if_still_theirs(table: &dyn Table, item: &Item) -> Result<(), TableError> {
    let (Some(key), Some(subject)) = (Key::of(item), item.get(Index::Subject.partition_attribute())) else {
        return Ok(());
    };
    let condition = Condition::Equals(Index::Subject.partition_attribute().into(), subject.clone());
    match table.delete(&key, Some(condition)).await {
        Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn of_kind(
    table: &dyn Table,
    tenant: &TenantId,
    subject_id: &str,
    prefix: &str,
) -> Result<Vec<Item>, TableError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let query = Query::index(Index::Subject, personal::subject_partition(tenant, subject_id))
            .sort(SortKey::BeginsWith(prefix.to_owned()))
            .limit(500)
            .start_after(start);
        let page = table.query(query).await?;
        items.extend(page.items);
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(items),
        }
    }
}

#[derive(Clone)]
pub struct Erasure {
    table: Arc<dyn Table>,
    files: Arc<dyn Files>,
    ids: ErasedIds,
}

impl Erasure {
    pub fn new(table: Arc<dyn Table>, files: Arc<dyn Files>, ids: ErasedIds) -> Self {
        Self { table, files, ids }
    }

    pub fn ids(&self) -> &ErasedIds {
        &self.ids
    }

    /// The contact as stored, while this request erases it.
    pub async fn erasing_contact(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        request_id: &str,
    ) -> Result<Option<Contact>, TableError> {
        let Some(item) = self.table.get(&contact_keys::contact(tenant, contact_id)).await? else {
            return Ok(None);
        };
        match item.get(ERASING).and_then(Value::as_str) {
            Some(by) if by == request_id => from_item(item).map(Some),
            _ => Ok(None),
        }
    }

    /// Everything held of the contact: its items (and those parked under its channel
    /// identities before it existed), their files, the channel ids of its messages, and the
    /// raw deliveries that name one of `named` (its channel ids, phones, emails).
    /// `keep` are left for the caller (the contact and the request, which end together).
    pub async fn survey(
        &self,
        tenant: &TenantId,
        contact_id: &str,
        identities: &[String],
        named: &[String],
        keep: &[Key],
    ) -> Result<Found, ErasureError> {
        let mut items = personal::items_of_subject(self.table.as_ref(), tenant, contact_id).await?;
        for identity in identities {
            items.extend(personal::items_of_subject(self.table.as_ref(), tenant, identity).await?);
        }
        let mut seen = BTreeSet::new();
        items.retain(|item| Key::of(item).is_some_and(|key| !keep.contains(&key) && seen.insert(key)));
        let mut found = Found::of(tenant, items, Vec::new());
        // The jobs kept from dead-letter queues name them by our ids and their messages'.
        let mut named = named.to_vec();
        named.push(contact_id.to_owned());
        named.extend(found.channel_ids.iter().map(|(_, id)| id.clone()));
        named.extend(
            found.items.iter().filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned)),
        );
        found.payloads = self.payloads_naming(tenant, &named).await?;
        Ok(found)
    }

    /// The raw deliveries kept before any business was known (quarantined as unreadable, or
    /// too large for a queue message), and the jobs kept from dead-letter queues (the
    /// business's and no business's), that hold one of `named`. Each prefix holds few objects,
    /// kept days only (the bucket's lifecycle), so reading them all is bounded.
    pub async fn payloads_naming(
        &self,
        tenant: &TenantId,
        named: &[String],
    ) -> Result<Vec<String>, FileError> {
        // A shorter string than a phone's digits would match deliveries of anyone.
        let named: Vec<&[u8]> =
            named.iter().filter(|n| n.len() >= 8 || n.contains('@')).map(|n| n.as_bytes()).collect();
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let kept = format!("{tenant}/{}/", crate::dead_letters::DIR);
        let prefixes = [
            crate::inbound::QUARANTINE_PREFIX,
            crate::inbound::OVERFLOW_PREFIX,
            crate::dead_letters::UNROUTED_PREFIX,
        ];
        for prefix in prefixes.into_iter().chain([kept.as_str()]) {
            for key in self.files.list(prefix).await? {
                let object = match self.files.get(&key).await {
                    Ok(object) => object,
                    // Gone meanwhile (expired, or another run erased it).
                    Err(FileError::NotFound) => continue,
                    Err(e) => return Err(e),
                };
                if named.iter().any(|n| object.bytes.windows(n.len()).any(|w| w == *n)) {
                    found.push(key);
                }
            }
        }
        Ok(found)
    }

    /// Deletes what `survey` found: first each channel id's claim and parked updates in one
    /// transaction with its erased mark (so that there is never a moment with neither), then
    /// the files, then the items.
    pub async fn erase(
        &self,
        tenant: &TenantId,
        found: &Found,
        request_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), ErasureError> {
        let ids: Vec<&(String, String)> = found.channel_ids.iter().collect();
        for chunk in ids.chunks(33) {
            let mut ops = Vec::with_capacity(chunk.len() * 3);
            for (channel, id) in chunk {
                ops.push(self.ids.mark_op(tenant, channel, id, request_id, at));
                let claim = super::keys::claims::channel_claim(tenant, channel, id);
                ops.push(TxOp::Delete { key: Key::new(claim.pk.clone(), "PARKED"), condition: None });
                ops.push(TxOp::Delete { key: claim, condition: None });
            }
            self.table.transact(ops).await?;
        }
        for file in found.files.iter().chain(&found.payloads) {
            self.files.delete(file).await?;
        }
        // A claim or pointer is keyed by a phone, an email or a channel identity, which the
        // same person writing again after the hiding takes for a new contact: deleted only
        // while still theirs. Every other item's key is theirs alone.
        // An audit entry is the business's record: struck of the subject, never deleted.
        let (entries, rest): (Vec<&Item>, Vec<&Item>) =
            found.items.iter().partition(|item| kind_of(item) == "AUDIT");
        for entry in entries {
            super::member_erasure::scrub_entry(self.table.as_ref(), entry).await?;
        }
        let (shared, own): (Vec<&Item>, Vec<&Item>) = rest
            .into_iter()
            .partition(|item| matches!(kind_of(item), "CONTACT_INDEX" | "CONVERSATION_INDEX"));
        let keys: Vec<Key> = own.into_iter().filter_map(Key::of).collect();
        self.table.batch_delete(&keys).await?;
        for item in shared {
            delete_if_still_theirs(self.table.as_ref(), item).await?;
        }
        Ok(())
    }
}

/// A completed erasure that the hourly sweep checks again, until its deadline has passed:
/// the subject's id (a bare ULID, which nothing left links to anyone) and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub request_id: String,
    pub subject_id: String,
    pub until: OffsetDateTime,
}

/// The write of a check, in the transaction that completes the erasure.
pub fn check_op(tenant: &TenantId, check: &Check) -> TxOp {
    let key = erased_keys::check(tenant, &check.request_id);
    let item = Item::from_iter([
        ("pk".to_owned(), Value::from(key.pk)),
        ("sk".to_owned(), Value::from(key.sk)),
        ("subject_id".to_owned(), Value::from(check.subject_id.as_str())),
        ("until".to_owned(), Value::from(check.until.unix_timestamp())),
    ]);
    TxOp::Put { item, condition: None }
}

/// The business's completed erasures still to check.
pub async fn checks(table: &dyn Table, tenant: &TenantId) -> Result<Vec<Check>, TableError> {
    let mut checks = Vec::new();
    let mut start = None;
    loop {
        let page = table
            .query(Query::table(erased_keys::checks_partition(tenant)).limit(500).start_after(start))
            .await?;
        for item in &page.items {
            let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
            let until = item
                .get("until")
                .and_then(Value::as_i64)
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
            if let (Some(request_id), Some(subject_id), Some(until)) = (text("sk"), text("subject_id"), until)
            {
                checks.push(Check { request_id, subject_id, until });
            }
        }
        match page.last_key {
            Some(last) => start = Some(last),
            None => return Ok(checks),
        }
    }
}

/// A check done with: its deadline has passed.
pub async fn end_check(table: &dyn Table, tenant: &TenantId, check: &Check) -> Result<(), TableError> {
    // A member's erasure kept the user's sign-in id for these checks until now.
    table.delete(&super::member_erasure::marker_key(tenant, &check.request_id), None).await?;
    table.delete(&erased_keys::check(tenant, &check.request_id), None).await.map(|_| ())
}
