//! Inbound media: the file behind a stored message, fetched from the channel with the
//! tenant's token into the bucket under `{tenant}/media/{message id}`, with its size and
//! SHA-256 recorded on the message. The message is always stored first; the file follows.

use gestor_shared::domain::TenantId;
use gestor_shared::graph::{GraphError, MediaFile};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::inbound::Channel;
use gestor_shared::repo::messages::{Message, MessageKind};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::process::RetryLater;
use crate::{Inbound, MEDIA_RETRY_WINDOW};

/// Kinds whose media is a file to fetch (a location or a contact card is not).
fn has_file(kind: MessageKind) -> bool {
    matches!(
        kind,
        MessageKind::Image
            | MessageKind::Audio
            | MessageKind::Video
            | MessageKind::Document
            | MessageKind::Sticker
            | MessageKind::StoryMention
    )
}

/// Why a file could not be fetched.
enum Failure {
    /// Could work later (provider outage, rate limit, timeout).
    Transient(String),
    /// Will not work by retrying: the provider refused (expired media id or URL, token no
    /// longer valid), the reference is not something we fetch, or the channel is disconnected.
    Permanent(String),
}

impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::Unavailable(_) => Self::Transient(e.to_string()),
            _ => Self::Permanent(e.to_string()),
        }
    }
}

impl Inbound {
    /// Fetches and records the file of `message` unless it has none or has it already (a
    /// redelivery never downloads twice). A transient failure fails the update, so the queue
    /// brings it back, while the envelope is younger than [`MEDIA_RETRY_WINDOW`]; after that,
    /// and for any failure retrying cannot fix, the message stays without its file, with a
    /// warning and the `InboundMediaFailed` metric. Storage failures always retry.
    pub(crate) async fn fetch_media(
        &self,
        tenant: &TenantId,
        account: &ChannelAccountId,
        received_at: OffsetDateTime,
        message: &Message,
    ) -> Result<(), RetryLater> {
        let Some(media) = message.media.as_ref() else { return Ok(()) };
        if !has_file(message.kind) || media.file_key.is_some() || message.deleted {
            return Ok(());
        }
        let Some(reference) = media.channel_media_id.as_deref() else { return Ok(()) };
        let fetched = match message.channel {
            Channel::Whatsapp => match self.channels.access_token(tenant, account, &self.cipher).await {
                Ok(Some(token)) => self.graph.whatsapp_media(reference, &token).await.map_err(Failure::from),
                Ok(None) => Err(Failure::Permanent("the channel account has no token (deactivated)".into())),
                Err(e) => return Err(RetryLater::Storage(e.to_string())),
            },
            Channel::Messenger | Channel::Instagram => {
                self.graph.attachment(reference).await.map_err(Failure::from)
            }
            // TikTok's media API is not integrated yet: the message keeps the media id only.
            Channel::Tiktok => return Ok(()),
        };
        let cause = match fetched {
            Ok(file) => return self.keep_file(tenant, message, file).await,
            Err(Failure::Transient(cause)) if self.now() - received_at < MEDIA_RETRY_WINDOW => {
                return Err(RetryLater::Media(cause));
            }
            Err(Failure::Transient(cause) | Failure::Permanent(cause)) => cause,
        };
        // The cause names an HTTP status or a kind of failure, never a URL or a token.
        tracing::warn!(
            tenant = %tenant,
            message = %message.id,
            channel = %message.channel,
            cause = %cause,
            "media not downloaded; the message is kept without its file"
        );
        self.metrics.count(
            "InboundMediaFailed",
            &[("Channel", message.channel.as_str())],
            &[("Kind", message.kind.as_str())],
        );
        Ok(())
    }

    async fn keep_file(
        &self,
        tenant: &TenantId,
        message: &Message,
        file: MediaFile,
    ) -> Result<(), RetryLater> {
        let key = format!("{tenant}/media/{}", message.id);
        let sha256 = hex::encode(Sha256::digest(&file.bytes));
        let size = file.bytes.len() as u64;
        let mime_type = file.mime_type.filter(|m| !m.is_empty());
        let content_type = mime_type
            .clone()
            .or_else(|| message.media.as_ref().and_then(|m| m.mime_type.clone()))
            .unwrap_or_else(|| "application/octet-stream".into());
        // The key depends on the message only, so a retry overwrites rather than duplicates.
        self.files
            .put(&key, Vec::from(file.bytes), &content_type)
            .await
            .map_err(|e| RetryLater::Storage(e.to_string()))?;
        let Some(channel_id) = message.channel_message_id.as_deref() else { return Ok(()) };
        self.messages
            .attach_media_file(tenant, message.channel, channel_id, size, &sha256, &key, mime_type.as_deref())
            .await
            .map_err(|e| RetryLater::Storage(e.to_string()))?;
        Ok(())
    }
}
