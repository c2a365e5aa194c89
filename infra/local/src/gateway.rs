//! What API Gateway does in AWS, for a laptop: routes each request to the function owning its
//! route, rejects requests without a valid token on authenticated routes, and hands the
//! function the same request context (route key, request id, source IP, JWT claims).

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use gestor_shared::backend::Backend;
use gestor_shared::http::auth::{Claims, GatewayContext};
use gestor_shared::http::{Access, ApiError, Core, Function, Role, Route, serve};
use gestor_shared::registry::{Deps, Serves};
use gestor_shared::repo::channels::Connection;
use gestor_shared::repo::members::MemberRepo;
use gestor_shared::settings::Setting;
use lambda_http::RequestExt;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{BackendKind, Config};
use crate::token;

/// API Gateway's HTTP API accepts bodies up to 10 MB.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// The largest file `POST /v1/uploads` lets the frontend announce, and a little more.
const MAX_UPLOAD: usize = gestor_shared::graph::MAX_MEDIA + 1024 * 1024;

pub struct Gateway {
    /// What every function and worker here runs on.
    pub backend: Backend,
    functions: Vec<Arc<dyn Function>>,
    workers: Vec<&'static str>,
    schedules: Vec<&'static str>,
    channels: gestor_shared::repo::channels::ChannelRepo,
    cipher: gestor_shared::crypto::TokenCipher,
    members: MemberRepo,
    jwt_secret: String,
    jwt: token::Expected,
    loopback: bool,
    files: Option<gestor_shared::adapters::local_files::LocalFiles>,
    /// The emails sent on embedded storage, for `GET /dev/mail`.
    mailbox: Option<gestor_shared::adapters::local_mail::LocalMailbox>,
    fake_graph: crate::fake_graph::FakeGraph,
    /// The frontend's origin (of `APP_URL`): the one origin CORS lets in, as the template's
    /// `FrontendOrigin` does in AWS.
    frontend_origin: String,
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

impl Gateway {
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let signing_key = settings.get(Setting::CursorSecret)?.as_bytes().to_vec();
        let (backend, files) = match config.backend {
            BackendKind::Embedded => {
                let files = Backend::embedded_files(&config.data_dir, &config.base_url(), &signing_key);
                let backend = Backend::embedded(&config.data_dir, &config.base_url(), &signing_key)
                    .context("opening the embedded storage")?;
                let mailbox = Backend::embedded_mailbox(&config.data_dir, settings.get(Setting::MailFrom)?);
                (Backend { mail: Arc::new(mailbox), ..backend }, Some(files))
            }
            BackendKind::Aws => {
                let sdk = match &config.sdk {
                    Some(sdk) => sdk.clone(),
                    None => gestor_shared::adapters::aws::sdk_config().await,
                };
                (Backend::aws_with(&sdk, settings), None)
            }
        };
        let registry = gestor_registry::FUNCTIONS;
        let conflicts = gestor_shared::registry::conflicts(registry);
        anyhow::ensure!(
            conflicts.is_empty(),
            "the function registry is inconsistent: {}",
            conflicts.join("; ")
        );
        let mut functions = Vec::new();
        let mut consumers = Vec::new();
        let mut schedules = Vec::new();
        for declaration in registry {
            // Each function gets what its Lambda gets: its own settings, under its own name.
            let deps = Deps::new(backend.clone(), settings.only(declaration.settings, declaration.name));
            let failed = |e| anyhow::anyhow!("starting the {} function: {e}", declaration.name);
            match &declaration.serves {
                Serves::Http(http) => functions.push((http.build)(&deps).map_err(failed)?),
                Serves::Queue(queue) => {
                    // The poller plays the event source mapping: the queue's URL is the
                    // gateway's setting, not the consumer's (it never sends to its own queue).
                    let address = settings.get(queue.queue.url_setting)?;
                    let consumer = (queue.build)(&deps).map_err(failed)?;
                    consumers.push((consumer, address.to_owned(), *queue.queue));
                }
                Serves::Schedule(schedule) => {
                    schedules.push((
                        declaration.name,
                        (schedule.build)(&deps).map_err(failed)?,
                        schedule.every,
                    ));
                }
            }
        }
        let workers = crate::workers::start(&backend, consumers);
        let schedules = crate::workers::start_schedules(schedules);
        let core = Core::new(backend.table.clone(), settings)?;
        Ok(Self {
            backend: backend.clone(),
            functions,
            workers,
            schedules,
            channels: gestor_shared::repo::channels::ChannelRepo::new(backend.table.clone()),
            cipher: gestor_shared::crypto::TokenCipher::from_settings(settings)
                .map_err(|e| anyhow::anyhow!("CHANNEL_TOKEN_KEYS: {e}"))?,
            members: core.members.clone(),
            jwt_secret: config.jwt_secret.clone(),
            jwt: config.jwt.clone(),
            frontend_origin: origin_of(settings.get(Setting::AppUrl)?),
            loopback: config.addr.ip().is_loopback(),
            mailbox: match files {
                Some(_) => {
                    Some(Backend::embedded_mailbox(&config.data_dir, settings.get(Setting::MailFrom)?))
                }
                None => None,
            },
            files,
            fake_graph: crate::fake_graph::FakeGraph::default(),
        })
    }

    /// A token for the demo business's owner, created if missing.
    pub async fn demo_token(&self) -> anyhow::Result<String> {
        self.dev_token("demo", "owner@demo.mx", Role::Owner).await
    }

    /// A token for `email` that makes no membership.
    fn user_token(&self, email: &str) -> anyhow::Result<String> {
        Ok(token::issue(&self.jwt_secret, &self.jwt, &token::dev_sub(email), email)?)
    }

    async fn dev_token(&self, tenant: &str, email: &str, role: Role) -> anyhow::Result<String> {
        let tenant = gestor_shared::domain::TenantId::parse(tenant).map_err(|e| anyhow::anyhow!("{e}"))?;
        let sub = token::dev_sub(email);
        self.members.ensure_member(&tenant, &sub, email, role).await?;
        Ok(token::issue(&self.jwt_secret, &self.jwt, &sub, email)?)
    }
}

/// The emails the functions sent, the newest first (embedded storage; in AWS they go to SES).
fn dev_mail(gateway: &Gateway) -> Response {
    let Some(mailbox) = &gateway.mailbox else { return problem(ApiError::NotFound) };
    match mailbox.list() {
        Ok(mail) => json_response(200, json!({ "mail": mail })),
        Err(e) => problem(ApiError::Internal(format!("cannot read the mailbox: {e}"))),
    }
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    let cors = axum::middleware::from_fn_with_state(gateway.clone(), allow_the_frontend);
    Router::new().fallback(handle).layer(cors).with_state(gateway)
}

/// The frontend's dev server runs on another origin: CORS lets that one in (`APP_URL`'s),
/// and no other, as the template's CORS settings do in AWS.
async fn allow_the_frontend(
    State(gateway): State<Arc<Gateway>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let from_frontend = request
        .headers()
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| origin == gateway.frontend_origin);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("vary", axum::http::HeaderValue::from_static("origin"));
    if !from_frontend {
        return response;
    }
    if let Ok(origin) = axum::http::HeaderValue::from_str(&gateway.frontend_origin) {
        headers.insert("access-control-allow-origin", origin);
    }
    let allow = [
        ("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        (
            "access-control-allow-headers",
            "authorization, content-type, idempotency-key, if-match, x-tenant-id, x-timezone",
        ),
        ("access-control-expose-headers", "etag"),
    ];
    for (name, value) in allow {
        headers.insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

fn json_response(status: u16, body: serde_json::Value) -> Response {
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

/// The gateway's own refusals, rendered as every function renders its errors.
fn problem(error: ApiError) -> Response {
    if let ApiError::Internal(cause) = &error {
        tracing::error!(%cause, "local server failure");
    }
    to_axum(error.into_response())
}

fn to_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    // An upload to a presigned link is a file, as large as S3 would take from the frontend.
    let upload = parts.method == axum::http::Method::PUT && parts.uri.path().starts_with("/files/");
    let limit = if upload { MAX_UPLOAD } else { MAX_BODY };
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return problem(ApiError::PayloadTooLarge { limit_bytes: limit });
    };
    if upload {
        return presigned_upload(&gateway, &parts, body.to_vec()).await;
    }
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    match (method.as_str(), path.as_str()) {
        ("OPTIONS", _) => return axum::http::StatusCode::NO_CONTENT.into_response(),
        ("GET", "/health") => {
            return json_response(
                200,
                json!({"status": "ok", "workers": gateway.workers, "schedules": gateway.schedules}),
            );
        }
        ("POST", "/dev/token") => return dev_token(&gateway, peer, &body).await,
        ("POST", "/dev/channel") => return dev_channel(&gateway, peer, &body).await,
        ("GET", "/dev/outbox") => return json_response(200, gateway.fake_graph.outbox()),
        // Emails carry invite codes: shown to this machine only.
        ("GET", "/dev/mail") if peer.ip().is_loopback() => return dev_mail(&gateway),
        (method, p)
            if (p.starts_with("/dev/graph/") || p.starts_with("/dev/tiktok/")) && peer.ip().is_loopback() =>
        {
            let (status, answer) = gateway.fake_graph.answer(method, p, &body);
            return json_response(status, answer);
        }
        ("GET", p) if p.starts_with("/files/") => return presigned_file(&gateway, &parts.uri).await,
        _ => {}
    }

    let candidates = gateway.functions.iter().flat_map(|f| f.routes().iter().map(move |r| (r, f)));
    let (route, function, params) = match Route::most_specific(candidates, &method, &path) {
        Ok(found) => (found.route, found.served_by, found.params),
        Err(e) => return problem(e),
    };

    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
    let claims = match route.access {
        Access::Public => None,
        _ => match token::verify(&gateway.jwt_secret, &gateway.jwt, authorization) {
            Some(claims) => Some(claims),
            // API Gateway's own answer when the JWT authorizer refuses a request: not
            // problem+json, and documented as such in the OpenAPI document.
            None => return json_response(401, json!({"message": "Unauthorized"})),
        },
    };

    let request_id = ulid::Ulid::new().to_string();
    let user_agent =
        parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let claims = claims.map(|c| Claims {
        sub: c.sub,
        // As `Claims::from_request` reads API Gateway's claims: an unverified email is none.
        email: c.email.filter(|_| {
            !matches!(&c.email_verified, Some(serde_json::Value::Bool(false)))
                && !matches!(&c.email_verified, Some(serde_json::Value::String(v)) if v.eq_ignore_ascii_case("false"))
        }),
        session: c.jti.or_else(|| Some(c.iat.to_string())),
    });
    let source_ip = peer.ip().to_string();
    let context = GatewayContext {
        route_key: &route.key,
        request_id: &request_id,
        method: &method,
        path: &path,
        source_ip: &source_ip,
        user_agent: &user_agent,
        claims: claims.as_ref(),
    }
    .build();
    let context = match context {
        Ok(context) => context,
        Err(e) => return problem(ApiError::Internal(format!("cannot build the request context: {e}"))),
    };
    let query: HashMap<String, String> =
        parts.uri.query().map(|q| url_pairs(q).into_iter().collect()).unwrap_or_default();

    let lambda_body = if body.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => lambda_http::Body::Text(text),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    };
    let mut builder = http::Request::builder().method(parts.method.clone()).uri(parts.uri.clone());
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(lambda_body) else {
        return problem(ApiError::bad_request("malformed request"));
    };
    let request = request
        .with_request_context(context)
        .with_path_parameters(params)
        .with_query_string_parameters(query);

    to_axum(serve(function.as_ref(), request).await)
}

/// `a=1&b=x%20y` as pairs, percent-decoded, `+` as space (as API Gateway decodes them).
fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => Some((hi * 16 + lo) as u8),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn dev_token(gateway: &Gateway, peer: SocketAddr, body: &[u8]) -> Response {
    // Tokens for anyone, by design: only ever on a server bound to this machine.
    if !gateway.loopback || !peer.ip().is_loopback() {
        return problem(ApiError::Forbidden("/dev/token is served only on a loopback address".into()));
    }
    #[derive(serde::Deserialize)]
    struct Ask {
        /// Without one, the token of someone who belongs to no business yet (to sign up, or
        /// to accept an invite).
        #[serde(default)]
        tenant_id: Option<String>,
        email: String,
        #[serde(default)]
        role: Option<String>,
    }
    let ask: Ask = match serde_json::from_slice(body) {
        Ok(ask) => ask,
        Err(e) => {
            return problem(ApiError::bad_request(format!(
                "send {{\"tenant_id\", \"email\", \"role\"}}: {e}"
            )));
        }
    };
    let role = match ask.role.as_deref() {
        None => Role::Owner,
        Some(r) => match Role::parse(r) {
            Some(role) => role,
            None => {
                return problem(ApiError::invalid_field(
                    "role",
                    "must be owner, admin, manager, agent or viewer",
                ));
            }
        },
    };
    if ask.tenant_id.as_deref().is_some_and(|t| gestor_shared::domain::TenantId::parse(t).is_err()) {
        return problem(ApiError::invalid_field("tenant_id", "must be 3 to 64 letters, digits, '-' or '_'"));
    }
    if gestor_shared::domain::Email::parse(&ask.email).is_err() {
        return problem(ApiError::invalid_field("email", "is not a valid address"));
    }
    let issued = match &ask.tenant_id {
        Some(tenant) => gateway.dev_token(tenant, &ask.email, role).await,
        None => gateway.user_token(&ask.email),
    };
    match issued {
        Ok(token) => json_response(200, json!({"token": token})),
        Err(e) => {
            tracing::error!(cause = %e, "dev token not issued");
            problem(ApiError::Internal("the token could not be issued".into()))
        }
    }
}

/// Connects a channel account without asking the channel's API whether the token reaches it:
/// on a laptop there is no Graph API to ask. Served only on loopback, like `/dev/token`.
async fn dev_channel(gateway: &Gateway, peer: SocketAddr, body: &[u8]) -> Response {
    if !gateway.loopback || !peer.ip().is_loopback() {
        return problem(ApiError::Forbidden("/dev/channel is served only on a loopback address".into()));
    }
    #[derive(serde::Deserialize)]
    struct Ask {
        tenant_id: String,
        kind: gestor_shared::inbound::Channel,
        external_id: String,
    }
    let ask: Ask = match serde_json::from_slice(body) {
        Ok(ask) => ask,
        Err(e) => {
            return problem(ApiError::bad_request(format!(
                "send {{\"tenant_id\", \"kind\", \"external_id\"}}: {e}"
            )));
        }
    };
    let Ok(tenant) = gestor_shared::domain::TenantId::parse(&ask.tenant_id) else {
        return problem(ApiError::invalid_field("tenant_id", "must be 3 to 64 letters, digits, '-' or '_'"));
    };
    let token = gestor_shared::crypto::Secret::new("local-development-token");
    // No subscriber note: nothing subscribes the app to a development channel's Graph object.
    match gateway
        .channels
        .connect(&tenant, ask.kind, &ask.external_id, &ask.external_id, &token, &gateway.cipher, None)
        .await
    {
        Ok(Connection::Connected(account) | Connection::Refreshed(account)) => {
            json_response(201, serde_json::to_value(account).unwrap_or_default())
        }
        Err(e) => problem(ApiError::from(e)),
    }
}

async fn presigned_file(gateway: &Gateway, uri: &axum::http::Uri) -> Response {
    let Some(files) = &gateway.files else {
        return problem(ApiError::NotFound);
    };
    let key = percent_decode(uri.path().trim_start_matches("/files/"));
    let query: HashMap<String, String> =
        uri.query().map(|q| url_pairs(q).into_iter().collect()).unwrap_or_default();
    let (Some(expires), Some(signature)) = (query.get("expires"), query.get("signature")) else {
        return problem(ApiError::Forbidden("this URL is not signed".into()));
    };
    match files.open_presigned(&key, expires, signature, std::time::SystemTime::now()) {
        Ok(object) => {
            let content_type = object.content_type.unwrap_or_else(|| "application/octet-stream".into());
            ([("content-type", content_type)], object.bytes).into_response()
        }
        Err(gestor_shared::adapters::local_files::PresignedError::File(
            gestor_shared::ports::FileError::NotFound,
        )) => problem(ApiError::NotFound),
        Err(_) => problem(ApiError::Forbidden("this URL is expired or not valid".into())),
    }
}

/// A PUT to a link `POST /v1/uploads` gave, as S3 takes it: with the signed content type.
async fn presigned_upload(gateway: &Gateway, parts: &axum::http::request::Parts, bytes: Vec<u8>) -> Response {
    let Some(files) = &gateway.files else {
        return problem(ApiError::NotFound);
    };
    let key = percent_decode(parts.uri.path().trim_start_matches("/files/"));
    let query: HashMap<String, String> =
        parts.uri.query().map(|q| url_pairs(q).into_iter().collect()).unwrap_or_default();
    let (Some(expires), Some(signature)) = (query.get("expires"), query.get("signature")) else {
        return problem(ApiError::Forbidden("this URL is not signed".into()));
    };
    let content_type =
        parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = std::time::SystemTime::now();
    match files.accept_presigned_put(&key, expires, signature, content_type, bytes, now).await {
        Ok(()) => axum::http::StatusCode::OK.into_response(),
        Err(gestor_shared::adapters::local_files::PresignedError::File(e)) => {
            problem(ApiError::Internal(format!("storing an upload: {e}")))
        }
        Err(_) => problem(ApiError::Forbidden(
            "this URL is expired, not valid, or was made for another Content-Type".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_like_api_gateway() {
        assert_eq!(
            url_pairs("q=Jos%C3%A9+P&tag=vip"),
            vec![("q".into(), "José P".into()), ("tag".into(), "vip".into())]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
