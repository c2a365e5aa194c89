//! Contacts: the customers of a business. A contact's phones, emails and channel identities
//! are unique within the tenant (claim items written in the same transaction as the contact),
//! so that a customer writing on WhatsApp finds the contact an agent typed in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

use super::audit::{Actor, AuditEntry, AuditRepo, Resource};
use super::conversations::stored;
use super::keys::contacts as keys;
use super::keys::conversations as conversation_keys;
use super::scope::RowScope;
use super::{from_item, personal, to_item};
pub use crate::domain::Lifecycle;
use crate::domain::{Email, Phone, TenantId};
use crate::ids::{ContactId, MemberId};
use crate::ports::{Condition, Index, Item, Key, Query, SortKey, Table, TableError, TxOp};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    /// `whatsapp`, `messenger`, `instagram`, `tiktok`.
    pub channel: String,
    pub external_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub name: Option<String>,
    /// E.164 numbers.
    pub phones: Vec<Phone>,
    pub emails: Vec<Email>,
    pub lifecycle: Lifecycle,
    pub tags: Vec<String>,
    /// Custom fields.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub identities: Vec<Identity>,
    /// Processing the contact opposed (ARCO opposition): `marketing`, `automation`, `ai` ...
    pub restrictions: Vec<String>,
    pub owner_id: Option<MemberId>,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: time::OffsetDateTime,
}

impl Contact {
    /// How many claim and tag items it has beside its own.
    pub fn companion_items(&self) -> usize {
        companions(self).len()
    }

    /// The fields whose values differ from `before`'s, as an audit entry names them.
    pub fn changed_from(&self, before: &Contact) -> Vec<&'static str> {
        let differs = [
            ("name", self.name != before.name),
            ("phones", self.phones != before.phones),
            ("emails", self.emails != before.emails),
            ("lifecycle", self.lifecycle != before.lifecycle),
            ("tags", self.tags != before.tags),
            ("attributes", self.attributes != before.attributes),
            ("identities", self.identities != before.identities),
            ("restrictions", self.restrictions != before.restrictions),
            ("owner_id", self.owner_id != before.owner_id),
        ];
        differs.into_iter().filter(|(_, differs)| *differs).map(|(name, _)| name).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// Another contact of the tenant already has this phone, email or identity.
    #[error("another contact already has {field} {value}")]
    Duplicate { field: &'static str, value: String, existing: Option<String> },
    /// The contact changed since it was read.
    #[error("the contact changed since it was read")]
    VersionConflict,
    #[error("no such contact")]
    NotFound,
    #[error(transparent)]
    Table(#[from] TableError),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFilter {
    /// Prefix of the name, folded (case and accents ignored).
    pub q: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub tag: Option<String>,
    pub lifecycle: Option<Lifecycle>,
}

impl ContactFilter {
    /// The canonical form a pagination cursor is bound to.
    pub fn canonical(&self) -> String {
        format!(
            "contacts?q={}&phone={}&email={}&tag={}&lifecycle={}",
            self.q.as_deref().map(keys::fold_name).unwrap_or_default(),
            self.phone.as_ref().map(|p| p.as_str()).unwrap_or_default(),
            self.email.as_ref().map(|e| e.as_str()).unwrap_or_default(),
            self.tag.as_deref().unwrap_or_default(),
            self.lifecycle.map(Lifecycle::as_str).unwrap_or_default(),
        )
    }

    fn matches(&self, c: &Contact) -> bool {
        let folded = c.name.as_deref().map(keys::fold_name).unwrap_or_default();
        self.q.as_deref().is_none_or(|q| folded.starts_with(&keys::fold_name(q)))
            && self.phone.as_ref().is_none_or(|p| c.phones.contains(p))
            && self.email.as_ref().is_none_or(|e| c.emails.contains(e))
            && self.tag.as_ref().is_none_or(|t| c.tags.contains(t))
            && self.lifecycle.is_none_or(|l| c.lifecycle == l)
    }
}

/// A companion item of a contact, and what a duplicate of it means.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Companion {
    Phone(String),
    Email(String),
    Identity(String, String),
    Tag(String),
}

impl Companion {
    fn key(&self, tenant: &TenantId, id: &str) -> Key {
        match self {
            Companion::Phone(p) => keys::phone_claim(tenant, p),
            Companion::Email(e) => keys::email_claim(tenant, e),
            Companion::Identity(c, x) => keys::identity_claim(tenant, c, x),
            Companion::Tag(t) => keys::tag_member(tenant, t, id),
        }
    }

    fn unique(&self) -> bool {
        !matches!(self, Companion::Tag(_))
    }

    fn duplicate(&self) -> (&'static str, String) {
        match self {
            Companion::Phone(p) => ("phones", p.clone()),
            Companion::Email(e) => ("emails", e.clone()),
            Companion::Identity(c, x) => ("identities", format!("{c}:{x}")),
            Companion::Tag(t) => ("tags", t.clone()),
        }
    }
}

fn companions(c: &Contact) -> BTreeSet<Companion> {
    let mut set = BTreeSet::new();
    set.extend(c.phones.iter().map(|p| Companion::Phone(p.as_str().to_owned())));
    set.extend(c.emails.iter().map(|e| Companion::Email(e.as_str().to_owned())));
    set.extend(c.identities.iter().map(|i| Companion::Identity(i.channel.clone(), i.external_id.clone())));
    set.extend(c.tags.iter().map(|t| Companion::Tag(t.clone())));
    set
}

fn contact_item(tenant: &TenantId, c: &Contact) -> Result<Item, TableError> {
    let mut item = to_item(c)?;
    let key = keys::contact(tenant, c.id.as_str());
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert(
        Index::Gsi1.partition_attribute().into(),
        keys::lifecycle_partition(tenant, c.lifecycle.as_str()).into(),
    );
    item.insert(Index::Gsi1.sort_attribute().into(), c.id.as_str().into());
    if let Some(name) = c.name.as_deref().map(keys::fold_name).filter(|n| !n.is_empty()) {
        item.insert(Index::Gsi2.partition_attribute().into(), keys::name_partition(tenant).into());
        item.insert(Index::Gsi2.sort_attribute().into(), format!("{name}#{}", c.id).into());
    }
    personal::mark(&mut item, tenant, c.id.as_str(), "CONTACT");
    Ok(item)
}

fn companion_item(tenant: &TenantId, id: &ContactId, companion: &Companion) -> Item {
    let key = companion.key(tenant, id.as_str());
    let mut item = Item::new();
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert("contact_id".into(), id.as_str().into());
    personal::mark(&mut item, tenant, id.as_str(), "CONTACT_INDEX");
    item
}

/// The writes creating `contact` with its companion items, each unique one only if unclaimed.
pub(crate) fn creation_ops(tenant: &TenantId, contact: &Contact) -> Result<Vec<TxOp>, TableError> {
    let mut ops =
        vec![TxOp::Put { item: contact_item(tenant, contact)?, condition: Some(Condition::NotExists) }];
    for c in companions(contact) {
        ops.push(TxOp::Put {
            item: companion_item(tenant, &contact.id, &c),
            condition: c.unique().then_some(Condition::NotExists),
        });
    }
    Ok(ops)
}

/// What a channel did to a contact, for the log.
fn contact_entry(by: &Actor, action: &str, contact: &Contact, fields: &[&str]) -> AuditEntry {
    let resource = Resource { kind: "contact".into(), id: Some(contact.id.to_string()) };
    AuditEntry::by(by.clone(), action, resource, fields)
}

/// A customer first met on a channel: a lead with that identity, the phone the channel gave
/// and the profile name.
pub(crate) fn from_channel(
    identity: &Identity,
    phone: Option<&Phone>,
    profile_name: Option<&str>,
) -> Contact {
    let now = time::OffsetDateTime::now_utc();
    Contact {
        id: ContactId::new(),
        name: profile_name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
        phones: phone.into_iter().cloned().collect(),
        emails: vec![],
        lifecycle: Lifecycle::Lead,
        tags: vec![],
        attributes: Map::new(),
        identities: vec![identity.clone()],
        restrictions: vec![],
        owner_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

#[derive(Clone)]
pub struct ContactRepo {
    table: Arc<dyn Table>,
}

impl ContactRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>, TableError> {
        match self.table.get(&keys::contact(tenant, id.as_str())).await? {
            Some(item) if personal::visible(&item) => from_item(item).map(Some),
            _ => Ok(None),
        }
    }

    /// The contact if `scope` reaches it: what the API reads.
    pub async fn get_in(
        &self,
        tenant: &TenantId,
        id: &ContactId,
        scope: &RowScope,
    ) -> Result<Option<Contact>, TableError> {
        match self.get(tenant, id).await? {
            Some(contact) if self.reaches(tenant, &contact, scope).await? => Ok(Some(contact)),
            _ => Ok(None),
        }
    }

    /// The contact is owned by the member, or one of its conversations is in scope: an agent
    /// answering a conversation sees who they answer. Two more requests (the contact's thread
    /// pointers and its conversations) only for a scoped member and a contact they do not own.
    async fn reaches(
        &self,
        tenant: &TenantId,
        contact: &Contact,
        scope: &RowScope,
    ) -> Result<bool, TableError> {
        if scope.owns(contact.owner_id.as_ref()) {
            return Ok(true);
        }
        let threads = self
            .table
            .query(
                Query::table(conversation_keys::threads_partition(tenant))
                    .sort(SortKey::BeginsWith(format!("{}#", contact.id)))
                    .limit(100),
            )
            .await?;
        let keys: Vec<Key> = threads
            .items
            .iter()
            .filter_map(|pointer| pointer.get(conversation_keys::CONVERSATION_ID)?.as_str())
            .map(|id| conversation_keys::conversation(tenant, id))
            .collect();
        if keys.is_empty() {
            return Ok(false);
        }
        for item in self.table.batch_get(&keys).await?.into_iter().filter(personal::visible) {
            if stored(item)?.conversation.reached_by(scope) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn create(&self, tenant: &TenantId, contact: &Contact) -> Result<(), ContactError> {
        let added: Vec<Companion> = companions(contact).into_iter().collect();
        self.write(tenant, creation_ops(tenant, contact)?, &added).await
    }

    /// Replaces `old` by `new` if the stored contact is still at `old.version`.
    pub async fn replace(&self, tenant: &TenantId, old: &Contact, new: &Contact) -> Result<(), ContactError> {
        self.replace_logged(tenant, old, new, None, None).await
    }

    /// [`Self::replace`], with the audit entry of a writer the HTTP layer does not log for,
    /// and a `guard` that must hold too (a request still open): when it does not, nothing is
    /// written and the answer is `VersionConflict`, for the caller to read again.
    pub async fn replace_logged(
        &self,
        tenant: &TenantId,
        old: &Contact,
        new: &Contact,
        logged: Option<&AuditEntry>,
        guard: Option<TxOp>,
    ) -> Result<(), ContactError> {
        let (before, after) = (companions(old), companions(new));
        let mut ops = vec![TxOp::Put {
            item: contact_item(tenant, new)?,
            condition: Some(Condition::Equals("version".into(), old.version.into())),
        }];
        let added: Vec<Companion> = after.difference(&before).cloned().collect();
        for c in &added {
            ops.push(TxOp::Put {
                item: companion_item(tenant, &new.id, c),
                condition: c.unique().then_some(Condition::NotExists),
            });
        }
        for c in before.difference(&after) {
            ops.push(TxOp::Delete { key: c.key(tenant, old.id.as_str()), condition: None });
        }
        if let Some(entry) = logged {
            ops.push(AuditRepo::record_op(tenant, entry)?);
        }
        // Last: its failure is no duplicate of an added companion.
        ops.extend(guard);
        self.write(tenant, ops, &added).await
    }

    async fn write(
        &self,
        tenant: &TenantId,
        ops: Vec<TxOp>,
        added: &[Companion],
    ) -> Result<(), ContactError> {
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(TableError::TransactionCanceled { failed }) => {
                if failed.first().copied().unwrap_or(false) {
                    return Err(ContactError::VersionConflict);
                }
                let Some(duplicate) = failed.iter().skip(1).position(|f| *f).and_then(|i| added.get(i))
                else {
                    return Err(ContactError::VersionConflict);
                };
                let existing = self
                    .table
                    .get(&duplicate.key(tenant, ""))
                    .await?
                    .and_then(|item| item.get("contact_id").and_then(Value::as_str).map(str::to_owned));
                let (field, value) = duplicate.duplicate();
                Err(ContactError::Duplicate { field, value, existing })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the contact, its companion items and every other item holding its data.
    pub async fn delete(&self, tenant: &TenantId, contact: &Contact) -> Result<(), ContactError> {
        let mut ops = vec![TxOp::Delete {
            key: keys::contact(tenant, contact.id.as_str()),
            condition: Some(Condition::Equals("version".into(), contact.version.into())),
        }];
        for c in companions(contact) {
            ops.push(TxOp::Delete { key: c.key(tenant, contact.id.as_str()), condition: None });
        }
        match self.table.transact(ops).await {
            Ok(()) => {}
            Err(TableError::TransactionCanceled { .. }) => return Err(ContactError::VersionConflict),
            Err(e) => return Err(e.into()),
        }
        let mut rest = personal::keys_of_subject(self.table.as_ref(), tenant, contact.id.as_str()).await?;
        // Updates parked before the contact existed are marked with the channel identity.
        for identity in &contact.identities {
            let subject = format!("{}:{}", identity.channel, identity.external_id);
            rest.extend(personal::keys_of_subject(self.table.as_ref(), tenant, &subject).await?);
        }
        self.table.batch_delete(&rest).await?;
        Ok(())
    }

    /// The contact a channel identity belongs to, if any.
    pub async fn id_by_identity(
        &self,
        tenant: &TenantId,
        identity: &Identity,
    ) -> Result<Option<ContactId>, TableError> {
        self.claimed_by(&keys::identity_claim(tenant, &identity.channel, &identity.external_id)).await
    }

    /// The contact of a customer writing on a channel: found by the channel identity, else by
    /// the normalised phone (a contact typed in as `+52 55 …` is the WhatsApp user `521 55…`),
    /// else created. The profile name fills a contact that has none. Safe under concurrent
    /// deliveries: the identity and phone claims let one creation win and the others find it.
    pub async fn upsert_from_channel(
        &self,
        tenant: &TenantId,
        by: &Actor,
        identity: &Identity,
        phone: Option<&Phone>,
        profile_name: Option<&str>,
    ) -> Result<(Contact, bool), ContactError> {
        // Set when the phone turns out to belong to another contact: the customer is still
        // this identity's contact, and the phone stays with its owner.
        let mut phone_taken = false;
        for _ in 0..4 {
            let existing = match self.id_by_identity(tenant, identity).await? {
                Some(id) => Some(id),
                None => match phone {
                    Some(phone) => self.id_by_phone(tenant, phone).await?,
                    None => None,
                },
            };
            let Some(id) = existing else {
                let contact = from_channel(identity, phone, profile_name);
                let added: Vec<Companion> = companions(&contact).into_iter().collect();
                let mut ops = creation_ops(tenant, &contact)?;
                let logged = contact_entry(by, "contact.create", &contact, &["name", "phones", "identities"]);
                ops.push(AuditRepo::record_op(tenant, &logged)?);
                match self.write(tenant, ops, &added).await {
                    Ok(()) => return Ok((contact, true)),
                    // Another delivery created the customer first: find theirs.
                    Err(ContactError::Duplicate { .. }) => continue,
                    Err(e) => return Err(e),
                }
            };
            let Some(current) = self.get(tenant, &id).await? else { continue };
            let mut next = current.clone();
            if !next.identities.contains(identity) {
                next.identities.push(identity.clone());
            }
            if next.name.is_none() {
                next.name = profile_name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
            }
            if let Some(phone) = phone
                && !phone_taken
                && !next.phones.contains(phone)
                && next.phones.len() < 10
            {
                next.phones.push(phone.clone());
            }
            if next == current {
                return Ok((current, false));
            }
            next.version = current.version + 1;
            next.updated_at = time::OffsetDateTime::now_utc();
            let logged = contact_entry(by, "contact.update", &next, &next.changed_from(&current));
            match self.replace_logged(tenant, &current, &next, Some(&logged), None).await {
                Ok(()) => return Ok((next, false)),
                Err(ContactError::Duplicate { field: "phones", .. }) => phone_taken = true,
                Err(ContactError::VersionConflict | ContactError::Duplicate { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(ContactError::VersionConflict)
    }

    /// The contact holding this phone number, if any.
    pub async fn id_by_phone(
        &self,
        tenant: &TenantId,
        phone: &Phone,
    ) -> Result<Option<ContactId>, TableError> {
        self.claimed_by(&keys::phone_claim(tenant, phone.as_str())).await
    }

    pub async fn id_by_email(
        &self,
        tenant: &TenantId,
        email: &Email,
    ) -> Result<Option<ContactId>, TableError> {
        self.claimed_by(&keys::email_claim(tenant, email.as_str())).await
    }

    async fn claimed_by(&self, key: &Key) -> Result<Option<ContactId>, TableError> {
        Ok(self
            .table
            .get(key)
            .await?
            .and_then(|item| item.get("contact_id")?.as_str().and_then(|s| ContactId::parse(s).ok())))
    }

    /// Newest first (by id), or by name for a name search. Reads pages of the most selective
    /// index until `limit` contacts match the other filters or the list ends (bounded).
    pub async fn list(
        &self,
        tenant: &TenantId,
        filter: &ContactFilter,
        scope: &RowScope,
        limit: usize,
        start_after: Option<Item>,
    ) -> Result<(Vec<Contact>, Option<Item>), TableError> {
        if let Some(phone) = &filter.phone {
            let id = self.id_by_phone(tenant, phone).await?;
            return self.single(tenant, filter, scope, id).await;
        }
        if let Some(email) = &filter.email {
            let id = self.id_by_email(tenant, email).await?;
            return self.single(tenant, filter, scope, id).await;
        }
        let (query, by_reference) = if let Some(tag) = &filter.tag {
            (Query::table(keys::tag_partition(tenant, tag)).backward(), true)
        } else if let Some(q) = filter.q.as_deref().map(keys::fold_name) {
            let query = Query::index(Index::Gsi2, keys::name_partition(tenant)).sort(SortKey::BeginsWith(q));
            (query, false)
        } else if let Some(lifecycle) = filter.lifecycle {
            (
                Query::index(Index::Gsi1, keys::lifecycle_partition(tenant, lifecycle.as_str())).backward(),
                false,
            )
        } else {
            (Query::table(keys::contacts_partition(tenant)).backward(), false)
        };
        let mut found = Vec::new();
        let mut start = start_after;
        for _ in 0..10 {
            let page =
                self.table.query(query.clone().limit(limit - found.len()).start_after(start.take())).await?;
            let contacts = if by_reference {
                self.by_reference(tenant, &page.items).await?
            } else {
                page.items
                    .into_iter()
                    .filter(personal::visible)
                    .map(from_item)
                    .collect::<Result<Vec<Contact>, _>>()?
            };
            found.extend(
                contacts.into_iter().filter(|c| filter.matches(c) && scope.owns(c.owner_id.as_ref())),
            );
            start = page.last_key;
            if found.len() >= limit || start.is_none() {
                break;
            }
        }
        Ok((found, start))
    }

    async fn single(
        &self,
        tenant: &TenantId,
        filter: &ContactFilter,
        scope: &RowScope,
        id: Option<ContactId>,
    ) -> Result<(Vec<Contact>, Option<Item>), TableError> {
        let contact = match id {
            Some(id) => self.get_in(tenant, &id, scope).await?,
            None => None,
        };
        Ok((contact.into_iter().filter(|c| filter.matches(c)).collect(), None))
    }

    /// Contacts named by companion items (`contact_id`), in the companions' order.
    async fn by_reference(&self, tenant: &TenantId, refs: &[Item]) -> Result<Vec<Contact>, TableError> {
        let ids: Vec<&str> = refs.iter().filter_map(|i| i.get("contact_id")?.as_str()).collect();
        let keys: Vec<Key> = ids.iter().map(|id| keys::contact(tenant, id)).collect();
        let mut contacts: Vec<Contact> = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            for item in self.table.batch_get(chunk).await?.into_iter().filter(personal::visible) {
                contacts.push(from_item(item)?);
            }
        }
        contacts.sort_by_key(|c| ids.iter().position(|id| *id == c.id.as_str()));
        Ok(contacts)
    }
}
