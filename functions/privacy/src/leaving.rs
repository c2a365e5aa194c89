//! Carrying out a member's cancellation (`gestor_shared::repo::member_erasure`): off the
//! roster (the filing did it; again here in case it stopped half-way), then everything of
//! theirs the subject index holds erased (their profile, sessions, accepted invite, other
//! requests about them and those requests' exports) and their activity log entries struck
//! of their IP and browser, then their idempotency records by their sign-in id, and the
//! request completed with the counts, keeping a digest of the member's id only.

use gestor_shared::domain::TenantId;
use gestor_shared::repo::erasure::ErasureError;
use gestor_shared::repo::member_erasure;
use gestor_shared::repo::members::{MemberRepo, RosterError};
use gestor_shared::repo::privacy::{PrivacyRepo, PrivacyRequest, Status, Subject};
use serde_json::json;
use time::OffsetDateTime;

use crate::erasing::{Erased, Eraser};

impl Eraser {
    /// Erases the request's member and completes the request.
    pub async fn erase_member(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        now: OffsetDateTime,
    ) -> Result<Erased, ErasureError> {
        let Some(member_id) = request.subject.member_id.as_ref() else { return Ok(Erased::Gone) };
        let id = request.id.as_str();
        let table = self.table.as_ref();
        match MemberRepo::new(self.table.clone()).remove(tenant, member_id).await {
            Ok(_) | Err(RosterError::NotFound) => {}
            Err(RosterError::LastOwner) if request.status == Status::Received => {
                let reason = "the business would have no owner left: give another member the owner role, then file again";
                self.requests
                    .end(tenant, request, Status::Rejected, json!({"reason": reason}), now, vec![])
                    .await?;
                return Ok(Erased::Gone);
            }
            Err(RosterError::Table(e)) => return Err(e.into()),
            Err(other) => return Err(gestor_shared::ports::TableError::Backend(other.to_string()).into()),
        }
        let [own, claim] = PrivacyRepo::own_keys(tenant, request);
        let marker = member_erasure::marker_key(tenant, id);
        let found = self.erasure.survey(tenant, member_id.as_str(), &[], &[], &[own, claim, marker]).await?;
        let request = match request.status {
            Status::Received => {
                let sub = member_erasure::marked_sub(table, tenant, id).await?;
                let answers = match &sub {
                    Some(sub) => member_erasure::idempotency_records(table, tenant, sub).await?.len(),
                    None => 0,
                };
                let mut counts = found.counts();
                counts.insert("idempotency_records".into(), answers as u64);
                // Taken off the roster: by the filing, or just now.
                counts.insert("members".into(), 1);
                match self.requests.start(tenant, request, json!({"counts": counts})).await? {
                    Some(now) if now.status == Status::InProgress => now,
                    Some(now) if now.status == Status::Completed => return Ok(Erased::Completed),
                    _ => return Ok(Erased::Gone),
                }
            }
            _ => request.clone(),
        };
        self.forget_answers(tenant, id).await?;
        self.erasure.erase(tenant, &found, id, now).await?;
        let mut ops = Self::completion_ops(tenant, &request, member_id.as_str())?;
        if let Some(sub) = member_erasure::marked_sub(table, tenant, id).await? {
            // In case the roster's removal never ran: the user's way into the business.
            ops.push(member_erasure::membership_delete_op(tenant, &sub));
        }
        let about = Subject {
            member_id_hash: Some(self.erasure.ids().subject(tenant, member_id.as_str())),
            ..Subject::default()
        };
        if self.requests.complete_erasure(tenant, &request, about, now, ops).await? {
            return Ok(Erased::Completed);
        }
        self.as_it_stands(tenant, id).await
    }

    /// Deletes the idempotency records of the member a request erases, by the sign-in id its
    /// marker keeps (none for a contact's request): the number deleted.
    pub(crate) async fn forget_answers(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<usize, ErasureError> {
        let table = self.table.as_ref();
        let Some(sub) = member_erasure::marked_sub(table, tenant, request_id).await? else { return Ok(0) };
        let records = member_erasure::idempotency_records(table, tenant, &sub).await?;
        table.batch_delete(&records).await?;
        Ok(records.len())
    }
}
