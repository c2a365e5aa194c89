//! What a handler answers: a status and JSON body, plus what the dispatcher needs to audit
//! the change and to store the answer for an idempotent retry.

use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

use super::problem::ApiError;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub etag: Option<String>,
    /// The resource acted on, for the audit entry (defaults to the `id` path parameter).
    pub resource_id: Option<String>,
    /// Names of the fields changed, for the audit entry (defaults to the body's top-level
    /// field names).
    pub changed_fields: Option<Vec<String>>,
    /// Whose personal data the answer holds (a contact or member id), so that a stored
    /// idempotent answer is found and erased with the rest of that person's data.
    pub subject: Option<String>,
    /// A body that is not built here (a handshake's challenge, the committed OpenAPI
    /// document), with its content type.
    pub raw: Option<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            etag: None,
            resource_id: None,
            changed_fields: None,
            subject: None,
            raw: None,
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Self { body: Some(body), ..Self::empty(status) })
    }

    pub fn ok(body: &impl Serialize) -> Result<Self, ApiError> {
        Self::json(200, body)
    }

    pub fn created(body: &impl Serialize) -> Result<Self, ApiError> {
        Self::json(201, body)
    }

    pub fn no_content() -> Self {
        Self::empty(204)
    }

    /// A body answered as it is, under `content_type`, with sniffing forbidden (it may echo
    /// what the request carried).
    pub fn raw(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self { raw: Some((content_type, body.into())), ..Self::empty(status) }
            .header("x-content-type-options", "nosniff")
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn version(mut self, version: u64) -> Self {
        self.etag = Some(format!("\"{version}\""));
        self
    }

    pub fn resource(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    pub fn changed(mut self, fields: Vec<String>) -> Self {
        self.changed_fields = Some(fields);
        self
    }

    pub fn subject(mut self, id: impl Into<String>) -> Self {
        self.subject = Some(id.into());
        self
    }

    pub fn body_text(&self) -> String {
        match &self.raw {
            Some((_, text)) => text.clone(),
            None => self.body.as_ref().map(Value::to_string).unwrap_or_default(),
        }
    }

    pub fn into_response(mut self) -> Response<Body> {
        let mut response = match self.raw.take() {
            Some((content_type, text)) => Response::builder()
                .status(self.status)
                .header("content-type", content_type)
                .body(Body::from(text))
                .unwrap_or_else(|_| Response::new(Body::Empty)),
            None => response(self.status, self.body_text(), self.etag.as_deref()),
        };
        for (name, value) in self.headers {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

pub fn response(status: u16, body: String, etag: Option<&str>) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    if let Some(etag) = etag {
        builder = builder.header("etag", etag);
    }
    let body = if body.is_empty() { Body::Empty } else { Body::from(body) };
    builder.body(body).unwrap_or_else(|_| Response::new(Body::Empty))
}
