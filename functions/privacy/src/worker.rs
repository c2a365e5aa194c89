//! The `privacy-worker`: carries out the requests filed, one job per request from the
//! privacy queue. Idempotent: a request is done once however often its job comes (a redelivery,
//! two workers at once, a crash half-way all end the same), since each step reads what is
//! stored and the request ends conditional on being still open.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use gestor_shared::backend::Backend;
use gestor_shared::deactivation::{Deactivated, deactivate};
use gestor_shared::domain::{Email, Phone, TenantId};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::ports::{Files, TableError};
use gestor_shared::registry::StartError;
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::erasure::ErasureError;
use gestor_shared::repo::holdings::HoldingsRepo;
use gestor_shared::resources::{EXPORT_TAG, EXPORTS_EXPIRE_DAYS, export_key};
use std::sync::Arc;

use crate::closing::Integrations;
use crate::erasing::Eraser;
use gestor_shared::repo::audit::AuditRepo;
use gestor_shared::repo::audit::{Actor, AuditEntry, Resource};
use gestor_shared::repo::channels::ChannelError;
use gestor_shared::repo::contacts::{Contact, ContactError, ContactRepo};
use gestor_shared::repo::members::MemberRepo;
use gestor_shared::repo::privacy::{Kind, PrivacyRepo, PrivacyRequest, Status};
use gestor_shared::settings::Settings;
use gestor_shared::worker::{Consumer, retry};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument;

/// What a contact can oppose.
pub const RESTRICTIONS: [&str; 4] = ["marketing", "automation", "ai", "all_processing"];
/// What a rectification corrects.
pub const RECTIFIABLE: [&str; 3] = ["name", "phones", "emails"];

/// Tries at a contact changing under the worker.
const TRIES: usize = 5;

/// One request to carry out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub tenant_id: String,
    pub request_id: String,
}

pub struct PrivacyWorker {
    requests: PrivacyRepo,
    holdings: HoldingsRepo,
    files: Arc<dyn Files>,
    eraser: Eraser,
    contacts: ContactRepo,
    integrations: Integrations,
    members: MemberRepo,
    audit: AuditRepo,
}

/// How a request ended.
enum Ended {
    Completed(Value),
    Rejected(String),
}

impl PrivacyWorker {
    /// The worker, with its token cipher and Graph client built once per cold start.
    pub fn new(backend: &Backend, settings: &Settings) -> Result<Self, StartError> {
        let table = backend.table.clone();
        Ok(Self {
            eraser: Eraser::new(table.clone(), backend.files.clone(), ErasedIds::from_settings(settings)?),
            requests: PrivacyRepo::new(table.clone()),
            holdings: HoldingsRepo::new(table.clone()),
            files: backend.files.clone(),
            contacts: ContactRepo::new(table.clone()),
            integrations: Integrations::new(table.clone(), settings)?,
            members: MemberRepo::new(table.clone()),
            audit: AuditRepo::new(table),
        })
    }

    /// Carries out the job's request; `Err` to have it delivered again.
    pub async fn carry_out(&self, job: &Job) -> Result<(), TableError> {
        let Ok(tenant) = TenantId::parse(&job.tenant_id) else { return Ok(()) };
        let Some(request) = self.requests.get(&tenant, &job.request_id).await? else { return Ok(()) };
        if request.kind == Kind::Cancellation && request.status.is_open() {
            let now = time::OffsetDateTime::now_utc();
            let erased = match request.subject.account {
                true => self.eraser.erase_account(&tenant, &request, &self.integrations, now).await,
                false => self.eraser.erase_contact(&tenant, &request, now).await,
            };
            let erased = erased.map_err(|e| match e {
                ErasureError::Table(e) => e,
                other => TableError::Backend(other.to_string()),
            })?;
            tracing::info!(tenant = %tenant, kind = "cancellation", erased = ?erased, "privacy request carried out");
            return Ok(());
        }
        if request.status != Status::Received {
            return Ok(());
        }
        let ended = match (request.kind, &request.subject.contact_id) {
            (Kind::Opposition | Kind::Rectification, Some(contact)) => {
                match self.change_contact(&tenant, &request, contact).await? {
                    Some(ended) => ended,
                    // Another delivery of the job ended it meanwhile.
                    None => return Ok(()),
                }
            }
            (Kind::Access | Kind::Portability, _) if !request.subject.account => {
                self.export(&tenant, &request).await?
            }
            (Kind::Deactivation, None) if request.subject.account => {
                self.deactivate(&tenant, &request).await?
            }
            (Kind::Rectification, None) if request.subject.member_id.is_some() => {
                self.rename_member(&tenant, &request).await?
            }
            // Refused when filed; a request from a later version, read by this one, waits.
            _ => return Err(TableError::Invalid("a kind this worker does not carry out".into())),
        };
        let (status, result) = match ended {
            Ended::Completed(result) => (Status::Completed, result),
            Ended::Rejected(reason) => (Status::Rejected, json!({"reason": reason})),
        };
        let now = time::OffsetDateTime::now_utc();
        self.requests.end(&tenant, &request, status, result, now, vec![]).await?;
        tracing::info!(tenant = %tenant, kind = request.kind.as_str(), status = ?status, "privacy request carried out");
        Ok(())
    }

    /// Access and portability: the archive of everything held of the contact or member,
    /// kept tagged for the bucket's expiry rule; the result links to the route that signs a
    /// download. A redelivery before the request ended builds it again over the first.
    async fn export(&self, tenant: &TenantId, request: &PrivacyRequest) -> Result<Ended, TableError> {
        let now = time::OffsetDateTime::now_utc();
        let (id, kind) = (request.id.as_str(), request.kind.as_str());
        let failed = |e: crate::export::ExportError| TableError::Backend(e.to_string());
        let document = if let Some(contact) = &request.subject.contact_id {
            let Some(holdings) = self.holdings.of_contact(tenant, contact).await? else {
                return Ok(Ended::Rejected("the contact no longer exists".into()));
            };
            crate::export::contact::document(tenant, id, kind, &holdings, self.files.as_ref(), now)
                .await
                .map_err(failed)?
        } else if let Some(member) = &request.subject.member_id {
            let Some(holdings) = self.holdings.of_member(tenant, member).await? else {
                return Ok(Ended::Rejected("the member is no longer in the business".into()));
            };
            crate::export::member::document(id, kind, &holdings, now).map_err(failed)?
        } else {
            return Err(TableError::Invalid("an export of the account is not carried out yet".into()));
        };
        let built = document.archive().map_err(failed)?;
        let key = export_key(tenant, id);
        self.files
            .put_tagged(&key, built.bytes, "application/zip", &[EXPORT_TAG])
            .await
            .map_err(|e| TableError::Backend(e.to_string()))?;
        let expires_at = now + time::Duration::days(i64::from(EXPORTS_EXPIRE_DAYS));
        let expires_at = expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| TableError::Invalid(e.to_string()))?;
        Ok(Ended::Completed(json!({
            "download_url": format!("/v1/privacy/requests/{id}/download"),
            "expires_at": expires_at,
            "format": "zip",
            "counts": built.counts,
        })))
    }

    /// Opposition adds the restrictions to the contact's; rectification writes the corrected
    /// fields. The change is logged as the worker's, naming the fields.
    async fn change_contact(
        &self,
        tenant: &TenantId,
        request: &PrivacyRequest,
        contact_id: &gestor_shared::ids::ContactId,
    ) -> Result<Option<Ended>, TableError> {
        for attempt in 0..TRIES {
            // The change is conditional on the request being open: a conflict may mean it
            // ended, by another delivery of the job.
            if attempt > 0
                && self
                    .requests
                    .get(tenant, request.id.as_str())
                    .await?
                    .is_none_or(|r| r.status != Status::Received)
            {
                return Ok(None);
            }
            let Some(current) = self.contacts.get(tenant, contact_id).await? else {
                return Ok(Some(Ended::Rejected("the contact no longer exists".into())));
            };
            let (next, fields) = match request.kind {
                Kind::Opposition => opposed(&current, &request.details),
                _ => rectified(&current, &request.details),
            };
            // What it changed; a redelivery after the change was stored finds it so already.
            let counts = json!({"contacts": u8::from(!fields.is_empty())});
            let result = match request.kind {
                Kind::Opposition => json!({"restrictions": next.restrictions, "counts": counts}),
                _ => {
                    let asked =
                        request.details["fields"].as_object().map(|f| f.keys().cloned().collect::<Vec<_>>());
                    json!({"fields": asked, "counts": counts})
                }
            };
            if fields.is_empty() {
                return Ok(Some(Ended::Completed(result)));
            }
            let logged = AuditEntry::by(
                Actor::system("privacy-worker"),
                "contact.update",
                Resource { kind: "contact".into(), id: Some(contact_id.to_string()) },
                &fields,
            );
            let mut next = next;
            next.version = current.version + 1;
            next.updated_at = time::OffsetDateTime::now_utc();
            let open = PrivacyRepo::still_open(tenant, request);
            match self.contacts.replace_logged(tenant, &current, &next, Some(&logged), Some(open)).await {
                Ok(()) => return Ok(Some(Ended::Completed(result))),
                Err(ContactError::VersionConflict) => continue,
                Err(ContactError::Duplicate { field, .. }) => {
                    return Ok(Some(Ended::Rejected(format!(
                        "another contact of the business already has one of these {field}"
                    ))));
                }
                Err(ContactError::NotFound) => {
                    return Ok(Some(Ended::Rejected("the contact no longer exists".into())));
                }
                Err(ContactError::Table(e)) => return Err(e),
            }
        }
        Err(TableError::Backend("the contact keeps changing".into()))
    }
}

impl PrivacyWorker {
    /// Deactivates each channel named, as the channels API does (tokens deleted, the app
    /// unsubscribed where no other account needs it, later webhooks dropped), each logged as
    /// the worker's. Deactivating an inactive account again changes nothing.
    async fn deactivate(&self, tenant: &TenantId, request: &PrivacyRequest) -> Result<Ended, TableError> {
        let mut deactivated = 0u32;
        let mut missing = Vec::new();
        for raw in request.details["channel_ids"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let Ok(id) = ChannelAccountId::parse(raw) else { continue };
            let Integrations { channels, graph, cipher } = &self.integrations;
            let changed = deactivate(channels, graph, cipher, tenant, &id).await.map_err(|e| match e {
                ChannelError::Table(e) => e,
                other => TableError::Backend(other.to_string()),
            })?;
            let Some(Deactivated { was_active, changed }) = changed else {
                missing.push(raw.to_owned());
                continue;
            };
            if was_active {
                deactivated += 1;
                let fields: Vec<&str> = changed.iter().map(String::as_str).collect();
                let logged = AuditEntry::by(
                    Actor::system("privacy-worker"),
                    "channel.deactivate",
                    Resource { kind: "channel".into(), id: Some(raw.to_owned()) },
                    &fields,
                );
                self.audit.record(tenant, &logged).await?;
            }
        }
        Ok(Ended::Completed(json!({"counts": {"channels": deactivated}, "not_found": missing})))
    }
}

impl PrivacyWorker {
    /// A member's rectification: their name as corrected, logged as the worker's, conditional on
    /// the request being still open (a redelivery after it ended changes nothing).
    async fn rename_member(&self, tenant: &TenantId, request: &PrivacyRequest) -> Result<Ended, TableError> {
        let Some(id) = &request.subject.member_id else {
            return Err(TableError::Invalid("no member".into()));
        };
        let Some(member) = self.members.get_by_id(tenant, id).await? else {
            return Ok(Ended::Rejected("the member is no longer in the business".into()));
        };
        let name = request.details["fields"]["name"].as_str().unwrap_or_default().trim().to_owned();
        let result = |changed: u8| json!({"fields": ["name"], "counts": {"members": changed}});
        if name.is_empty() || member.name == name {
            return Ok(Ended::Completed(result(0)));
        }
        let logged = AuditEntry::by(
            Actor::system("privacy-worker"),
            "member.update",
            Resource { kind: "member".into(), id: Some(id.to_string()) },
            &["name"],
        );
        let ops = vec![
            MemberRepo::rename_op(tenant, &member, &name),
            gestor_shared::repo::audit::AuditRepo::record_op(tenant, &logged)?,
            PrivacyRepo::still_open(tenant, request),
        ];
        self.eraser.table.transact(ops).await?;
        Ok(Ended::Completed(result(1)))
    }
}

/// The contact with the request's restrictions added, and the fields that changed.
fn opposed(current: &Contact, details: &Value) -> (Contact, Vec<&'static str>) {
    let mut next = current.clone();
    for restriction in details["restrictions"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if RESTRICTIONS.contains(&restriction) && !next.restrictions.iter().any(|r| r == restriction) {
            next.restrictions.push(restriction.to_owned());
        }
    }
    let fields = next.changed_from(current);
    (next, fields)
}

/// The contact with the request's corrected fields, and the fields that changed.
fn rectified(current: &Contact, details: &Value) -> (Contact, Vec<&'static str>) {
    let mut next = current.clone();
    let fields = &details["fields"];
    if let Some(name) = fields["name"].as_str() {
        next.name = Some(name.trim().to_owned());
    }
    // Each once, in the order given, as the contacts API keeps them.
    if let Some(phones) = fields["phones"].as_array() {
        next.phones = Vec::new();
        for phone in phones.iter().filter_map(Value::as_str).filter_map(|p| Phone::parse(p).ok()) {
            if !next.phones.contains(&phone) {
                next.phones.push(phone);
            }
        }
    }
    if let Some(emails) = fields["emails"].as_array() {
        next.emails = Vec::new();
        for email in emails.iter().filter_map(Value::as_str).filter_map(|e| Email::parse(e).ok()) {
            if !next.emails.contains(&email) {
                next.emails.push(email);
            }
        }
    }
    let changed = next.changed_from(current);
    (next, changed)
}

#[async_trait]
impl Consumer for PrivacyWorker {
    fn name(&self) -> &'static str {
        "privacy-worker"
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failed = Vec::new();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("privacy", function = "privacy-worker", message_id = %id);
            let body = record.body.as_deref().unwrap_or_default();
            let Ok(job) = serde_json::from_str::<Job>(body) else {
                tracing::warn!("a privacy job that does not parse; dropped");
                continue;
            };
            if let Err(e) = self.carry_out(&job).instrument(span).await {
                tracing::warn!(message_id = %id, cause = %e, "privacy request not carried out yet; it will be retried");
                failed.push(id);
            }
        }
        retry(failed)
    }
}
