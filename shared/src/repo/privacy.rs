//! Privacy requests (ARCO rights, portability, deactivation): what was asked, for whom, by
//! when, and how it ended. One open request per kind and subject: filing the same again
//! answers the open one.
//!
//! Keys: `pk = {tenant}#PRIVACY`, `sk = {request id}`; the open claim
//! `pk = {tenant}#PRIVACY_OPEN`, `sk = {kind}#{subject}`, written with the request and
//! deleted when it ends. A request is personal data of its subject (subject index).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::privacy as keys;
use super::{from_item, personal, to_item};
use crate::domain::TenantId;
use crate::ids::{ContactId, MemberId, PrivacyRequestId};
use crate::ports::{Condition, Item, Query, SortKey, Table, TableError, TxOp, Update};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Access,
    Rectification,
    Cancellation,
    Opposition,
    Portability,
    Deactivation,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Rectification => "rectification",
            Kind::Cancellation => "cancellation",
            Kind::Opposition => "opposition",
            Kind::Portability => "portability",
            Kind::Deactivation => "deactivation",
        }
    }

    /// How long the business has: a cancellation is done within 72 hours (the privacy
    /// policy's promise); the other rights are answered within 20 days (LFPDPPP, art. 32).
    pub fn deadline(self) -> time::Duration {
        match self {
            Kind::Cancellation => time::Duration::hours(72),
            _ => time::Duration::days(20),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    InProgress,
    Completed,
    Rejected,
}

/// Whom a request is about, as resolved when it was filed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub contact_id: Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub member_id: Option<MemberId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub account: bool,
    /// What a completed erasure keeps of the contact it erased: a keyed digest of its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id_hash: Option<String>,
    /// What a completed erasure keeps of the member it erased: a keyed digest of its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id_hash: Option<String>,
}

impl Status {
    /// Not ended yet: received, or under way.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Received | Status::InProgress)
    }
}

impl Subject {
    /// The subject's id: the contact, the member, or `account`.
    pub fn key(&self) -> String {
        match (&self.contact_id, &self.member_id) {
            (Some(contact), _) => contact.to_string(),
            (None, Some(member)) => member.to_string(),
            (None, None) => "account".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrivacyRequest {
    #[schema(value_type = String, example = "prq_01JD5Z8Q9X7V4B3N2M1K0H9G8F")]
    pub id: PrivacyRequestId,
    pub kind: Kind,
    pub subject: Subject,
    /// What the kind takes: opposition `{"restrictions": [...]}`, rectification
    /// `{"fields": {...}}`.
    #[schema(value_type = Object)]
    pub details: Value,
    pub status: Status,
    /// Who filed it.
    #[schema(value_type = String)]
    pub filed_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub deadline_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    /// How it ended: `counts` of what changed, or why it was rejected.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

/// What filing found.
#[derive(Debug, Clone, PartialEq)]
pub enum Filed {
    New(PrivacyRequest),
    /// An open request of the same kind for the same subject: that one.
    Open(PrivacyRequest),
}

/// Where the item keeps the request's `subject`: that attribute name is the subject index's.
const ABOUT: &str = "about";

fn request_item(tenant: &TenantId, request: &PrivacyRequest) -> Result<Item, TableError> {
    let mut item = to_item(request)?;
    if let Some(subject) = item.remove("subject") {
        item.insert(ABOUT.into(), subject);
    }
    let key = keys::request(tenant, request.id.as_str());
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    personal::mark(&mut item, tenant, &request.subject.key(), "PRIVACY");
    Ok(item)
}

fn request_of(mut item: Item) -> Result<PrivacyRequest, TableError> {
    if let Some(subject) = item.remove(ABOUT) {
        item.insert("subject".into(), subject);
    }
    from_item(item)
}

fn open_item(tenant: &TenantId, request: &PrivacyRequest) -> Item {
    let key = keys::open(tenant, request.kind.as_str(), &request.subject.key());
    let mut item = Item::from_iter([
        ("pk".to_owned(), key.pk.into()),
        ("sk".to_owned(), key.sk.into()),
        ("request_id".to_owned(), request.id.as_str().into()),
    ]);
    // It names the subject: erasing the subject's items takes it too.
    personal::mark(&mut item, tenant, &request.subject.key(), "PRIVACY_OPEN");
    item
}

#[derive(Clone)]
pub struct PrivacyRepo {
    table: Arc<dyn Table>,
}

impl PrivacyRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Files `request` unless one of its kind is open for its subject (then that one).
    pub async fn file(&self, tenant: &TenantId, request: &PrivacyRequest) -> Result<Filed, TableError> {
        self.file_with(tenant, request, Vec::new()).await
    }

    /// [`Self::file`], with `accepted` (what accepting the request changes at once) in the
    /// same transaction: `ConditionFailed` when one of those failed its condition.
    pub async fn file_with(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        accepted: Vec<TxOp>,
    ) -> Result<Filed, TableError> {
        let open = keys::open(tenant, request.kind.as_str(), &request.subject.key());
        for _ in 0..3 {
            let mut ops = vec![
                TxOp::Put { item: open_item(tenant, request), condition: Some(Condition::NotExists) },
                TxOp::Put { item: request_item(tenant, request)?, condition: Some(Condition::NotExists) },
            ];
            ops.extend(accepted.iter().cloned());
            match self.table.transact(ops).await {
                Ok(()) => return Ok(Filed::New(request.clone())),
                Err(TableError::TransactionCanceled { failed })
                    if !failed.first().copied().unwrap_or(false) && failed.iter().skip(2).any(|f| *f) =>
                {
                    return Err(TableError::ConditionFailed);
                }
                Err(TableError::TransactionCanceled { failed })
                    if failed.first().copied().unwrap_or(false) =>
                {
                    let claim = self.table.get(&open).await?;
                    let Some(id) =
                        claim.as_ref().and_then(|c| c.get("request_id")?.as_str().map(str::to_owned))
                    else {
                        // Ended meanwhile: file again.
                        continue;
                    };
                    match self.get(tenant, &id).await? {
                        Some(existing) if existing.status.is_open() => {
                            return Ok(Filed::Open(existing));
                        }
                        // A claim its request left behind (ended, or gone with its subject):
                        // cleared, unless it changed meanwhile, and filed again.
                        _ => {
                            let same = Condition::Equals("request_id".into(), Value::from(id.as_str()));
                            match self.table.delete(&open, Some(same)).await {
                                Ok(_) | Err(TableError::ConditionFailed) => continue,
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(TableError::Backend("the subject's open requests keep changing".into()))
    }

    /// The request's own items: itself and its open claim.
    pub fn own_keys(tenant: &TenantId, request: &PrivacyRequest) -> [crate::ports::Key; 2] {
        [
            keys::request(tenant, request.id.as_str()),
            keys::open(tenant, request.kind.as_str(), &request.subject.key()),
        ]
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<PrivacyRequest>, TableError> {
        self.table.get(&keys::request(tenant, id)).await?.map(request_of).transpose()
    }

    /// The condition a change made for `request` carries: the request is still open, so a
    /// job delivered again after it ended changes nothing.
    pub fn still_open(tenant: &TenantId, request: &PrivacyRequest) -> TxOp {
        TxOp::Check {
            key: keys::request(tenant, request.id.as_str()),
            condition: Condition::Equals("status".into(), serde_json::json!("received")),
        }
    }

    /// The business's open requests (those not ended), up to `most`.
    pub async fn open(&self, tenant: &TenantId, most: usize) -> Result<Vec<PrivacyRequest>, TableError> {
        let claims = self.table.query(Query::table(keys::open_partition(tenant)).limit(most)).await?;
        let wanted: Vec<_> = claims
            .items
            .iter()
            .filter_map(|claim| claim.get("request_id")?.as_str())
            .map(|id| keys::request(tenant, id))
            .collect();
        // The requests in batches of 100 (BatchGetItem's most), not one read each.
        let mut open = Vec::new();
        for chunk in wanted.chunks(100) {
            for item in self.table.batch_get(chunk).await? {
                let request = request_of(item)?;
                if request.status.is_open() {
                    open.push(request);
                }
            }
        }
        Ok(open)
    }

    /// Newest first, a page of `limit` after `start_after`.
    pub async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        start_after: Option<Item>,
    ) -> Result<(Vec<PrivacyRequest>, Option<Item>), TableError> {
        let page = self
            .table
            .query(
                Query::table(keys::requests_partition(tenant))
                    .sort(SortKey::BeginsWith("prq_".into()))
                    .backward()
                    .limit(limit)
                    .start_after(start_after),
            )
            .await?;
        let requests = page.items.into_iter().map(request_of).collect::<Result<Vec<_>, _>>()?;
        Ok((requests, page.last_key))
    }

    /// Ends the request (`completed` or `rejected`) with its result, and frees its subject
    /// for a new one of its kind; an ended request is left as it ended. `ops` join the
    /// transaction (the change the request made, its audit entry), so the change and its
    /// record are one.
    pub async fn end(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        status: Status,
        result: Value,
        at: OffsetDateTime,
        ops: Vec<TxOp>,
    ) -> Result<bool, TableError> {
        let update = ended(status, result, at)?;
        self.finish(tenant, request, Status::Received, update, ops).await
    }

    /// Marks an erasure under way with what it found (`counts`, the proof), unless another
    /// run did first: the request as it is now.
    pub async fn start(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        result: Value,
    ) -> Result<Option<PrivacyRequest>, TableError> {
        let update = Update::default().set("status", status_value(Status::InProgress)?).set("result", result);
        let key = keys::request(tenant, request.id.as_str());
        match self
            .table
            .update(&key, update, Some(Condition::Equals("status".into(), status_value(Status::Received)?)))
            .await
        {
            Ok(item) => request_of(item).map(Some),
            Err(TableError::ConditionFailed) => self.get(tenant, request.id.as_str()).await,
            Err(e) => Err(e),
        }
    }

    /// Completes an erasure under way: the request keeps of its subject only `subject_hash`
    /// and leaves the subject index, with `ops` (the subject's last items) in the same
    /// transaction. `false` when it had ended already.
    pub async fn complete_erasure(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        about: Subject,
        at: OffsetDateTime,
        ops: Vec<TxOp>,
    ) -> Result<bool, TableError> {
        let result = request.result.clone().unwrap_or(Value::Null);
        let update = ended(Status::Completed, result, at)?
            .set(ABOUT, serde_json::to_value(about).map_err(|e| TableError::Invalid(e.to_string()))?)
            .remove(crate::ports::Index::Subject.partition_attribute())
            .remove(crate::ports::Index::Subject.sort_attribute());
        self.finish(tenant, request, Status::InProgress, update, ops).await
    }

    /// Writes the request as given, whatever is stored: how a restore from a backup
    /// re-applies an erasure completed after the backup's moment (`in_progress` again, its
    /// subject named, for the eraser to finish).
    pub async fn put_as(&self, tenant: &TenantId, request: &PrivacyRequest) -> Result<(), TableError> {
        self.table.put(request_item(tenant, request)?, None).await
    }

    /// Completes a request under way (`in_progress`) with the result its start recorded, and
    /// `ops` in the same transaction; `false` when it was not under way any more.
    pub async fn complete(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        at: OffsetDateTime,
        ops: Vec<TxOp>,
    ) -> Result<bool, TableError> {
        let result = request.result.clone().unwrap_or(Value::Null);
        let update = ended(Status::Completed, result, at)?;
        self.finish(tenant, request, Status::InProgress, update, ops).await
    }

    async fn finish(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        from: Status,
        update: Update,
        ops: Vec<TxOp>,
    ) -> Result<bool, TableError> {
        let mut all = vec![
            TxOp::Update {
                key: keys::request(tenant, request.id.as_str()),
                update,
                condition: Some(Condition::Equals("status".into(), status_value(from)?)),
            },
            TxOp::Delete {
                key: keys::open(tenant, request.kind.as_str(), &request.subject.key()),
                condition: None,
            },
        ];
        all.extend(ops);
        match self.table.transact(all).await {
            Ok(()) => Ok(true),
            Err(TableError::TransactionCanceled { failed }) if failed.first().copied().unwrap_or(false) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

fn status_value(status: Status) -> Result<Value, TableError> {
    serde_json::to_value(status).map_err(|e| TableError::Invalid(e.to_string()))
}

fn ended(status: Status, result: Value, at: OffsetDateTime) -> Result<Update, TableError> {
    Ok(Update::default()
        .set("status", status_value(status)?)
        .set("result", result)
        .set("completed_at", super::conversations::rfc3339(at)?))
}
