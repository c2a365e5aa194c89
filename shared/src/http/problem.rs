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
    /// It existed and is no more, for good (an export past its expiry).
    #[error("gone: {0}")]
    Gone(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large (limit {limit_bytes} bytes)")]
    PayloadTooLarge { limit_bytes: usize },
    /// A webhook delivery whose signature is missing or does not match its body.
    #[error("bad signature")]
    BadSignature,
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("throttled")]
    TooManyRequests { retry_after_secs: u32 },
    /// A dependency failed or is busy: `what` names its kind for the client ("storage", "the
    /// channel's API"); `cause` is logged, never answered.
    #[error("{what} unavailable: {cause}")]
    Unavailable { what: &'static str, cause: String },
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

/// What API Gateway's JWT authorizer answers, as `application/json`, to a request without a
/// valid token on an authenticated route: no function runs, so it is not a problem document.
/// The local server answers the same.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GatewayUnauthorized {
    /// Always `Unauthorized`.
    pub message: String,
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

    /// Storage (the table, the queues, the bucket) failed or is throttled.
    pub fn storage(cause: impl std::fmt::Display) -> Self {
        Self::Unavailable { what: "storage", cause: cause.to_string() }
    }

    /// The channel's API (Graph, TikTok) failed, timed out or is throttled.
    pub fn channel_api(cause: impl std::fmt::Display) -> Self {
        Self::Unavailable { what: "the channel's API", cause: cause.to_string() }
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
            Self::Gone(_) => 410,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge { .. } => 413,
            Self::BadSignature => 401,
            Self::Unprocessable(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Unavailable { .. } => 503,
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
            Self::Gone(detail) => ("gone", "Gone", detail.clone(), vec![]),
            Self::PreconditionFailed => (
                "precondition-failed",
                "Precondition failed",
                "the resource has changed: its version no longer matches If-Match".to_owned(),
                vec![],
            ),
            Self::PayloadTooLarge { limit_bytes } => (
                "payload-too-large",
                "Payload too large",
                format!("the request body is larger than the {} this route accepts", size(*limit_bytes)),
                vec![],
            ),
            Self::BadSignature => (
                "bad-signature",
                "Bad signature",
                "the delivery's signature is missing or does not match its body".to_owned(),
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
            Self::Unavailable { what, .. } => (
                "unavailable",
                "Service unavailable",
                format!("{what} is unavailable or busy; retry shortly"),
                vec![],
            ),
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
        if let Self::Unavailable { .. } = &self {
            builder = builder.header("retry-after", "1");
        }
        builder.body(Body::from(body)).unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// `262144` as "256 KB", `10485760` as "10 MB".
fn size(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

impl From<crate::repo::channels::ChannelError> for ApiError {
    fn from(error: crate::repo::channels::ChannelError) -> Self {
        use crate::repo::channels::ChannelError;
        match error {
            ChannelError::Taken => Self::Conflict {
                detail: "this channel account is connected to another business".into(),
                errors: vec![FieldError::new("external_id", "is connected to another business")],
            },
            ChannelError::Contention => {
                Self::conflict("the channel account is being changed by other requests; retry")
            }
            ChannelError::Crypto(e) => Self::Internal(format!("token encryption: {e}")),
            ChannelError::Table(e) => e.into(),
        }
    }
}

impl From<crate::repo::messages::MessageError> for ApiError {
    fn from(error: crate::repo::messages::MessageError) -> Self {
        use crate::repo::messages::MessageError;
        match error {
            MessageError::ConversationMissing => Self::NotFound,
            MessageError::Busy => Self::conflict("the conversation is changing too fast; retry"),
            MessageError::Table(e) => e.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        match e {
            // A transaction cancelled without a condition the caller handles collided with a
            // concurrent one (DynamoDB's TransactionConflict): passing, like a throttle.
            TableError::Throttled | TableError::TransactionCanceled { .. } => Self::storage(e),
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
    fn limits_and_dependencies_are_named_without_internals() {
        let too_large = ApiError::PayloadTooLarge { limit_bytes: 256 * 1024 }.problem();
        assert!(too_large.detail.contains("256 KB"), "{}", too_large.detail);
        let busy = ApiError::storage("ProvisionedThroughputExceeded on table gestor").problem();
        assert_eq!(busy.status, 503);
        assert!(busy.detail.starts_with("storage ") && !busy.detail.contains("gestor"));
        let channel = ApiError::channel_api("graph.facebook.com timed out").problem();
        assert!(channel.detail.starts_with("the channel's API") && !channel.detail.contains("graph"));
    }

    #[test]
    fn validation_errors_list_fields() {
        let response = ApiError::invalid_field("phones[0]", "must be E.164").into_response();
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        assert_eq!(body["status"], 400);
        assert_eq!(body["errors"][0]["field"], "phones[0]");
    }
}
