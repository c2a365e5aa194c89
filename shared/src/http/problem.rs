//! The one error type at the HTTP edge. Every failure a function answers is rendered here as
//! `application/problem+json` (RFC 9457), and internal details never reach the body.

use lambda_http::{Body, Response};
use serde::Serialize;

use crate::ports::{FileError, QueueError, TableError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The offending field, as a JSON path (`phones[1]`, `attributes.size`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {detail}")]
    BadRequest { detail: String, errors: Vec<FieldError> },
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {detail}")]
    Conflict { detail: String, errors: Vec<FieldError> },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("throttled")]
    TooManyRequests { retry_after_secs: u32 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A failure of ours or of a backend: logged with its cause, answered without it.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest { detail: detail.into(), errors: Vec::new() }
    }

    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        Self::BadRequest { detail: "some fields are invalid".into(), errors }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError::new(field, message)])
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict { detail: detail.into(), errors: Vec::new() }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict { .. } => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::Unprocessable(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The body to answer: what the client may know, never the internal cause.
    pub fn problem(&self) -> Problem {
        let (slug, title, detail, errors) = match self {
            Self::BadRequest { detail, errors } => {
                ("invalid-request", "Invalid request", detail.clone(), errors.clone())
            }
            Self::Unauthorized => (
                "unauthorized",
                "Authentication required",
                "a valid bearer token is required".to_owned(),
                vec![],
            ),
            Self::Forbidden(detail) => ("forbidden", "Forbidden", detail.clone(), vec![]),
            Self::NotFound => ("not-found", "Not found", "no such resource".to_owned(), vec![]),
            Self::MethodNotAllowed => (
                "method-not-allowed",
                "Method not allowed",
                "this route does not accept that method".to_owned(),
                vec![],
            ),
            Self::Conflict { detail, errors } => ("conflict", "Conflict", detail.clone(), errors.clone()),
            Self::PreconditionFailed => (
                "precondition-failed",
                "Precondition failed",
                "the resource has changed: its version no longer matches If-Match".to_owned(),
                vec![],
            ),
            Self::PayloadTooLarge => (
                "payload-too-large",
                "Payload too large",
                "the request body is larger than this route accepts".to_owned(),
                vec![],
            ),
            Self::Unprocessable(detail) => {
                ("unprocessable", "Refused by a business rule", detail.clone(), vec![])
            }
            Self::TooManyRequests { .. } => (
                "throttled",
                "Too many requests",
                "slow down and retry after the time given in Retry-After".to_owned(),
                vec![],
            ),
            Self::Unavailable(_) => {
                ("unavailable", "Service unavailable", "a backend is busy; retry shortly".to_owned(), vec![])
            }
            Self::Internal(_) => (
                "internal",
                "Internal error",
                "something failed on our side; it has been logged".to_owned(),
                vec![],
            ),
        };
        Problem {
            kind: format!("https://gestordigital.mx/problems/{slug}"),
            title: title.to_owned(),
            status: self.status(),
            detail,
            errors,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let body = serde_json::to_string(&self.problem()).unwrap_or_default();
        let mut builder =
            Response::builder().status(status).header("content-type", "application/problem+json");
        if let Self::TooManyRequests { retry_after_secs } = &self {
            builder = builder.header("retry-after", retry_after_secs.to_string());
        }
        if let Self::Unavailable(_) = &self {
            builder = builder.header("retry-after", "1");
        }
        builder.body(Body::from(body)).unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        match e {
            TableError::Throttled => Self::Unavailable(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::NotFound => Self::NotFound,
            other => Self::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let response = ApiError::Internal("dynamodb said: table gestor secret".into()).into_response();
        assert_eq!(response.status(), 500);
        let body = String::from_utf8_lossy(response.body().as_ref()).to_string();
        assert!(!body.contains("secret"));
        assert_eq!(
            response.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }

    #[test]
    fn validation_errors_list_fields() {
        let response = ApiError::invalid_field("phones[0]", "must be E.164").into_response();
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        assert_eq!(body["status"], 400);
        assert_eq!(body["errors"][0]["field"], "phones[0]");
    }
}
