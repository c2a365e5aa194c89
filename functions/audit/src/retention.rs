//! The audit log's retention (`AUDIT_RETENTION_DAYS`): every day, each business's entries
//! older than that are deleted. TTL is no part of it; the log never shows an older entry
//! even before the purge reaches it (`AuditFilter::not_before`).

use async_trait::async_trait;
use gestor_shared::domain::TenantId;
use gestor_shared::ports::{Table, TableError};
use gestor_shared::repo::audit::{Actor, AuditEntry, AuditRepo, Resource, window_entry_id};
use gestor_shared::repo::tenants::TenantRepo;
use gestor_shared::settings::{Setting, SettingError, Settings};
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use std::sync::Arc;
use time::OffsetDateTime;

/// Entries one run deletes per business at most; a longer backlog goes on the next day.
const PER_TENANT: usize = 10_000;

/// The days the setting names, at least one.
pub fn retention_days(settings: &Settings) -> Result<i64, SettingError> {
    let raw = settings.get(Setting::AuditRetentionDays)?;
    Ok(raw.trim().parse::<i64>().ok().filter(|d| *d >= 1).unwrap_or_else(|| {
        tracing::error!(raw, "AUDIT_RETENTION_DAYS is not a whole number of days: 365 apply");
        365
    }))
}

pub struct Retention {
    audit: AuditRepo,
    tenants: TenantRepo,
    days: i64,
}

impl Retention {
    pub fn new(table: Arc<dyn Table>, days: i64) -> Self {
        Self { audit: AuditRepo::new(table.clone()), tenants: TenantRepo::new(table), days }
    }

    /// The purge is itself a change of the log: its entry, at the run's time, says how many
    /// went. A rerun of the same run adds to the same entry's count. Written after the
    /// deletes it counts (a batch delete is no transaction): a failure here is logged, and
    /// the entries stay deleted.
    async fn record_purge(
        &self,
        tenant: &TenantId,
        now: OffsetDateTime,
        purged: usize,
    ) -> Result<(), TableError> {
        let entry = AuditEntry {
            id: window_entry_id(now, &["audit.purge"])?,
            at: now,
            ..AuditEntry::by(
                Actor::system("audit-retention"),
                "audit.purge",
                Resource { kind: "audit_log".into(), id: None },
                &[],
            )
        };
        self.audit.add_to_count(tenant, &entry, purged as u64).await.map(|_| ())
    }

    /// Deletes what is past keeping at `now`; answers how many entries went.
    pub async fn purge(&self, now: OffsetDateTime) -> Result<usize, TableError> {
        let edge = now - time::Duration::days(self.days);
        let mut purged = 0;
        let mut after = None;
        loop {
            let (tenants, next) = self.tenants.all(after, 100).await?;
            for tenant in tenants {
                let (n, stopped) = self.audit.purge_before(&tenant, edge, PER_TENANT).await;
                if let Err(e) = stopped {
                    tracing::error!(cause = %e, tenant = tenant.as_str(), "audit entries not all purged");
                }
                if n > 0 {
                    purged += n;
                    if let Err(e) = self.record_purge(&tenant, now, n).await {
                        tracing::error!(cause = %e, tenant = tenant.as_str(), "audit purge not recorded");
                    }
                }
            }
            after = next;
            if after.is_none() {
                break;
            }
        }
        if purged > 0 {
            tracing::info!(purged, "audit entries past their retention deleted");
        }
        Ok(purged)
    }
}

#[async_trait]
impl Scheduled for Retention {
    fn name(&self) -> &'static str {
        "audit-retention"
    }

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError> {
        self.purge(gestor_shared::worker::due_at(&event))
            .await
            .map(|_| ())
            .map_err(|e| ScheduleError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gestor_shared::http::{Role, serve};
    use gestor_shared::testing::{ApiRequest, answer, embedded_core, member};

    #[tokio::test]
    async fn entries_past_the_retention_are_neither_shown_nor_kept() {
        let (core, _dir) = embedded_core();
        let owner = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
        let app = crate::Audit::new(core.clone()).with_retention_days(30);
        // The owner's sign-in, now.
        let (status, page) =
            answer(serve(&app, ApiRequest::new("GET /v1/audit-log").as_user(&owner).build()).await);
        assert_eq!(status, 200);
        let now_entries = page["items"].as_array().map(Vec::len).unwrap_or(0);
        assert!(now_entries >= 1, "{page}");
        // Thirty-one days on, the log shows nothing of today, and the purge deletes it.
        let later = OffsetDateTime::now_utc() + time::Duration::days(31);
        let retention = Retention::new(core.table.clone(), 30);
        assert_eq!(retention.purge(later).await.unwrap_or_default(), now_entries);
        assert_eq!(retention.purge(later).await.unwrap_or_default(), 0, "nothing left to delete");
        let tenant = gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        let (left, _) = core.audit.list(&tenant, &Default::default(), 50, None).await.unwrap_or_default();
        // What is left is the purge's own entry, saying how many went.
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].action, "audit.purge");
        assert_eq!(left[0].count, Some(now_entries as u64));
        assert_eq!(left[0].actor, Actor::system("audit-retention"));
        // Today the purge keeps everything younger than its retention.
        let _ =
            serve(&app, ApiRequest::new("GET /v1/audit-log").as_user(&owner).token_id("t2").build()).await;
        assert_eq!(retention.purge(OffsetDateTime::now_utc()).await.unwrap_or_default(), 0);
    }

    #[tokio::test]
    async fn a_purge_stopped_half_way_counts_what_went_and_its_rerun_adds_the_rest() {
        use gestor_shared::testing::doubles::FailingTable;
        use std::sync::atomic::Ordering;
        let (core, _dir) = embedded_core();
        let _ = member(&core, "acme", "owner@acme.mx", Role::Owner).await;
        let tenant = gestor_shared::domain::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        let old = OffsetDateTime::now_utc() - time::Duration::days(400);
        for n in 0..150 {
            let entry = AuditEntry {
                id: window_entry_id(old, &[&n.to_string()]).unwrap_or_else(|e| panic!("{e}")),
                at: old,
                ..AuditEntry::by(
                    Actor::system("test"),
                    "contact.update",
                    Resource { kind: "contact".into(), id: None },
                    &[],
                )
            };
            core.audit.record(&tenant, &entry).await.unwrap_or_else(|e| panic!("{e}"));
        }
        // The second batch of deletes fails (S3-like 503 from the table): 100 went.
        let failing = Arc::new(FailingTable::new(core.table.clone()));
        failing.batch_deletes_before_failing.store(1, Ordering::SeqCst);
        failing.fail_batch_deletes.store(1, Ordering::SeqCst);
        let now = OffsetDateTime::now_utc();
        let retention = Retention::new(failing.clone(), 30);
        assert_eq!(retention.purge(now).await.unwrap_or_default(), 100);
        let purges = || async {
            let filter = gestor_shared::repo::audit::AuditFilter {
                action: Some("audit.purge".into()),
                ..Default::default()
            };
            let (entries, _) = core.audit.list(&tenant, &filter, 10, None).await.unwrap_or_default();
            entries.iter().map(|e| e.count.unwrap_or_default()).collect::<Vec<_>>()
        };
        assert_eq!(purges().await, vec![100], "what went is logged though the run stopped");
        // The schedule runs again for the same time: the rest go, counted in the same entry.
        assert_eq!(retention.purge(now).await.unwrap_or_default(), 50);
        assert_eq!(purges().await, vec![150]);
    }
}
