//! `POST /v1/uploads`: a link the frontend PUTs a file to, straight into the tenant's prefix
//! of the bucket (the file never passes through a function), and the `file_id` a reply then
//! sends it by.

use gestor_shared::domain::outgoing_media::{self, MAX_UPLOAD};
use gestor_shared::http::{ApiError, Call, FieldError, Reply};
use gestor_shared::ids::FileId;
use gestor_shared::repo::uploads::Upload;
use gestor_shared::resources::UPLOAD_TAG;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

use crate::Conversations;

/// How long the upload link works.
const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Longest file name kept (WhatsApp shows it on a document).
const MAX_FILENAME: usize = 240;

/// The file the frontend is about to upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NewUpload {
    /// One of the types some channel takes (`image/jpeg`, `image/png`, `video/mp4`,
    /// `audio/ogg`, `application/pdf` ...); the PUT must send it as its `Content-Type`.
    content_type: String,
    /// In bytes, at most 100 MB; each channel's own limit is checked when it is sent.
    size: u64,
    /// Shown to the customer with a document.
    filename: Option<String>,
}

/// Where to PUT the file, and how.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadLink {
    /// `file_...`: send it with `{"media": {"file_id"}}` once the PUT has succeeded.
    file_id: String,
    upload_url: String,
    /// Always `PUT`.
    method: &'static str,
    /// Headers the PUT must carry (the signature covers them).
    headers: BTreeMap<&'static str, String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
}

fn parse(body: &Map<String, Value>) -> Result<(String, u64, Option<String>), ApiError> {
    let mut errors = Vec::new();
    if let Some(unknown) = body.keys().find(|k| !["content_type", "size", "filename"].contains(&k.as_str())) {
        errors.push(FieldError::new(unknown.clone(), "is not a field of an upload"));
    }
    let content_type = body.get("content_type").and_then(Value::as_str).map(outgoing_media::essence);
    let content_type = match content_type {
        Some(t) if outgoing_media::kind_of(&t).is_some() => t,
        _ => {
            let types: Vec<&str> = outgoing_media::content_types().collect();
            errors.push(FieldError::new("content_type", format!("must be one of {}", types.join(", "))));
            String::new()
        }
    };
    let size = match body.get("size").and_then(Value::as_u64) {
        Some(size) if (1..=MAX_UPLOAD).contains(&size) => size,
        _ => {
            errors.push(FieldError::new(
                "size",
                format!("must be the file's size in bytes, 1 to {MAX_UPLOAD}"),
            ));
            0
        }
    };
    let filename = match body.get("filename") {
        None | Some(Value::Null) => None,
        Some(Value::String(name))
            if !name.trim().is_empty()
                && name.chars().count() <= MAX_FILENAME
                && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\') =>
        {
            Some(name.trim().to_owned())
        }
        Some(_) => {
            errors.push(FieldError::new(
                "filename",
                format!("must be a file name of at most {MAX_FILENAME} characters, without / or \\"),
            ));
            None
        }
    };
    if errors.is_empty() { Ok((content_type, size, filename)) } else { Err(ApiError::invalid_fields(errors)) }
}

/// Announce a file to send: answers a presigned `PUT` link (15 minutes) into the tenant's
/// part of the bucket, the headers the PUT must carry (the body must be exactly `size`
/// bytes), and the `file_id` to send it by; the file is kept 30 days. Send it with
/// `{"media": {"file_id", "caption"}}` on `POST /v1/conversations/{id}/messages`.
#[utoipa::path(
    post, path = "/v1/uploads", tag = "conversations",
    request_body = NewUpload,
    responses(
        (status = 201, body = UploadLink, description = "PUT the file to `upload_url` with `headers`"),
    )
)]
pub async fn create(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let (content_type, size, filename) = parse(&call.json_object()?)?;
    let now = OffsetDateTime::now_utc();
    let upload = Upload {
        id: FileId::new(),
        content_type: content_type.clone(),
        size,
        filename,
        created_by: caller.member.id.clone(),
        created_at: now,
    };
    let upload_url = app
        .files
        .presigned_put(&upload.object_key(&caller.tenant), &content_type, size, LINK_LIFETIME)
        .await?;
    app.uploads.create(&caller.tenant, &upload).await?;
    let link = UploadLink {
        file_id: upload.id.to_string(),
        upload_url,
        method: "PUT",
        headers: BTreeMap::from([
            ("Content-Type", content_type),
            ("x-amz-tagging", format!("{}={}", UPLOAD_TAG.0, UPLOAD_TAG.1)),
        ]),
        expires_at: now + LINK_LIFETIME,
    };
    Ok(Reply::created(&link)?.resource(upload.id.as_str()))
}
