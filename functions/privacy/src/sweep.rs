//! The hourly sweep of open privacy requests: a request still open a while after it was
//! filed has its job sent again (the first was lost, or failed for good), and one whose
//! deadline is less than a day away raises the `PrivacyDeadlineAtRisk` metric (an alarm in
//! the template) and a `privacy_request.at_risk` audit entry, once per request. Nothing here
//! relies on TTL.

use async_trait::async_trait;
use gestor_shared::domain::TenantId;
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{OutgoingMessage, Queue, Table, TableError};
use gestor_shared::repo::audit::{Actor, AuditEntry, AuditRepo, Resource, window_entry_id};
use gestor_shared::repo::privacy::{PrivacyRepo, PrivacyRequest};
use gestor_shared::repo::tenants::TenantRepo;
use gestor_shared::settings::{Setting, SettingError, Settings};
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

use crate::worker::Job;

/// A request still open this long after it was filed has lost its job.
pub const STALLED_AFTER: Duration = Duration::minutes(15);
/// A request whose deadline is this close is at risk.
pub const AT_RISK_WITHIN: Duration = Duration::hours(24);
/// Open requests read per business and run.
const PER_TENANT: usize = 200;

pub struct Sweep {
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
}

impl Sweep {
    pub fn new(
        table: Arc<dyn Table>,
        queue: Arc<dyn Queue>,
        settings: &Settings,
        metrics: Metrics,
    ) -> Result<Self, SettingError> {
        Ok(Self {
            requests: PrivacyRepo::new(table.clone()),
            tenants: TenantRepo::new(table.clone()),
            audit: AuditRepo::new(table),
            queue,
            privacy_queue: settings.get(Setting::PrivacyQueueUrl)?.to_owned(),
            metrics,
        })
    }

    pub async fn sweep(&self, now: OffsetDateTime) -> Result<Swept, TableError> {
        let mut swept = Swept::default();
        let mut after = None;
        loop {
            let (tenants, next) = self.tenants.all(after, 100).await?;
            for tenant in tenants {
                for request in self.requests.open(&tenant, PER_TENANT).await? {
                    if now - request.received_at >= STALLED_AFTER && self.send_again(&tenant, &request).await
                    {
                        swept.sent_again += 1;
                    }
                    if request.deadline_at - now <= AT_RISK_WITHIN {
                        self.at_risk(&tenant, &request).await?;
                        swept.at_risk += 1;
                    }
                }
            }
            after = next;
            if after.is_none() {
                break;
            }
        }
        if swept != Swept::default() {
            tracing::warn!(
                sent_again = swept.sent_again,
                at_risk = swept.at_risk,
                "open privacy requests swept"
            );
        }
        Ok(swept)
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
