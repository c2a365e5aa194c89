//! Helpers for handler tests: an embedded table in a temporary folder, and API Gateway
//! requests built the way the HTTP API hands them to a function (route key, path and query
//! parameters, JWT claims in the request context).

pub mod doubles;

use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::adapters::{embedded, embedded_table::EmbeddedTable};
use crate::domain::TenantId;
use crate::http::auth::{Claims, GatewayContext};
use crate::http::{Core, Role};
use crate::ports::Table;
use crate::settings::Settings;

/// A core over a fresh embedded table; keep the folder alive as long as the core.
pub fn embedded_core() -> (Core, tempfile::TempDir) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("no temporary folder: {e}"),
    };
    let table: Arc<dyn Table> = match embedded::open(&dir.path().join("t.redb")).map(EmbeddedTable::new) {
        Ok(Ok(table)) => Arc::new(table),
        _ => panic!("cannot open an embedded table"),
    };
    match Core::new(table, &Settings::local_with(|_| None)) {
        Ok(core) => (core, dir),
        Err(e) => panic!("{e}"),
    }
}

/// A member of a tenant with a role, created if missing; answers the `sub` to call as.
pub async fn member(core: &Core, tenant: &str, email: &str, role: Role) -> String {
    let tenant = match TenantId::parse(tenant) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let sub = format!("sub-{email}");
    if let Err(e) = core.members.ensure_member(&tenant, &sub, email, role).await {
        panic!("{e}");
    }
    sub
}

/// A request as API Gateway would deliver it for `route_key` (`"PATCH /v1/contacts/{id}"`).
pub struct ApiRequest {
    route_key: &'static str,
    path: String,
    params: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    claims: Option<(String, String)>,
}

impl ApiRequest {
    pub fn new(route_key: &'static str) -> Self {
        let path = route_key.split_once(' ').map(|(_, p)| p).unwrap_or(route_key).to_owned();
        Self {
            route_key,
            path,
            params: HashMap::new(),
            query: HashMap::new(),
            headers: Vec::new(),
            body: None,
            claims: None,
        }
    }

    /// Fills a path parameter, in the path and in the parameters.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.path = self.path.replace(&format!("{{{name}}}"), value);
        self.params.insert(name.into(), value.into());
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self.headers.push(("content-type".into(), "application/json".into()));
        self
    }

    pub fn raw_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Signed in as this user (the claims API Gateway's JWT authorizer would pass).
    pub fn as_user(mut self, sub: &str) -> Self {
        self.claims = Some((sub.into(), format!("{sub}@example.com")));
        self
    }

    pub fn build(self) -> Request {
        let method = self.route_key.split_once(' ').map(|(m, _)| m).unwrap_or("GET");
        let claims =
            self.claims.as_ref().map(|(sub, email)| Claims { sub: sub.clone(), email: Some(email.clone()) });
        let request_id = format!("req-{}", ulid::Ulid::new());
        let context = GatewayContext {
            route_key: self.route_key,
            request_id: &request_id,
            method,
            path: &self.path,
            source_ip: "203.0.113.7",
            user_agent: "handler-test",
            claims: claims.as_ref(),
        }
        .build()
        .unwrap_or_else(|e| panic!("request context: {e}"));
        let mut builder = http::Request::builder().method(method).uri(self.path.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let body = self.body.map(Body::Text).unwrap_or(Body::Empty);
        match builder.body(body) {
            Ok(req) => req
                .with_request_context(context)
                .with_path_parameters(self.params)
                .with_query_string_parameters(self.query),
            Err(e) => panic!("request: {e}"),
        }
    }
}

/// The status and JSON body of a response.
pub fn answer(response: lambda_http::Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}
