//! The one dispatcher every function uses. Authentication, the tenant, permissions,
//! `Idempotency-Key` and the audit log are handled here, so no handler can forget them: a
//! handler only parses, acts and answers. Route tables are `routes!` (`http::routes`).

use async_trait::async_trait;
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::Instrument;

use super::auth::{Caller, Claims, TenantRefusal, resolve_caller};
use super::cursor::CursorSigner;
use super::problem::ApiError;
use super::reply::{Reply, response};
use super::request::{Call, RequestMeta};
use super::routes::{Access, Route};
use crate::domain::TenantId;
use crate::ports::Table;
use crate::repo::audit::{Actor, ActorType, AuditEntry, AuditRepo, Outcome, Resource};
use crate::repo::idempotency::{Begin, IdempotencyRepo, StoredAnswer, fingerprint};
use crate::repo::members::MemberRepo;
use crate::repo::rate_limits::RateLimitRepo;
use crate::repo::security::{SecurityRepo, note_op};
use crate::repo::sessions::{SessionRepo, Sighting};
use crate::repo::tenants::TenantRepo;
use crate::settings::{Setting, SettingError, Settings};

/// What every function shares: the table and the repositories the dispatcher uses.
#[derive(Clone)]
pub struct Core {
    pub table: Arc<dyn Table>,
    pub cursors: CursorSigner,
    pub members: MemberRepo,
    pub tenants: TenantRepo,
    pub audit: AuditRepo,
    pub sessions: SessionRepo,
    pub security: SecurityRepo,
    pub rate_limits: RateLimitRepo,
    pub idempotency: IdempotencyRepo,
    pub function: String,
}

impl Core {
    /// Needs `CURSOR_SECRET` among the function's settings.
    pub fn new(table: Arc<dyn Table>, settings: &Settings) -> Result<Self, SettingError> {
        Ok(Self {
            cursors: CursorSigner::new(settings.get(Setting::CursorSecret)?.as_bytes()),
            members: MemberRepo::new(table.clone()),
            tenants: TenantRepo::new(table.clone()),
            audit: AuditRepo::new(table.clone()),
            sessions: SessionRepo::new(table.clone()),
            security: SecurityRepo::new(table.clone()),
            rate_limits: RateLimitRepo::new(table.clone(), settings.get(Setting::CursorSecret)?.as_bytes()),
            idempotency: IdempotencyRepo::new(table.clone()),
            function: settings.function_name.clone(),
            table,
        })
    }
}

/// An HTTP function, as `routes!` implements it.
#[async_trait]
pub trait Function: Send + Sync {
    /// The function's name in logs.
    fn name(&self) -> &str {
        self.core().map(|core| core.function.as_str()).unwrap_or("function")
    }
    fn routes(&self) -> &'static [Route];
    /// The table and repositories authenticated routes need; `None` for a function whose
    /// routes are all public and which must never touch the table (the webhooks).
    fn core(&self) -> Option<&Core>;
    /// The counters of rate-limited routes: the core's, or a function's own when it has no
    /// core (the webhooks count their handshakes and touch nothing else in the table).
    fn rate_limits(&self) -> Option<&RateLimitRepo> {
        self.core().map(|core| &core.rate_limits)
    }
    async fn call(&self, route: &'static Route, call: Call) -> Result<Reply, ApiError>;
}

/// Answers one request: the whole life of a call, from route lookup to audit.
pub async fn serve(function: &dyn Function, req: Request) -> Response<Body> {
    let meta = RequestMeta::of(&req);
    logged(function.name(), &meta.clone(), dispatch(function, req, meta)).await
}

/// Runs the work of one request in the request's log span (function, request id, route,
/// tenant) and answers its outcome: an error as problem+json, its internal cause logged.
pub async fn logged(
    function: &str,
    meta: &RequestMeta,
    work: impl std::future::Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    let span = tracing::info_span!(
        "request",
        function = %function,
        request_id = meta.request_id.as_deref().unwrap_or("-"),
        route = tracing::field::Empty,
        tenant = tracing::field::Empty,
    );
    async move {
        let started = std::time::Instant::now();
        let response = match work.await {
            Ok(response) => response,
            Err(error) => {
                if let ApiError::Internal(cause) | ApiError::Unavailable { cause, .. } = &error {
                    tracing::error!(%cause, "request failed");
                }
                error.into_response()
            }
        };
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        );
        hardened(response)
    }
    .instrument(span)
    .await
}

/// Every answer carries the headers a JSON API holding personal data should: never cached,
/// never sniffed as another type or framed, HTTPS only from now on, no referrer sent on.
fn hardened(mut response: Response<Body>) -> Response<Body> {
    const HEADERS: [(&str, &str); 6] = [
        ("strict-transport-security", "max-age=63072000; includeSubDomains"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ];
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        if !headers.contains_key(name) {
            headers.insert(name, http::HeaderValue::from_static(value));
        }
    }
    response
}

/// The route by API Gateway's route key when it gives one, else by method and path (the
/// local server and tests); 405 when only the method is wrong.
pub fn find_route(
    routes: &'static [Route],
    meta: &RequestMeta,
    method: &str,
    path: &str,
) -> Result<(&'static Route, HashMap<String, String>), ApiError> {
    if let Some(route) = meta.route_key.as_deref().and_then(|k| routes.iter().find(|r| r.key == k)) {
        return Ok((route, route.match_path(path).unwrap_or_default()));
    }
    Route::most_specific(routes.iter().map(|r| (r, ())), method, path).map(|m| (m.route, m.params))
}

async fn dispatch(
    function: &dyn Function,
    req: Request,
    meta: RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let (route, params) = find_route(function.routes(), &meta, req.method().as_str(), req.uri().path())?;
    tracing::Span::current().record("route", route.key.as_str());
    let Some(core) = function.core() else {
        // Public routes only: no caller, no idempotency record, no audit entry.
        if route.access != Access::Public {
            return Err(ApiError::Internal(format!(
                "{} needs a login but its function has no table",
                route.key
            )));
        }
        if let Some(limited) = route.limit {
            let Some(limits) = function.rate_limits() else {
                return Err(ApiError::Internal(format!("{} is rate-limited but has no limiter", route.key)));
            };
            throttle(limits, route, limited, &req, &meta, &params).await?;
        }
        let mut call = Call::from_request(&req, None);
        if call.path.is_empty() {
            call.path = params;
        }
        return function.call(route, call).await.map(Reply::into_response);
    };

    if let Some(limited) = route.limit {
        throttle(&core.rate_limits, route, limited, &req, &meta, &params).await?;
    }
    let caller = match route.access {
        Access::Public => None,
        Access::Member | Access::Permission(_) | Access::User => {
            authenticate(core, &req, &meta, route).await?
        }
    };
    let mut call = Call::from_request(&req, caller);
    if call.path.is_empty() {
        call.path = params;
    }
    if let (Access::Permission(permission), Some(caller)) = (route.access, &call.caller)
        && let Err(denied) = caller.require(permission)
    {
        record_denied(core, &caller.tenant, actor_of(caller), &call.meta, route, &call.path).await;
        return Err(denied);
    }
    let idempotency_key = match (&call.caller, route.idempotent) {
        (Some(caller), true) => match call.header("idempotency-key") {
            Some(key) => {
                if key.is_empty() || key.len() > 255 {
                    return Err(ApiError::invalid_field("Idempotency-Key", "must be 1 to 255 characters"));
                }
                // The resource belongs to the request: one key reused on another contact is
                // another request, not a replay.
                let mut target: Vec<String> = call.path.iter().map(|(k, v)| format!("{k}={v}")).collect();
                target.sort();
                let request = [route.key.as_bytes(), b"\n", target.join("&").as_bytes(), b"\n"].concat();
                let hash = fingerprint(&[request, canonical_body(&call.body)].concat());
                match core.idempotency.begin(&caller.tenant, &caller.claims.sub, key, &hash).await? {
                    Begin::Started => Some((caller.clone(), key.to_owned())),
                    Begin::Replay(answer) => {
                        let mut response = response(answer.status, answer.body, answer.etag.as_deref());
                        response
                            .headers_mut()
                            .insert("idempotent-replayed", http::HeaderValue::from_static("true"));
                        return Ok(response);
                    }
                    Begin::Mismatch => {
                        return Err(ApiError::Unprocessable(
                            "this Idempotency-Key was used with a different request body".into(),
                        ));
                    }
                    Begin::InProgress => {
                        return Err(ApiError::conflict(
                            "a request with this Idempotency-Key is still in progress",
                        ));
                    }
                }
            }
            None => None,
        },
        _ => None,
    };

    let path = call.path.clone();
    let meta = call.meta.clone();
    let caller = call.caller.clone();
    let body_fields = top_level_fields(&call.body);
    let result = function.call(route, call).await;

    if let Some((caller, key)) = &idempotency_key {
        let outcome = match &result {
            Ok(reply) => {
                let answer =
                    StoredAnswer { status: reply.status, body: reply.body_text(), etag: reply.etag.clone() };
                core.idempotency
                    .complete(&caller.tenant, &caller.claims.sub, key, &answer, reply.subject.as_deref())
                    .await
            }
            Err(_) => core.idempotency.abandon(&caller.tenant, &caller.claims.sub, key).await,
        };
        if let Err(e) = outcome {
            tracing::error!(cause = %e, "idempotency record not updated");
        }
    }

    match (result, caller) {
        (Ok(reply), Some(caller)) => {
            if let Some((action, resource_type)) = route.audit {
                let entry = entry(
                    actor_of(&caller),
                    &meta,
                    action,
                    Resource {
                        kind: resource_type.into(),
                        id: reply.resource_id.clone().or_else(|| path.get("id").cloned()),
                    },
                    Outcome::Ok,
                    reply.changed_fields.clone().unwrap_or(body_fields),
                );
                if let Err(e) = core.audit.record(&caller.tenant, &entry).await {
                    tracing::error!(cause = %e, action, "audit entry not written");
                }
            }
            Ok(reply.into_response())
        }
        (Ok(reply), None) => Ok(reply.into_response()),
        (Err(error @ ApiError::Forbidden(_)), Some(caller)) => {
            record_denied(core, &caller.tenant, actor_of(&caller), &meta, route, &path).await;
            Err(error)
        }
        (Err(error), _) => Err(error),
    }
}

/// Counts the request against its route's limits, before anything else is read: 429 with
/// `Retry-After` beyond them. A table failure lets the request through (logged): the limiter
/// guards against guessing, and every such route checks what it is given anyway.
async fn throttle(
    limits: &RateLimitRepo,
    route: &Route,
    limited: super::routes::Limited,
    req: &Request,
    meta: &RequestMeta,
    params: &HashMap<String, String>,
) -> Result<(), ApiError> {
    let target = match limited.target {
        super::routes::Target::Param(name) => params.get(name).cloned(),
        super::routes::Target::User => Claims::from_request(req).map(|c| c.sub),
    };
    let ip = meta.source_ip.as_deref().unwrap_or("unknown");
    let now = limits.now();
    match limits.count(route.key.as_str(), limited.limit, ip, target.as_deref(), now).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(retry_after_secs)) => {
            tracing::warn!(route = route.key.as_str(), "request throttled");
            Err(ApiError::TooManyRequests { retry_after_secs })
        }
        Err(e) => {
            tracing::error!(cause = %e, "rate limit not counted");
            Ok(())
        }
    }
}

/// The caller of a route that needs a login; `None` only where the route lets a member of
/// several businesses name none (`Access::User`).
async fn authenticate(
    core: &Core,
    req: &Request,
    meta: &RequestMeta,
    route: &Route,
) -> Result<Option<Caller>, ApiError> {
    let Some(claims) = Claims::from_request(req) else {
        tracing::warn!("request without verified claims");
        return Err(ApiError::Unauthorized);
    };
    let header = req.headers().get("x-tenant-id").and_then(|v| v.to_str().ok());
    match resolve_caller(&core.members, claims.clone(), header).await? {
        Ok(caller) => {
            tracing::Span::current().record("tenant", caller.tenant.as_str());
            note_session(core, &caller, req, meta).await;
            Ok(Some(caller))
        }
        // A user route answers these with what the user can choose or create.
        Err(TenantRefusal::Ambiguous | TenantRefusal::NotAMember(None)) if route.access == Access::User => {
            Ok(None)
        }
        Err(TenantRefusal::Malformed) => {
            Err(ApiError::invalid_field("X-Tenant-Id", "is not a valid tenant id"))
        }
        Err(TenantRefusal::Ambiguous) => {
            Err(ApiError::invalid_field("X-Tenant-Id", "is required: you are a member of several businesses"))
        }
        Err(TenantRefusal::NotAMember(None)) => {
            Err(ApiError::Forbidden("you are not a member of any business yet".into()))
        }
        Err(TenantRefusal::NotAMember(Some(tenant))) => {
            // An attempt on a business the user does not belong to: worth its owners knowing.
            if core.tenants.get(&tenant).await?.is_some() {
                let path = route.match_path(req.uri().path()).unwrap_or_default();
                let stranger = Actor { kind: ActorType::Member, id: format!("sub:{}", claims.sub) };
                record_denied(core, &tenant, stranger, meta, route, &path).await;
            }
            Err(ApiError::Forbidden("you are not a member of this business".into()))
        }
    }
}

/// Records the caller's session when it is new or its "last seen" is 15 minutes old, with a
/// new session's `auth.sign_in` entry. A failure is logged, never the request's.
async fn note_session(core: &Core, caller: &Caller, req: &Request, meta: &RequestMeta) {
    let header = |name: &str| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    };
    let sighting = Sighting {
        // A token that names no sign-in is told apart by its browser.
        marker: caller.claims.session.clone().or_else(|| meta.user_agent.clone()).unwrap_or_default(),
        ip: meta.source_ip.clone(),
        user_agent: meta.user_agent.clone(),
        timezone: header("x-timezone").filter(|tz| tz.parse::<chrono_tz::Tz>().is_ok()).map(str::to_owned),
        // Only a CDN in front of the API knows the country (CloudFront's header).
        country: header("cloudfront-viewer-country")
            .filter(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase()),
    };
    let now = time::OffsetDateTime::now_utc();
    let recorded = core
        .sessions
        .record(&caller.tenant, &caller.member, &sighting, now, |session| {
            let resource = Resource { kind: "session".into(), id: Some(session.id.clone()) };
            // At the time the window is noted for, so detection reads it in that window.
            let sign_in = AuditEntry {
                at: now,
                ..entry(actor_of(caller), meta, "auth.sign_in", resource, Outcome::Ok, vec![])
            };
            Ok(vec![
                AuditRepo::record_op(&caller.tenant, &sign_in)?,
                note_op(crate::repo::audit::window_start(now), &caller.tenant),
            ])
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(cause = %e, "session not recorded");
    }
}

fn actor_of(caller: &Caller) -> Actor {
    Actor { kind: ActorType::Member, id: caller.member.id.to_string() }
}

fn entry(
    actor: Actor,
    meta: &RequestMeta,
    action: &str,
    resource: Resource,
    outcome: Outcome,
    changed_fields: Vec<String>,
) -> AuditEntry {
    AuditEntry {
        outcome,
        ip: meta.source_ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: meta.request_id.clone(),
        changed_fields,
        ..AuditEntry::by(actor, action, resource, &[])
    }
}

async fn record_denied(
    core: &Core,
    tenant: &TenantId,
    actor: Actor,
    meta: &RequestMeta,
    route: &Route,
    path: &HashMap<String, String>,
) {
    let kind = route.audit.map(|(_, kind)| kind).unwrap_or_else(|| route.path());
    let resource = Resource { kind: kind.to_owned(), id: path.get("id").cloned() };
    let denied = entry(actor, meta, "auth.denied", resource, Outcome::Denied, vec![]);
    tracing::warn!(route = route.key.as_str(), "request denied");
    match core.audit.record_denied(tenant, &denied).await {
        // The window's first: the business has something for detection to look at.
        Ok(1) => {
            if let Err(e) = core.security.note(crate::repo::audit::window_start(denied.at), tenant).await {
                tracing::error!(cause = %e, "security window not noted");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(cause = %e, "audit entry for a denied request not written"),
    }
}

/// A JSON body with its object keys sorted and no insignificant whitespace, so that a retry
/// that serializes the same request differently is still the same request; a body that is not
/// JSON is compared as bytes.
fn canonical_body(body: &[u8]) -> Vec<u8> {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(sorted).collect())
            }
            other => other,
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => serde_json::to_vec(&sorted(value)).unwrap_or_else(|_| body.to_vec()),
        Err(_) => body.to_vec(),
    }
}

fn top_level_fields(body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => map.keys().filter(|k| *k != "version").cloned().collect(),
        _ => Vec::new(),
    }
}
