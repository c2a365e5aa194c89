//! A reply with a file: `{"media": {"file_id" | "url", "caption"}}`. An uploaded file is
//! checked against the channel here, from what its upload announced and what the bucket
//! holds; a file by URL is fetched by the sender (through the same guarded fetch as inbound
//! media), and checked again there once its real type and size are known.

use gestor_shared::domain::TenantId;
use gestor_shared::domain::outgoing_media::{self, MediaRefusal};
use gestor_shared::domain::{Channel, MessageKind};
use gestor_shared::fetch_guard::FetchPolicy;
use gestor_shared::http::ApiError;
use gestor_shared::ids::{FileId, MessageId};
use gestor_shared::ports::FileError;
use gestor_shared::repo::messages::{Media, media_file_key};
use gestor_shared::repo::uploads::{Upload, object_key, record_key};
use serde_json::{Map, Value, json};

use crate::Conversations;

/// WhatsApp's longest caption.
const MAX_CAPTION: usize = 1_024;
const MAX_URL: usize = 2_048;

/// Where the file comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File(FileId),
    Url(String),
}

/// The `media` object, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRequest {
    pub source: Source,
    pub caption: Option<String>,
}

/// What is known of the file before sending: for an upload, its type, size and name; for a
/// URL, the type its name suggests, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub content_type: Option<String>,
    pub size: u64,
    pub filename: Option<String>,
}

pub fn parse(media: &Value) -> Result<MediaRequest, ApiError> {
    let Value::Object(media) = media else {
        return Err(ApiError::invalid_field(
            "media",
            "must be an object: {\"file_id\" | \"url\", \"caption\"}",
        ));
    };
    if let Some(unknown) = media.keys().find(|k| !["file_id", "url", "caption"].contains(&k.as_str())) {
        return Err(ApiError::invalid_field(format!("media.{unknown}"), "is not a field of media"));
    }
    let caption = match media.get("caption") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.trim().is_empty() => None,
        Some(Value::String(c)) if c.trim().chars().count() <= MAX_CAPTION => Some(c.trim().to_owned()),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "media.caption",
                format!("must be a text of at most {MAX_CAPTION} characters"),
            ));
        }
    };
    let source = match (media.get("file_id"), media.get("url")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field("media", "takes `file_id` or `url`, not both"));
        }
        (Some(Value::String(id)), None) => Source::File(
            FileId::parse(id)
                .map_err(|_| ApiError::invalid_field("media.file_id", "must be a file id (file_...)"))?,
        ),
        (None, Some(Value::String(url))) => Source::Url(https_url(url)?),
        (Some(_), None) => {
            return Err(ApiError::invalid_field("media.file_id", "must be a file id (file_...)"));
        }
        (None, Some(_)) => return Err(ApiError::invalid_field("media.url", "must be an https URL")),
        (None, None) => {
            return Err(ApiError::invalid_field("media", "needs `file_id` (from POST /v1/uploads) or `url`"));
        }
    };
    Ok(MediaRequest { source, caption })
}

fn https_url(raw: &str) -> Result<String, ApiError> {
    let bad =
        || ApiError::invalid_field("media.url", "must be an https URL of a public file, without credentials");
    let uri: lambda_http::http::Uri = raw.parse().map_err(|_| bad())?;
    // An address the sender would never fetch is refused now (a name is checked by the
    // sender once resolved).
    let public = FetchPolicy::media(false);
    let host_ok = uri.host().is_some_and(|h| {
        let bare = h.trim_start_matches('[').trim_end_matches(']');
        !h.is_empty()
            && !h.eq_ignore_ascii_case("localhost")
            && bare.parse::<std::net::IpAddr>().ok().is_none_or(|ip| public.allows(ip))
    });
    let userinfo = uri.authority().is_some_and(|a| a.as_str().contains('@'));
    if uri.scheme_str() != Some("https") || !host_ok || userinfo || raw.len() > MAX_URL {
        return Err(bad());
    }
    Ok(raw.to_owned())
}

/// The file name a URL ends with, decoded enough to show.
fn name_in(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().filter(|s| !s.is_empty() && s.contains('.'))?;
    Some(last.replace("%20", " ").chars().filter(|c| !c.is_control()).take(240).collect())
}

/// The type a URL's file name suggests.
fn type_by_name(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let extension = path.rsplit('/').next()?.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "m4a" => "audio/mp4",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => return None,
    })
}

/// The upload's record to read with the conversation, for a file by `file_id`.
pub fn record(tenant: &TenantId, request: &MediaRequest) -> Option<gestor_shared::ports::Key> {
    match &request.source {
        Source::File(id) => Some(record_key(tenant, id)),
        Source::Url(_) => None,
    }
}

/// The file's name from its upload's record; the record must be there.
pub fn with_record(known: &Known, record: Option<&gestor_shared::ports::Item>) -> Result<Known, ApiError> {
    let Some(item) = record else {
        return Err(ApiError::invalid_field("media.file_id", "is not a file uploaded to this business"));
    };
    let upload = Upload::from_item(item.clone())?;
    Ok(Known { filename: upload.filename, ..known.clone() })
}

/// What the bucket says of the file (an upload), or its link's name (a URL).
pub async fn known(
    app: &Conversations,
    tenant: &TenantId,
    request: &MediaRequest,
) -> Result<Known, ApiError> {
    match &request.source {
        Source::Url(url) => {
            Ok(Known { content_type: type_by_name(url).map(str::to_owned), size: 0, filename: None })
        }
        Source::File(id) => {
            // The bucket holds the type and size the upload link signed; the record (read
            // with the conversation) adds the name.
            let object = match app.files.head(&object_key(tenant, id)).await {
                Ok(object) => object,
                Err(FileError::NotFound) => {
                    return Err(ApiError::invalid_field(
                        "media.file_id",
                        "names no file uploaded to this business: PUT the file to its upload link first",
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            Ok(Known { content_type: object.content_type, size: object.size, filename: None })
        }
    }
}

/// The message kind, media and details of the reply `id` on `channel`, or the channel's
/// refusal as a 422.
pub fn compose(
    tenant: &TenantId,
    id: &MessageId,
    channel: Channel,
    request: &MediaRequest,
    known: &Known,
) -> Result<(MessageKind, Media, Value), ApiError> {
    let refused = |r: MediaRefusal| ApiError::Unprocessable(r.to_string());
    let captioned = request.caption.is_some();
    let kind = match &known.content_type {
        Some(content_type) => {
            outgoing_media::check(channel, content_type, known.size, captioned).map_err(refused)?
        }
        // Known once fetched: the sender checks it then.
        None if channel == Channel::Tiktok => MessageKind::Image,
        None => MessageKind::Document,
    };
    let source = match &request.source {
        Source::File(file) => json!({"file_id": file}),
        Source::Url(url) => json!({"url": url}),
    };
    // A document shows its name: the upload's, else the link's last segment.
    let filename = known.filename.clone().or_else(|| match &request.source {
        Source::Url(url) if kind == MessageKind::Document => name_in(url),
        _ => None,
    });
    let media = Media {
        channel_media_id: None,
        mime_type: known.content_type.clone(),
        filename,
        caption: request.caption.clone(),
        size: (known.size > 0).then_some(known.size),
        sha256: None,
        // The message's own copy, made by the sender: erasing the message erases it.
        file_key: Some(media_file_key(tenant, id)),
    };
    Ok((kind, media, json!({"media_source": source})))
}

/// Whether the body asks for media (and nothing it cannot go with).
pub fn requested(body: &Map<String, Value>) -> Result<Option<MediaRequest>, ApiError> {
    let Some(media) = body.get("media") else { return Ok(None) };
    if ["text", "template", "interactive", "private"].iter().any(|k| body.contains_key(*k)) {
        return Err(ApiError::invalid_field("media", "is sent alone: its text goes in `media.caption`"));
    }
    if let Some(unknown) = body.keys().find(|k| !["media", "reply_to"].contains(&k.as_str())) {
        return Err(ApiError::invalid_field(unknown.clone(), "is not a field of a message"));
    }
    parse(media).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert!(https_url("https://cdn.tienda.mx/catalogo.pdf").is_ok());
        for bad in [
            "http://cdn.tienda.mx/a.pdf",
            "https://user:pw@cdn.tienda.mx/a.pdf",
            "ftp://x/a",
            "/a.pdf",
            "https://",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/a.pdf",
            "https://[::1]/a.pdf",
            "https://localhost/a.pdf",
        ] {
            assert!(https_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_urls_file_name_suggests_its_type() {
        assert_eq!(type_by_name("https://x.mx/fotos/Playa.JPG?v=2"), Some("image/jpeg"));
        assert_eq!(type_by_name("https://x.mx/lista.pdf#p2"), Some("application/pdf"));
        assert_eq!(type_by_name("https://x.mx/descarga"), None);
        assert_eq!(type_by_name("https://x.mx/a.tar.gz"), None);
    }
}
