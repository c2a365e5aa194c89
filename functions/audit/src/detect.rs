//! Unauthorized-access detection: every 5 minutes, the current and the previous window of
//! each business that saw a denied request or a sign-in (`repo::security`) are read, and
//! - denied requests over a threshold (`SECURITY_THRESHOLDS`) per member, per IP or for the
//!   whole business, and
//! - a sign-in of an owner or admin from a device or country none of their earlier sessions
//!   had,
//!
//! each raise one security event: a `security.*` audit entry, a `SecurityEvents` metric and an
//! alert for the business's admins. Events have ids derived from their window and subject,
//! and the alert is created only if absent, so each is raised once per window however often
//! the schedule runs; the audit entry is written first, so a crash between the two is repaired
//! by the next run.

use async_trait::async_trait;
use gestor_shared::domain::user_agent::Device;
use gestor_shared::domain::{Role, TenantId};
use gestor_shared::ids::{AlertId, MemberId};
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{Table, TableError};
use gestor_shared::repo::alerts::{Alert, AlertKind, AlertRepo};
use gestor_shared::repo::audit::{
    Actor, ActorType, AuditEntry, AuditRepo, DENIED_WINDOW, Outcome, Resource, window_entry_id, window_start,
};
use gestor_shared::repo::members::MemberRepo;
use gestor_shared::repo::security::SecurityRepo;
use gestor_shared::repo::sessions::{Session, SessionRepo};
use gestor_shared::settings::{Setting, SettingError, Settings};
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// Denied requests in one window above which there is a burst (more than these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub member: u64,
    pub ip: u64,
    pub tenant: u64,
}

impl Thresholds {
    /// `member=20,ip=30,tenant=100`; a part left out keeps its default.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut t = Self { member: 20, ip: 30, tenant: 100 };
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| format!("{part}: expected name=count"))?;
            let value: u64 =
                value.trim().parse().map_err(|_| format!("{part}: the count must be a number"))?;
            if value == 0 {
                return Err(format!("{part}: a threshold of 0 would raise an event on every window"));
            }
            match name.trim() {
                "member" => t.member = value,
                "ip" => t.ip = value,
                "tenant" => t.tenant = value,
                other => return Err(format!("{other}: expected member, ip or tenant")),
            }
        }
        Ok(t)
    }
}

/// One security event found in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: AlertKind,
    /// `member`, `ip`, `tenant`, or the session of a sign-in.
    pub code: String,
    /// What the event is about, for its id: a member or session id, a digest of an IP, the
    /// business. Stable for one subject in one window.
    pub key: String,
    /// What the alert names: a member, the denied entry holding an IP, or the business.
    pub resource: Resource,
    pub count: Option<u64>,
}

pub struct Detect {
    audit: AuditRepo,
    alerts: AlertRepo,
    members: MemberRepo,
    sessions: SessionRepo,
    security: SecurityRepo,
    thresholds: Thresholds,
    metrics: Metrics,
}

impl Detect {
    pub fn new(table: Arc<dyn Table>, settings: &Settings, metrics: Metrics) -> Result<Self, SettingError> {
        let raw = settings.get(Setting::SecurityThresholds)?;
        let thresholds = Thresholds::parse(raw).unwrap_or_else(|e| {
            tracing::error!(problem = %e, "SECURITY_THRESHOLDS unreadable: the defaults apply");
            Thresholds { member: 20, ip: 30, tenant: 100 }
        });
        Ok(Self {
            audit: AuditRepo::new(table.clone()),
            alerts: AlertRepo::new(table.clone()),
            members: MemberRepo::new(table.clone()),
            sessions: SessionRepo::new(table.clone()),
            security: SecurityRepo::new(table),
            thresholds,
            metrics,
        })
    }

    /// Looks at the windows around `now`; answers how many events were raised now.
    pub async fn run_at(&self, now: OffsetDateTime) -> Result<usize, TableError> {
        let current = window_start(now);
        let mut raised = 0;
        for window in [current - DENIED_WINDOW, current] {
            for tenant in self.security.noted(window).await? {
                // One business's trouble (an unreadable entry) never hides another's events.
                match self.tenant_window(&tenant, window).await {
                    Ok(n) => raised += n,
                    Err(e) => tracing::error!(cause = %e, tenant = tenant.as_str(), "window not scanned"),
                }
            }
        }
        Ok(raised)
    }

    async fn tenant_window(&self, tenant: &TenantId, window: OffsetDateTime) -> Result<usize, TableError> {
        let mut raised = 0;
        for event in self.events(tenant, window).await? {
            raised += usize::from(self.raise(tenant, window, &event).await?);
        }
        Ok(raised)
    }

    /// The events of one business's window.
    pub async fn events(&self, tenant: &TenantId, window: OffsetDateTime) -> Result<Vec<Event>, TableError> {
        let entries = self.audit.between(tenant, window, window + DENIED_WINDOW).await?;
        let mut events = bursts(&entries, tenant, self.thresholds);
        for sign_in in entries.iter().filter(|e| e.action == "auth.sign_in" && e.outcome == Outcome::Ok) {
            let (Ok(member_id), Some(session_id)) =
                (MemberId::parse(&sign_in.actor.id), &sign_in.resource.id)
            else {
                continue;
            };
            let Some(member) = self.members.get_by_id(tenant, &member_id).await? else { continue };
            if !matches!(member.role, Role::Owner | Role::Admin) {
                continue;
            }
            let sessions = self.sessions.list(tenant, &member_id).await?;
            let Some(this) = sessions.iter().find(|s| &s.id == session_id) else { continue };
            let earlier: Vec<&Session> =
                sessions.iter().filter(|s| s.id != this.id && s.first_seen <= this.first_seen).collect();
            let (new_device, new_country) = novelty(this, &earlier);
            let member_resource = Resource { kind: "member".into(), id: Some(member_id.to_string()) };
            for (is_new, kind) in [(new_device, AlertKind::NewDevice), (new_country, AlertKind::NewCountry)] {
                if is_new {
                    let (code, key, resource) = (this.id.clone(), this.id.clone(), member_resource.clone());
                    events.push(Event { kind, code, key, resource, count: None });
                }
            }
        }
        Ok(events)
    }

    /// Records the event once: `true` when it was raised now.
    async fn raise(
        &self,
        tenant: &TenantId,
        window: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, TableError> {
        let kind = serde_json::to_value(event.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let subject = event.resource.id.clone().unwrap_or_default();
        let parts = [kind.as_str(), event.code.as_str(), event.key.as_str()];
        let entry = AuditEntry {
            id: window_entry_id(window, &parts)?,
            at: window,
            actor: Actor { kind: ActorType::System, id: "security-detect".into() },
            action: format!("security.{kind}"),
            resource: event.resource.clone(),
            outcome: Outcome::Ok,
            ip: None,
            user_agent: None,
            request_id: None,
            changed_fields: vec![],
            count: event.count,
            last_at: None,
        };
        self.audit.record(tenant, &entry).await?;
        let alert_id = window_entry_id(window, &parts)?.as_str().replacen("au_", "al_", 1);
        let alert = Alert {
            id: AlertId::parse(&alert_id).map(|id| id.to_string()).unwrap_or(alert_id),
            kind: event.kind,
            resource_id: subject,
            code: Some(event.code.clone()),
            at: window,
        };
        let raised = self.alerts.raise_once(tenant, &alert).await?;
        if raised {
            self.metrics.count("SecurityEvents", &[("Kind", kind.as_str())], &[("Code", kind_code(event))]);
            tracing::warn!(kind = kind.as_str(), tenant = tenant.as_str(), "security event");
        }
        Ok(raised)
    }
}

/// The metric's property: whose burst, never an id.
fn kind_code(event: &Event) -> &str {
    match event.kind {
        AlertKind::DeniedBurst => event.code.as_str(),
        _ => "sign_in",
    }
}

/// Denied requests over the thresholds, per member (actor), per IP and for the business.
pub fn bursts(entries: &[AuditEntry], tenant: &TenantId, thresholds: Thresholds) -> Vec<Event> {
    let mut by_actor: BTreeMap<&str, u64> = BTreeMap::new();
    // Per IP: the count, and the smallest id of the denied entries holding it (what the alert
    // names; the event itself is keyed by a digest of the IP, which later entries of the same
    // IP cannot change).
    let mut by_ip: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    let mut total = 0;
    for entry in entries.iter().filter(|e| e.outcome == Outcome::Denied) {
        let n = entry.count.unwrap_or(1);
        total += n;
        *by_actor.entry(entry.actor.id.as_str()).or_default() += n;
        if let Some(ip) = entry.ip.as_deref() {
            let slot = by_ip.entry(ip).or_insert((0, entry.id.as_str()));
            slot.0 += n;
            slot.1 = slot.1.min(entry.id.as_str());
        }
    }
    let burst = |code: &str, key: String, kind: &str, id: &str, count: u64| Event {
        kind: AlertKind::DeniedBurst,
        code: code.into(),
        key,
        resource: Resource { kind: kind.into(), id: Some(id.into()) },
        count: Some(count),
    };
    let mut events: Vec<Event> = by_actor
        .into_iter()
        .filter(|(_, n)| *n > thresholds.member)
        .map(|(actor, n)| burst("member", actor.to_owned(), "member", actor, n))
        .collect();
    events.extend(by_ip.into_iter().filter(|(_, (n, _))| *n > thresholds.ip).map(|(ip, (n, entry))| {
        let digest = gestor_shared::repo::idempotency::fingerprint(ip.as_bytes());
        burst("ip", digest, "audit", entry, n)
    }));
    if total > thresholds.tenant {
        events.push(burst("tenant", tenant.to_string(), "tenant", tenant.as_str(), total));
    }
    events
}

/// Whether a session brings a device, and a country, that none of the member's earlier
/// sessions had. A first session ever is neither: there is nothing to compare it with.
pub fn novelty(this: &Session, earlier: &[&Session]) -> (bool, bool) {
    if earlier.is_empty() {
        return (false, false);
    }
    let device = this.device.clone();
    let new_device = this.device.kind != gestor_shared::domain::user_agent::DeviceKind::Unknown
        && !earlier.iter().any(|s| Device::same_device(&s.device, &device));
    let new_country =
        this.country.as_ref().is_some_and(|c| !earlier.iter().any(|s| s.country.as_ref() == Some(c)));
    (new_device, new_country)
}

#[async_trait]
impl Scheduled for Detect {
    fn name(&self) -> &'static str {
        "audit-detect"
    }

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError> {
        self.run_at(gestor_shared::worker::due_at(&event))
            .await
            .map(|_| ())
            .map_err(|e| ScheduleError(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
