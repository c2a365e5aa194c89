//! A reply's file, made ready for the channel: the message's own copy in the bucket (copied
//! from the upload, or fetched from the URL the agent gave through the same guarded fetch as
//! inbound media), and a presigned link to it that the channel downloads.
//!
//! The copy belongs to the message, so erasing the message erases it, while the upload stays
//! for the next customer. Both steps are repeated on a retry: a copy and a put replace what
//! is there, so a retry never sends another file than the first attempt stored.

use gestor_shared::crypto::Secret;
use gestor_shared::domain::outgoing_media;
use gestor_shared::graph::{Api, FilePart, GraphError};
use gestor_shared::ids::FileId;
use gestor_shared::outbound::SendJob;
use gestor_shared::ports::FileError;
use gestor_shared::repo::messages::Message;
use serde_json::Value;
use std::time::Duration;

use crate::{Outbound, Outcome};

/// How long the channel's link to the file works: it downloads it when it takes the message,
/// and a link signed with the function's temporary credentials dies with them anyway.
const LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// The largest file fetched by URL (Messenger's limit): the sender holds it in memory while
/// it stores it, on the send path. Larger files go through `POST /v1/uploads`.
pub const MAX_URL_FILE: usize = 25 * 1024 * 1024;

/// The message as it goes out (a fetched file's real type and size recorded on it) and the
/// link to its file; or what became of it when the file cannot go.
pub enum Prepared {
    Ready(Message, Option<String>),
    Stop(Message, Outcome),
}

impl Outbound {
    /// A passing failure of the bucket comes back as a retry, like the channel's own.
    pub(crate) async fn prepare_media(&self, job: &SendJob, mut message: Message) -> Prepared {
        match self.media_link(job, &mut message).await {
            Ok(Ok(link)) => Prepared::Ready(message, link),
            Ok(Err(outcome)) => Prepared::Stop(message, outcome),
            Err(e) => Prepared::Stop(message, Outcome::again(&format!("the bucket: {e}"))),
        }
    }

    async fn media_link(
        &self,
        job: &SendJob,
        message: &mut Message,
    ) -> Result<Result<Option<String>, Outcome>, FileError> {
        let source = message.details.as_ref().and_then(|d| d.get("media_source")).cloned();
        let (Some(source), Some(own)) = (source, message.media.as_ref().and_then(|m| m.file_key.clone()))
        else {
            return Ok(Ok(None));
        };
        if let Some(file_id) = source.get("file_id").and_then(Value::as_str) {
            let Ok(file_id) = FileId::parse(file_id) else {
                return Ok(Err(Outcome::refused("file_gone", "the message names no uploaded file")));
            };
            let upload = gestor_shared::repo::uploads::object_key(&job.tenant, &file_id);
            match self.files.copy(&upload, &own).await {
                Ok(()) => {}
                Err(FileError::NotFound) => {
                    let title = "the uploaded file is no longer there: upload it again";
                    return Ok(Err(Outcome::refused("file_gone", title)));
                }
                Err(e) => return Err(e),
            }
        } else if let Some(url) = source.get("url").and_then(Value::as_str)
            && let Some(stop) = self.fetch(message, url, &own).await?
        {
            return Ok(Err(stop));
        }
        Ok(Ok(Some(self.files.presigned_get(&own, LINK_LIFETIME).await?)))
    }

    /// Fetches the file at `url` into `own` and records its real type, size and digest on
    /// the message; `Some` when it cannot go. A retry after a fetch keeps the first copy,
    /// so every attempt sends the same file.
    async fn fetch(&self, message: &mut Message, url: &str, own: &str) -> Result<Option<Outcome>, FileError> {
        match self.files.head(own).await {
            Ok(kept) => {
                let content_type = kept.content_type.unwrap_or_default();
                return Ok(self.checked(message, &content_type, kept.size, None).err());
            }
            Err(FileError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let file = match self.graph.public_file(url, MAX_URL_FILE).await {
            Ok(file) => file,
            Err(GraphError::Unavailable(reason)) => {
                return Ok(Some(Outcome::again(&format!("the file's server: {reason}"))));
            }
            Err(GraphError::Refused { status, .. }) => {
                return Ok(Some(Outcome::refused(
                    "media_unreachable",
                    &format!("the file's server answered HTTP {status}: check the link"),
                )));
            }
            Err(GraphError::Invalid(why)) if why.contains("larger") => {
                let title = format!("files by URL go up to {} MB: upload larger ones", MAX_URL_FILE >> 20);
                return Ok(Some(Outcome::refused("media_too_large", &title)));
            }
            Err(e) => {
                let title = format!("the file could not be fetched: {e}");
                return Ok(Some(Outcome::refused("media_unreachable", &title)));
            }
        };
        // The server's type, unless it gave none or a vague one and the link's name says more.
        let served = file.mime_type.as_deref().map(outgoing_media::essence);
        let vague = |t: &str| t.is_empty() || t == "application/octet-stream" || t == "binary/octet-stream";
        let named = message.media.as_ref().and_then(|m| m.mime_type.clone());
        let content_type = match served {
            Some(t) if !vague(&t) => t,
            served => named.or(served).unwrap_or_else(|| "application/octet-stream".into()),
        };
        let size = file.bytes.len() as u64;
        let digest = gestor_shared::crypto::sha256_hex(&file.bytes);
        if let Err(stop) = self.checked(message, &content_type, size, Some(digest)) {
            return Ok(Some(stop));
        }
        self.files.put(own, Vec::from(file.bytes), &content_type).await?;
        Ok(None)
    }

    /// Checks the file against the channel and records its type, size, digest and kind on
    /// the message.
    fn checked(
        &self,
        message: &mut Message,
        content_type: &str,
        size: u64,
        digest: Option<String>,
    ) -> Result<(), Outcome> {
        let Some(media) = message.media.as_mut() else { return Ok(()) };
        let kind = outgoing_media::check(message.channel, content_type, size, media.caption.is_some())
            .map_err(|refusal| Outcome::refused("media_unsupported", &refusal.to_string()))?;
        media.mime_type = Some(content_type.to_owned());
        media.size = Some(size);
        if digest.is_some() {
            media.sha256 = digest;
        }
        message.kind = kind;
        Ok(())
    }

    /// The message's copy uploaded to TikTok, which sends images by its own media id.
    pub(crate) async fn tiktok_image(
        &self,
        token: &Secret,
        business_id: &str,
        message: &Message,
    ) -> Result<Result<String, Outcome>, FileError> {
        let Some(own) = message.media.as_ref().and_then(|m| m.file_key.as_deref()) else {
            return Ok(Err(crate::meta::no_file()));
        };
        let object = match self.files.get(own).await {
            Ok(object) => object,
            Err(FileError::NotFound) => return Ok(Err(crate::meta::no_file())),
            Err(e) => return Err(e),
        };
        let content_type = object.content_type.unwrap_or_else(|| "image/jpeg".into());
        let filename = if content_type == "image/png" { "image.png" } else { "image.jpg" };
        let file = FilePart { field: "file", filename, content_type: &content_type, bytes: &object.bytes };
        let fields = crate::tiktok::upload_fields(business_id);
        match self.graph.post_multipart(Api::Tiktok, crate::tiktok::UPLOAD_PATH, token, &fields, &file).await
        {
            Ok(answer) => Ok(crate::tiktok::uploaded(&answer)),
            Err(GraphError::Unavailable(reason)) => Ok(Err(Outcome::again(&reason))),
            Err(e) => Ok(Err(Outcome::refused("request", &e.to_string()))),
        }
    }
}
