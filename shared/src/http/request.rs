//! What a handler reads of a request: the caller, path and query parameters, headers, and the
//! JSON body, parsed with clear errors.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;

use super::auth::{Caller, Claims};
use super::problem::ApiError;

/// Bodies above this are refused with 413 before parsing (API Gateway allows 10 MB; no CRM
/// write needs more than this).
pub const MAX_JSON_BODY: usize = 256 * 1024;

#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub route_key: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    pub fn of(req: &Request) -> Self {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut meta = Self { user_agent: header("user-agent"), ..Self::default() };
        if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
            meta.request_id = ctx.request_id.clone();
            meta.route_key = ctx.route_key.clone();
            meta.source_ip = ctx.http.source_ip.clone();
            if ctx.http.user_agent.is_some() {
                meta.user_agent = ctx.http.user_agent.clone();
            }
        }
        meta
    }
}

/// One authenticated (or public) call of a route, as a handler sees it.
pub struct Call {
    /// `None` on public routes, and on a user route when no tenant resolves.
    pub caller: Option<Caller>,
    /// The verified token's claims, whenever the request carries them.
    pub claims: Option<Claims>,
    pub meta: RequestMeta,
    pub path: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Call {
    pub fn from_request(req: &Request, caller: Option<Caller>) -> Self {
        let path = req
            .path_parameters_ref()
            .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
            .unwrap_or_default();
        let query = req
            .query_string_parameters_ref()
            .map(|q| q.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
            .unwrap_or_default();
        let body = match req.body() {
            Body::Empty => Vec::new(),
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Binary(b) => b.clone(),
            _ => Vec::new(),
        };
        let claims = match &caller {
            Some(caller) => Some(caller.claims.clone()),
            None => Claims::from_request(req),
        };
        Self { caller, claims, meta: RequestMeta::of(req), path, query, headers: req.headers().clone(), body }
    }

    /// The caller of an authenticated route.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or(ApiError::Unauthorized)
    }

    pub fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path.get(name).map(String::as_str).ok_or(ApiError::NotFound)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `limit` (default 50, 1 to 200) and the raw `cursor` of a list request.
    pub fn page_params(&self) -> Result<(usize, Option<&str>), ApiError> {
        let limit = match self.query_param("limit") {
            None => 50,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=200).contains(&n) => n,
                _ => return Err(ApiError::invalid_field("limit", "must be a whole number from 1 to 200")),
            },
        };
        Ok((limit, self.query_param("cursor")))
    }

    /// The body as a JSON object: 413 when too large, 400 when not a JSON object. The
    /// content type is not enforced: a JSON body sent as `curl -d` sends it is still JSON.
    pub fn json_object(&self) -> Result<Map<String, Value>, ApiError> {
        if self.body.len() > MAX_JSON_BODY {
            return Err(ApiError::PayloadTooLarge { limit_bytes: MAX_JSON_BODY });
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("the request needs a JSON object body"));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("the body is not valid JSON: {e}"))),
        }
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let object = self.json_object()?;
        serde_json::from_value(Value::Object(object)).map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// The version required by `If-Match: "<version>"`, if the header is present.
    pub fn if_match(&self) -> Result<Option<u64>, ApiError> {
        let Some(raw) = self.header("if-match") else { return Ok(None) };
        // `*` matches whatever version exists (RFC 9110): no condition beyond existence.
        if raw.trim() == "*" {
            return Ok(None);
        }
        let trimmed = raw.trim().trim_start_matches("W/").trim_matches('"');
        trimmed
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::invalid_field("If-Match", "must be an ETag this API gave, such as \"3\""))
    }
}
