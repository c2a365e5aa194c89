//! Carrying out a contact's cancellation, for the worker and for the hourly sweep (which
//! finishes one whose job never came, and checks completed ones again).
//!
//! A run: hide again (the filing did; a crash may have stopped it half-way), survey what the
//! subject index holds, record the counts on the request (`in_progress`, once: a later run
//! keeps the first run's proof), delete, and complete the request in one transaction with the
//! contact's own item. Every step is repeatable, so a crash anywhere, a redelivered job or two
//! runs at once end the same.

use gestor_shared::domain::TenantId;
use gestor_shared::ids::ContactId;
use gestor_shared::ports::TableError;
use gestor_shared::ports::{Condition, Files, Table, TxOp};
use gestor_shared::repo::audit::{Actor, AuditEntry, AuditRepo, Resource};
use gestor_shared::repo::contacts::{ContactError, ContactRepo};
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::erasure::{self, Check, Erasure, ErasureError};
use gestor_shared::repo::partial_erasure::{self, Part};
use gestor_shared::repo::personal::ERASING;
use gestor_shared::repo::privacy::{PrivacyRepo, PrivacyRequest, Status, Subject};
use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Clone)]
pub struct Eraser {
    pub(crate) table: Arc<dyn Table>,
    pub(crate) files: Arc<dyn Files>,
    pub(crate) requests: PrivacyRepo,
    pub(crate) erasure: Erasure,
}

/// How a run left the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erased {
    /// Completed, by this run or an earlier one.
    Completed,
    /// Ended otherwise meanwhile: nothing done.
    Gone,
}

impl Eraser {
    pub fn new(table: Arc<dyn Table>, files: Arc<dyn Files>, ids: ErasedIds) -> Self {
        Self {
            requests: PrivacyRepo::new(table.clone()),
            erasure: Erasure::new(table.clone(), files.clone(), ids),
            files,
            table,
        }
    }

    /// How a run that could not end the request left it: completed by another run
    /// meanwhile, or ended otherwise.
    pub(crate) async fn as_it_stands(&self, tenant: &TenantId, id: &str) -> Result<Erased, ErasureError> {
        Ok(match self.requests.get(tenant, id).await? {
            Some(r) if r.status == Status::Completed => Erased::Completed,
            _ => Erased::Gone,
        })
    }

    /// The writes that complete an erasure besides the request's own: the check the sweep
    /// keeps until the deadline, and the log entry, under the request (the log outlives the
    /// subject and must not name them).
    pub(crate) fn completion_ops(
        tenant: &TenantId,
        request: &PrivacyRequest,
        subject_id: &str,
    ) -> Result<Vec<TxOp>, ErasureError> {
        let id = request.id.as_str();
        let check = Check {
            request_id: id.to_owned(),
            subject_id: subject_id.to_owned(),
            until: request.deadline_at,
        };
        let logged = AuditEntry::by(
            Actor::system("privacy-worker"),
            "privacy_request.complete",
            Resource { kind: "privacy_request".into(), id: Some(id.to_owned()) },
            &[],
        );
        Ok(vec![erasure::check_op(tenant, &check), AuditRepo::record_op(tenant, &logged)?])
    }

    /// Erases the request's contact and completes the request.
    pub async fn erase_contact(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        now: OffsetDateTime,
    ) -> Result<Erased, ErasureError> {
        if request.subject.member_id.is_some() {
            return self.erase_member(tenant, request, now).await;
        }
        let Some(contact_id) = request.subject.contact_id.as_ref().map(|c| c.as_str()) else {
            return Ok(Erased::Gone);
        };
        let id = request.id.as_str();
        if !request.status.is_open() {
            return Ok(Erased::Completed);
        }
        if let Some(part) = Part::of(&request.details) {
            return self.erase_part(tenant, request, contact_id, &part, now).await;
        }
        let contact = self.erasure.erasing_contact(tenant, contact_id, id).await?;
        erasure::hide_rest(self.table.as_ref(), tenant, contact_id, id).await?;
        // Updates parked before the contact existed are the channel identity's.
        let identities: Vec<String> = contact
            .iter()
            .flat_map(|c| c.identities.iter().map(|i| format!("{}:{}", i.channel, i.external_id)))
            .collect();
        let contact_key = erasure::contact_key(tenant, contact_id);
        let [own, claim] = PrivacyRepo::own_keys(tenant, request);
        let keep = [contact_key.clone(), own, claim];
        // What the raw deliveries would name them by: the channel ids, phones (as WhatsApp
        // writes them, digits only) and emails.
        let mut named: Vec<String> = Vec::new();
        if let Some(c) = &contact {
            named.extend(c.identities.iter().map(|i| i.external_id.clone()));
            named.extend(c.phones.iter().map(|p| p.as_str().trim_start_matches('+').to_owned()));
            named.extend(c.emails.iter().map(|e| e.as_str().to_owned()));
        }
        let found = self.erasure.survey(tenant, contact_id, &identities, &named, &keep).await?;
        let request = match request.status {
            Status::Received => {
                let mut counts = found.counts();
                counts.insert("contacts".into(), u64::from(contact.is_some()));
                // The filing deleted the claims already, when it hid the contact.
                let claims = contact.as_ref().map_or(0, |c| c.companion_items() as u64);
                let found_claims = counts.entry("contact_claims".into()).or_default();
                *found_claims = (*found_claims).max(claims);
                match self.requests.start(tenant, request, json!({"counts": counts})).await? {
                    Some(now) if now.status == Status::InProgress => now,
                    Some(now) if now.status == Status::Completed => return Ok(Erased::Completed),
                    _ => return Ok(Erased::Gone),
                }
            }
            _ => request.clone(),
        };
        self.erasure.erase(tenant, &found, id, now).await?;
        let hash = self.erasure.ids().subject(tenant, contact_id);
        let mut ops = Self::completion_ops(tenant, &request, contact_id)?;
        if contact.is_some() {
            // Only while this request holds it: a crash after the delete and a rerun find none.
            ops.push(TxOp::Delete {
                key: contact_key,
                condition: Some(Condition::Equals(ERASING.into(), id.into())),
            });
        }
        let about = Subject { contact_id_hash: Some(hash), ..Subject::default() };
        if self.requests.complete_erasure(tenant, &request, about, now, ops).await? {
            return Ok(Erased::Completed);
        }
        // Completed by another run meanwhile, or ended otherwise.
        self.as_it_stands(tenant, id).await
    }

    /// A partial cancellation: hide again what it covers (the filing did), survey it, record
    /// the counts (once), erase it, empty the chosen fields, and complete the request. The
    /// contact stays, and so does the request's subject.
    async fn erase_part(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        contact_id: &str,
        part: &Part,
        now: OffsetDateTime,
    ) -> Result<Erased, ErasureError> {
        let id = request.id.as_str();
        let table = self.table.as_ref();
        let items = partial_erasure::items_of_part(table, tenant, contact_id, part).await?;
        partial_erasure::hide(table, tenant, part, &items, id).await?;
        if let Part::Media(_) = part {
            return self.erase_media(tenant, request, &items, now).await;
        }
        let found = partial_erasure::survey(&self.erasure, tenant, items).await?;
        let contacts = ContactRepo::new(self.table.clone());
        let contact_id = ContactId::parse(contact_id).map_err(|e| TableError::Invalid(e.to_string()))?;
        let request = match request.status {
            Status::Received => {
                let mut counts = found.counts();
                counts.retain(|name, n| *n > 0 || name == "erased_message_ids");
                let current = contacts.get(tenant, &contact_id).await?;
                let fields = current.as_ref().map(|c| part.emptied(c).1).unwrap_or_default();
                if matches!(part, Part::Fields(_)) {
                    counts.insert("fields".into(), fields.len() as u64);
                }
                match self
                    .requests
                    .start(tenant, request, json!({"counts": counts, "fields": fields}))
                    .await?
                {
                    Some(now) if now.status == Status::InProgress => now,
                    Some(now) if now.status == Status::Completed => return Ok(Erased::Completed),
                    _ => return Ok(Erased::Gone),
                }
            }
            _ => request.clone(),
        };
        self.erasure.erase(tenant, &found, id, now).await?;
        for _ in 0..5 {
            let Some(current) = contacts.get(tenant, &contact_id).await? else { break };
            let (next, changed) = part.emptied(&current);
            if changed.is_empty() {
                break;
            }
            let mut next = next;
            next.version = current.version + 1;
            next.updated_at = now;
            let logged = AuditEntry::by(
                Actor::system("privacy-worker"),
                "contact.update",
                Resource { kind: "contact".into(), id: Some(contact_id.to_string()) },
                &changed,
            );
            match contacts.replace_logged(tenant, &current, &next, Some(&logged), None).await {
                Ok(()) => break,
                // Changed meanwhile: read it again.
                Err(ContactError::VersionConflict) => continue,
                Err(ContactError::Table(e)) => return Err(e.into()),
                Err(other) => return Err(TableError::Invalid(other.to_string()).into()),
            }
        }
        if self.requests.complete(tenant, &request, now, vec![]).await? {
            return Ok(Erased::Completed);
        }
        self.as_it_stands(tenant, id).await
    }

    /// The media of the chosen messages (taken off them already): their files, and the raw
    /// deliveries naming those messages, deleted; the messages stay with their text.
    async fn erase_media(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        messages: &[gestor_shared::ports::Item],
        now: OffsetDateTime,
    ) -> Result<Erased, ErasureError> {
        let text = |item: &gestor_shared::ports::Item, name: &str| {
            item.get(name).and_then(serde_json::Value::as_str).map(str::to_owned)
        };
        let ids: Vec<String> = messages.iter().filter_map(|m| text(m, "id")).collect();
        let named: Vec<String> = messages.iter().filter_map(|m| text(m, "channel_message_id")).collect();
        let mut files: Vec<String> = ids
            .iter()
            .filter_map(|id| gestor_shared::ids::MessageId::parse(id).ok())
            .map(|id| gestor_shared::repo::messages::media_file_key(tenant, &id))
            .collect();
        files.extend(self.erasure.payloads_naming(tenant, &named).await?);
        let request = match request.status {
            Status::Received => {
                let counts = json!({"media": ids.len()});
                match self.requests.start(tenant, request, json!({"counts": counts})).await? {
                    Some(started) if started.status == Status::InProgress => started,
                    Some(started) if started.status == Status::Completed => return Ok(Erased::Completed),
                    _ => return Ok(Erased::Gone),
                }
            }
            _ => request.clone(),
        };
        for file in &files {
            self.files.delete(file).await?;
        }
        if self.requests.complete(tenant, &request, now, vec![]).await? {
            return Ok(Erased::Completed);
        }
        self.as_it_stands(tenant, request.id.as_str()).await
    }

    /// Checks a completed erasure again: whatever the subject index holds of the subject now
    /// (an item type that forgot the index would show in the canary test instead) is erased
    /// too. The number of items found.
    pub async fn verify(
        &self,
        tenant: &TenantId,
        check: &Check,
        now: OffsetDateTime,
    ) -> Result<usize, ErasureError> {
        let found = self.erasure.survey(tenant, &check.subject_id, &[], &[], &[]).await?;
        // A request filed since for the same id (answered, or refused as not found) is
        // the business's record of it, not the subject's data; a member's erasure marker
        // stays for these checks until the deadline.
        let found = found.without_kinds(&["PRIVACY", "PRIVACY_OPEN", "MEMBER_ERASURE"]);
        let residue_records = self.forget_answers(tenant, &check.request_id).await?;
        if found.is_empty() {
            return Ok(residue_records);
        }
        let residue = found
            .counts()
            .into_iter()
            .filter(|(name, _)| name != "erased_message_ids")
            .map(|(_, n)| n)
            .sum::<u64>();
        self.erasure.erase(tenant, &found, &check.request_id, now).await?;
        Ok(residue as usize + residue_records)
    }
}
