//! The hourly sweep of open privacy requests: a request still open a while after it was
//! filed has its job sent again (the first was lost, or failed for good), and one whose
//! deadline is less than a day away raises the `PrivacyDeadlineAtRisk` metric (an alarm in
//! the template) and a `privacy_request.at_risk` audit entry, once per request. A stalled
//! cancellation is finished here rather than sent again, so an erasure is done within the
//! hour even when its queue is not working; a completed one is checked again every run until
//! its deadline has passed (whatever is found is erased, `PrivacyErasureResidue`). Nothing
//! here relies on TTL.

use async_trait::async_trait;
use gestor_shared::backend::Backend;
use gestor_shared::domain::TenantId;
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{OutgoingMessage, Queue, Table, TableError};
use gestor_shared::registry::StartError;
use gestor_shared::repo::account_erasure;
use gestor_shared::repo::audit::{Actor, AuditEntry, AuditRepo, Resource, window_entry_id};
use gestor_shared::repo::erased::ErasedIds;
use gestor_shared::repo::erasure;
use gestor_shared::repo::privacy::{Kind, PrivacyRepo, PrivacyRequest};
use gestor_shared::repo::tenants::TenantRepo;
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

use crate::closing::Integrations;
use crate::erasing::{Erased, Eraser};
use crate::worker::Job;

/// A request still open this long after it was filed has lost its job.
pub const STALLED_AFTER: Duration = Duration::minutes(15);
/// A request whose deadline is this close is at risk.
pub const AT_RISK_WITHIN: Duration = Duration::hours(24);
/// Open requests read per business and run.
const PER_TENANT: usize = 200;

pub struct Sweep {
    table: Arc<dyn Table>,
    eraser: Eraser,
    integrations: Integrations,
    requests: PrivacyRepo,
    tenants: TenantRepo,
    audit: AuditRepo,
    queue: Arc<dyn Queue>,
    privacy_queue: String,
    metrics: Metrics,
}

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sent_again: usize,
    pub at_risk: usize,
    /// Cancellations the sweep finished itself.
    pub erased: usize,
    /// Completed erasures checked again, and the items those checks found.
    pub verified: usize,
    pub residue: usize,
    /// Businesses or requests that failed this run (logged; the next run tries again).
    pub failed: usize,
}

impl Sweep {
    pub fn new(backend: &Backend, settings: &Settings, metrics: Metrics) -> Result<Self, StartError> {
        let table = backend.table.clone();
        Ok(Self {
            table: table.clone(),
            integrations: Integrations::new(table.clone(), settings)?,
            eraser: Eraser::new(table.clone(), backend.files.clone(), ErasedIds::from_settings(settings)?),
            requests: PrivacyRepo::new(table.clone()),
            tenants: TenantRepo::new(table.clone()),
            audit: AuditRepo::new(table),
            queue: backend.queue.clone(),
            privacy_queue: settings.get(Setting::PrivacyQueueUrl)?.to_owned(),
            metrics,
        })
    }

    /// One run over every business. A business or a request that fails is logged and
    /// counted (`failed`), and the run goes on with the others: one stuck erasure must not
    /// keep the rest from their deadlines.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<Swept, TableError> {
        let mut swept = Swept::default();
        let mut after = None;
        loop {
            let (tenants, next) = self.tenants.all(after, 100).await?;
            for tenant in tenants {
                if let Err(e) = self.sweep_tenant(&tenant, now, &mut swept).await {
                    swept.failed += 1;
                    tracing::error!(tenant = %tenant, cause = %e, "a business's privacy requests were not swept");
                }
            }
            after = next;
            if after.is_none() {
                break;
            }
        }
        self.verify_accounts(now, &mut swept).await?;
        if swept.sent_again + swept.at_risk + swept.erased + swept.residue + swept.failed > 0 {
            tracing::warn!(
                sent_again = swept.sent_again,
                at_risk = swept.at_risk,
                erased = swept.erased,
                residue = swept.residue,
                failed = swept.failed,
                "open privacy requests swept"
            );
        }
        Ok(swept)
    }

    async fn sweep_tenant(
        &self,
        tenant: &TenantId,
        now: OffsetDateTime,
        swept: &mut Swept,
    ) -> Result<(), TableError> {
        for request in self.requests.open(tenant, PER_TENANT).await? {
            let stalled = now - request.received_at >= STALLED_AFTER;
            if stalled && request.kind == Kind::Cancellation {
                let erased = match request.subject.account {
                    true => self.eraser.erase_account(tenant, &request, &self.integrations, now).await,
                    false => self.eraser.erase_contact(tenant, &request, now).await,
                };
                match erased {
                    Ok(Erased::Completed) => {
                        swept.erased += 1;
                        continue;
                    }
                    Ok(Erased::Gone) => continue,
                    // Still open: its deadline is watched below like any other's.
                    Err(e) => {
                        swept.failed += 1;
                        tracing::error!(tenant = %tenant, request = %request.id, cause = %e, "a stalled erasure failed again");
                    }
                }
            } else if stalled && self.send_again(tenant, &request).await {
                swept.sent_again += 1;
            }
            if request.deadline_at - now <= AT_RISK_WITHIN {
                self.at_risk(tenant, &request).await?;
                swept.at_risk += 1;
            }
        }
        self.verify(tenant, now, swept).await
    }

    /// Each completed erasure of the business checked again; past its deadline, for the last
    /// time.
    async fn verify(
        &self,
        tenant: &TenantId,
        now: OffsetDateTime,
        swept: &mut Swept,
    ) -> Result<(), TableError> {
        for check in erasure::checks(self.table.as_ref(), tenant).await? {
            let residue = match self.eraser.verify(tenant, &check, now).await {
                Ok(residue) => residue,
                Err(e) => {
                    swept.failed += 1;
                    tracing::error!(tenant = %tenant, request = %check.request_id, cause = %e, "an erasure could not be checked again");
                    continue;
                }
            };
            swept.verified += 1;
            if residue > 0 {
                swept.residue += residue;
                self.metrics.count_n("PrivacyErasureResidue", residue as f64, &[], &[]);
                tracing::error!(tenant = %tenant, request = %check.request_id, items = residue, "an erased subject had items again; erased");
            }
            if now > check.until {
                erasure::end_check(self.table.as_ref(), tenant, &check).await?;
            }
        }
        Ok(())
    }

    /// The completed account erasures checked again (one pass over the table for all of them,
    /// resumed run after run); each ends once a pass begun after its deadline is through.
    async fn verify_accounts(&self, now: OffsetDateTime, swept: &mut Swept) -> Result<(), TableError> {
        let checks = account_erasure::checks(self.table.as_ref()).await?;
        if checks.is_empty() {
            return Ok(());
        }
        match self.eraser.verify_accounts(&checks, now).await {
            Ok(verified) => {
                swept.verified += checks.len();
                if verified.residue > 0 {
                    swept.residue += verified.residue;
                    self.metrics.count_n("PrivacyErasureResidue", verified.residue as f64, &[], &[]);
                    tracing::error!(items = verified.residue, "erased accounts had items again; erased");
                }
            }
            Err(e) => {
                swept.failed += 1;
                tracing::error!(cause = %e, "the erased accounts could not be checked again");
            }
        }
        Ok(())
    }

    async fn send_again(&self, tenant: &TenantId, request: &PrivacyRequest) -> bool {
        let job = Job { tenant_id: tenant.to_string(), request_id: request.id.to_string() };
        let Ok(body) = serde_json::to_string(&job) else { return false };
        let message = OutgoingMessage { id: "0".into(), body, group_id: None, dedup_id: None, delay: None };
        match self.queue.send_batch(&self.privacy_queue, vec![message]).await {
            Ok(outcome) => outcome.failed.is_empty(),
            Err(e) => {
                tracing::error!(cause = %e, "a stalled privacy request's job was not sent again");
                false
            }
        }
    }

    /// The metric each run while at risk (the alarm watches it); the entry once, its id
    /// derived from the request.
    async fn at_risk(&self, tenant: &TenantId, request: &PrivacyRequest) -> Result<(), TableError> {
        self.metrics.count("PrivacyDeadlineAtRisk", &[("Kind", request.kind.as_str())], &[]);
        let since = request.deadline_at - AT_RISK_WITHIN;
        let entry = AuditEntry {
            id: window_entry_id(since, &["privacy_request.at_risk", request.id.as_str()])?,
            at: since,
            ..AuditEntry::by(
                Actor::system("privacy-sweep"),
                "privacy_request.at_risk",
                Resource { kind: "privacy_request".into(), id: Some(request.id.to_string()) },
                &[],
            )
        };
        self.audit.record(tenant, &entry).await
    }
}

#[async_trait]
impl Scheduled for Sweep {
    fn name(&self) -> &'static str {
        "privacy-sweep"
    }

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError> {
        self.sweep(gestor_shared::worker::due_at(&event))
            .await
            .map(|_| ())
            .map_err(|e| ScheduleError(e.to_string()))
    }
}
