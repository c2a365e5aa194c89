//! A reply's file, made ready for the channel: the message's own copy in the bucket (copied
//! from the upload, or fetched from the URL the agent gave through the same guarded fetch as
//! inbound media), and a presigned link to it that the channel downloads.
//!
//! The copy belongs to the message, so erasing the message erases it, while the upload stays
//! for the next customer. Both steps are repeated on a retry: a copy and a put replace what
//! is there, so a retry never sends another file than the first attempt stored.

use gestor_shared::domain::outgoing_media;
use gestor_shared::graph::GraphError;
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
    /// the message; `Some` when it cannot go.
    async fn fetch(&self, message: &mut Message, url: &str, own: &str) -> Result<Option<Outcome>, FileError> {
        let file = match self.graph.attachment(url).await {
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
            Err(e) => {
                let title = format!("the file could not be fetched: {e}");
                return Ok(Some(Outcome::refused("media_unreachable", &title)));
            }
        };
        let Some(media) = message.media.as_mut() else { return Ok(None) };
        // The server's type, unless it gave none or a vague one and the link's name says more.
        let served = file.mime_type.as_deref().map(outgoing_media::essence);
        let vague = |t: &str| t.is_empty() || t == "application/octet-stream" || t == "binary/octet-stream";
        let content_type = match served {
            Some(t) if !vague(&t) => t,
            served => media.mime_type.clone().or(served).unwrap_or_else(|| "application/octet-stream".into()),
        };
        let size = file.bytes.len() as u64;
        let kind = match outgoing_media::check(message.channel, &content_type, size, media.caption.is_some())
        {
            Ok(kind) => kind,
            Err(refusal) => return Ok(Some(Outcome::refused("media_unsupported", &refusal.to_string()))),
        };
        media.mime_type = Some(content_type.clone());
        media.size = Some(size);
        media.sha256 = Some(gestor_shared::crypto::sha256_hex(&file.bytes));
        message.kind = kind;
        self.files.put(own, file.bytes.to_vec(), &content_type).await?;
        Ok(None)
    }
}
