//! The `audit` function: `GET /v1/audit-log`, what the dispatcher recorded of every mutation
//! and denied request, for owners and admins.

use gestor_shared::http::PageQuery;
use gestor_shared::http::{ApiError, Call, Core, FieldError, Page, Permission, Policy, Reply};
use gestor_shared::registry::{Declaration, HttpPart, SchedulePart, Serves};
use gestor_shared::repo::audit::{Actor, ActorType, AuditEntry, AuditFilter, Outcome, Resource};
use gestor_shared::settings::Setting;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;

pub static FUNCTION: Declaration = Declaration {
    name: "audit",
    settings: &[Setting::TableName, Setting::CursorSecret, Setting::AuditRetentionDays],
    serves: Serves::Http(HttpPart {
        routes: Audit::route_table,
        openapi,
        build: |deps| {
            let days = retention::retention_days(deps.settings())?;
            Ok(Arc::new(Audit::new(deps.core()?).with_retention_days(days)))
        },
    }),
};

/// The log's retention, every day (`retention.rs`).
pub static RETENTION: Declaration = Declaration {
    name: "audit-retention",
    settings: &[Setting::TableName, Setting::AuditRetentionDays],
    serves: Serves::Schedule(SchedulePart {
        every: std::time::Duration::from_secs(86_400),
        build: |deps| {
            let days = retention::retention_days(deps.settings())?;
            Ok(Arc::new(retention::Retention::new(deps.table()?, days)))
        },
    }),
};

/// Unauthorized-access detection, every 5 minutes (`detect.rs`).
pub static DETECT: Declaration = Declaration {
    name: "audit-detect",
    settings: &[Setting::TableName, Setting::SecurityThresholds],
    serves: Serves::Schedule(SchedulePart {
        every: std::time::Duration::from_secs(300),
        build: |deps| {
            let detect = detect::Detect::new(
                deps.table()?,
                deps.settings(),
                gestor_shared::metrics::Metrics::stdout(),
            )?;
            Ok(Arc::new(detect))
        },
    }),
};

pub mod detect;
pub mod retention;

gestor_shared::routes!(Audit, core: core, {
    list => Policy::needs(Permission::AuditRead),
});

pub struct Audit {
    core: Core,
    retention_days: i64,
}

impl Audit {
    pub fn new(core: Core) -> Self {
        Self { core, retention_days: 365 }
    }

    pub fn with_retention_days(mut self, days: i64) -> Self {
        self.retention_days = days;
        self
    }
}

/// A page of the log (the alias lets the OpenAPI macros name it).
pub type AuditEntryPage = Page<AuditEntry>;

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(AuditEntryPage, AuditEntry, Actor, ActorType, Resource, Outcome)))]
pub struct ApiDoc;

/// A bound of the time filter: an RFC 3339 instant, or a date (UTC day; `to` takes the
/// whole day).
fn time_bound(raw: &str, end_of_day: bool) -> Option<time::OffsetDateTime> {
    if let Ok(t) = time::OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(raw, &format).ok()?;
    let t = if end_of_day { date.with_hms_milli(23, 59, 59, 999).ok()? } else { date.midnight() };
    Some(t.assume_utc())
}

fn filter(call: &Call) -> Result<AuditFilter, ApiError> {
    let mut errors = Vec::new();
    let mut bound = |name: &str, end: bool| {
        let raw = call.query_param(name)?;
        let parsed = time_bound(raw, end);
        if parsed.is_none() {
            errors.push(FieldError::new(name, "must be an RFC 3339 time or a YYYY-MM-DD date"));
        }
        parsed
    };
    let from = bound("from", false);
    let to = bound("to", true);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.push(FieldError::new("from", "must not be after to"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let text = |name: &str| call.query_param(name).map(str::to_owned);
    // A resource may be named as `contact:ct_...` (type and id, as entries show it) or by id.
    let resource = text("resource").map(|r| r.rsplit_once(':').map(|(_, id)| id.to_owned()).unwrap_or(r));
    Ok(AuditFilter { actor: text("actor"), resource, action: text("action"), from, to, not_before: None })
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/v1/audit-log", tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "A member id"),
        ("resource" = Option<String>, Query, description = "A resource id, e.g. ct_..."),
        ("action" = Option<String>, Query, description = "e.g. contact.update, auth.denied"),
        ("from" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD (inclusive)"),
        PageQuery,
    ),
    responses(
        (status = 200, body = AuditEntryPage),
    )
)]
pub async fn list(app: &Audit, call: Call) -> Result<Reply, ApiError> {
    let tenant = &call.caller()?.tenant;
    let mut filter = filter(&call)?;
    filter.not_before = Some(time::OffsetDateTime::now_utc() - time::Duration::days(app.retention_days));
    let query = filter.canonical();
    let page = app
        .core
        .page(&call, &query, async |limit, start| app.core.audit.list(tenant, &filter, limit, start).await);
    Reply::ok(&page.await?)
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Audit::openapi_paths(&mut doc);
    doc
}
