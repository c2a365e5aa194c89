//! What is held of a subject, read whole for the rights of access and portability. Of a
//! contact: the contact with its channel identities, its conversations, their messages and
//! notes, the files of those messages, and the audit entries about the contact and its
//! conversations (the subject index finds the items, the audit log's resource index the
//! entries). Of a member: their profile in the business, the businesses the user belongs
//! to, their sessions and what they did (the audit log's actor index).

use serde_json::Value;
use std::sync::Arc;

use super::audit::{AuditEntry, AuditFilter, AuditRepo};
use super::contacts::{Contact, ContactRepo};
use super::conversations::{Conversation, stored};
use super::from_item;
use super::members::{Member, MemberRepo, Membership};
use super::messages::{Message, media_file_key};
use super::personal::{self, visible};
use super::sessions::{Session, SessionRepo};
use crate::domain::{MessageKind, TenantId};
use crate::ids::{ContactId, MemberId};
use crate::ports::{Index, Item, Table, TableError};

/// Everything an export shows of one contact.
#[derive(Debug, Clone)]
pub struct Holdings {
    pub contact: Contact,
    /// Oldest first.
    pub conversations: Vec<Conversation>,
    /// Customer messages and replies, by conversation then time.
    pub messages: Vec<Message>,
    /// The business's private notes on the contact's conversations.
    pub notes: Vec<Message>,
    /// Newest first, as the log lists them.
    pub audit: Vec<AuditEntry>,
}

impl Holdings {
    /// The bucket keys of the messages' files, with the message each belongs to: where the
    /// file was kept, or where a downloaded one is (a file never downloaded has none).
    pub fn file_keys(&self, tenant: &TenantId) -> Vec<(String, String)> {
        self.messages
            .iter()
            .chain(&self.notes)
            .filter_map(|m| {
                let media = m.media.as_ref()?;
                let key = media.file_key.clone().unwrap_or_else(|| media_file_key(tenant, &m.id));
                Some((m.id.to_string(), key))
            })
            .collect()
    }
}

/// Everything an export shows of one member of the business.
#[derive(Debug, Clone)]
pub struct MemberHoldings {
    pub member: Member,
    /// Every business the user belongs to (their own list: names and roles).
    pub memberships: Vec<Membership>,
    /// Most recently seen first.
    pub sessions: Vec<Session>,
    /// What they did in this business, newest first.
    pub audit: Vec<AuditEntry>,
}

#[derive(Clone)]
pub struct HoldingsRepo {
    table: Arc<dyn Table>,
    contacts: ContactRepo,
    members: MemberRepo,
    sessions: SessionRepo,
    audit: AuditRepo,
}

/// Audit entries read per page.
const AUDIT_PAGE: usize = 200;

impl HoldingsRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            contacts: ContactRepo::new(table.clone()),
            members: MemberRepo::new(table.clone()),
            sessions: SessionRepo::new(table.clone()),
            audit: AuditRepo::new(table.clone()),
            table,
        }
    }

    /// What is held of the contact; `None` when there is no such contact (or it is being
    /// erased: a hidden contact is no one's to export).
    pub async fn of_contact(
        &self,
        tenant: &TenantId,
        id: &ContactId,
    ) -> Result<Option<Holdings>, TableError> {
        let Some(contact) = self.contacts.get(tenant, id).await? else { return Ok(None) };
        let items = personal::items_of_subject(self.table.as_ref(), tenant, id.as_str()).await?;
        let (mut conversations, mut messages, mut notes) = (Vec::new(), Vec::new(), Vec::new());
        for item in items.into_iter().filter(visible) {
            match kind(&item) {
                "CONVERSATION" => conversations.push(stored(item)?.conversation),
                "MESSAGE" => {
                    let message: Message = from_item(item)?;
                    if message.kind == MessageKind::Note {
                        notes.push(message)
                    } else {
                        messages.push(message)
                    }
                }
                _ => {}
            }
        }
        conversations.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        let order = |m: &Message| (m.conversation_id.to_string(), m.created_at, m.id.to_string());
        messages.sort_by_key(order);
        notes.sort_by_key(order);
        let mut audit = self.entries_about(tenant, id.as_str()).await?;
        for conversation in &conversations {
            audit.extend(self.entries_about(tenant, conversation.id.as_str()).await?);
        }
        audit.sort_by(|a, b| b.id.as_str().cmp(a.id.as_str()));
        audit.dedup_by(|a, b| a.id == b.id);
        Ok(Some(Holdings { contact, conversations, messages, notes, audit }))
    }

    /// What is held of the member; `None` when the business has no such member.
    pub async fn of_member(
        &self,
        tenant: &TenantId,
        id: &MemberId,
    ) -> Result<Option<MemberHoldings>, TableError> {
        let Some(member) = self.members.get_by_id(tenant, id).await? else { return Ok(None) };
        let memberships = self.members.memberships_of(&member.sub).await?;
        let sessions = self.sessions.list(tenant, id).await?;
        let filter = AuditFilter { actor: Some(id.to_string()), ..AuditFilter::default() };
        let audit = self.entries(tenant, &filter).await?;
        Ok(Some(MemberHoldings { member, memberships, sessions, audit }))
    }

    async fn entries_about(&self, tenant: &TenantId, resource: &str) -> Result<Vec<AuditEntry>, TableError> {
        let filter = AuditFilter { resource: Some(resource.to_owned()), ..AuditFilter::default() };
        self.entries(tenant, &filter).await
    }

    async fn entries(&self, tenant: &TenantId, filter: &AuditFilter) -> Result<Vec<AuditEntry>, TableError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.audit.list(tenant, filter, AUDIT_PAGE, start).await?;
            entries.extend(page);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(entries),
            }
        }
    }
}

fn kind(item: &Item) -> &str {
    let sort = item.get(Index::Subject.sort_attribute()).and_then(Value::as_str).unwrap_or_default();
    sort.split('#').next().unwrap_or_default()
}
