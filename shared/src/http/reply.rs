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
}

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Self {
            status,
            body: Some(body),
            etag: None,
            resource_id: None,
            changed_fields: None,
            subject: None,
        })
    }

    pub fn ok(body: &impl Serialize) -> Result<Self, ApiError> {
        Self::json(200, body)
    }

    pub fn created(body: &impl Serialize) -> Result<Self, ApiError> {
        Self::json(201, body)
    }

    pub fn no_content() -> Self {
        Self { status: 204, body: None, etag: None, resource_id: None, changed_fields: None, subject: None }
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
        self.body.as_ref().map(Value::to_string).unwrap_or_default()
    }

    pub fn into_response(self) -> Response<Body> {
        response(self.status, self.body_text(), self.etag.as_deref())
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
