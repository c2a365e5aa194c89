//! Inbound media, off the conversation's path: the message is stored at once and owes a
//! [`MediaJob`] on the (standard) deferred queue; the [`MediaFetcher`] downloads the file from the
//! channel with the tenant's token into the bucket under `{tenant}/media/{message id}`, with
//! its size and SHA-256 recorded on the message. A download that fails for a while (a CDN
//! down, a Graph 5xx) is sent again with a growing per-message delay, so it never holds back
//! the customer's later messages; after [`MEDIA_RETRY_WINDOW`] the message keeps no file.

use gestor_shared::backend::Backend;
use gestor_shared::crypto::TokenCipher;
use gestor_shared::domain::TenantId;
use gestor_shared::graph::{GraphClient, GraphError, MediaFile};
use gestor_shared::ids::ChannelAccountId;
use gestor_shared::inbound::Channel;
use gestor_shared::metrics::Metrics;
use gestor_shared::ports::{Files, Queue, TableError};
use gestor_shared::repo::arrivals::Owed;
use gestor_shared::repo::audit::Actor;
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::repo::messages::{Change, Message, MessageKind, MessageRepo, media_file_key};
use gestor_shared::settings::{Setting, Settings};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

use crate::jobs::{DeferredJob, MediaJob, Retry, retry_because};
use crate::{Clock, MEDIA_RETRY_WINDOW, SetupError};

/// The first delay before a failed download is tried again; each attempt doubles it, up to
/// the most a standard queue delays a message.
const FIRST_RETRY: Duration = Duration::from_secs(15);
const LONGEST_DELAY: Duration = Duration::from_secs(900);

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

/// Whether the message still waits for its file.
fn wants_file(message: &Message) -> bool {
    let Some(media) = message.media.as_ref() else { return false };
    has_file(message.kind)
        && media.file_key.is_none()
        && !message.deleted
        && media.channel_media_id.is_some()
        // TikTok's media API is not integrated yet: the message keeps the media id only.
        && message.channel != Channel::Tiktok
}

/// What the inbound worker knows of a media job beyond its shape (shared with the queue).
pub(crate) trait MediaJobs: Sized {
    fn for_message(
        tenant: &TenantId,
        account: &ChannelAccountId,
        received_at: OffsetDateTime,
        message: &Message,
    ) -> Option<Self>;
    fn to_owed(&self) -> Result<Owed, TableError>;
    /// The delay before the next attempt after `attempt` failed ones.
    fn delay(attempt: u32) -> Duration;
}

impl MediaJobs for MediaJob {
    fn for_message(
        tenant: &TenantId,
        account: &ChannelAccountId,
        received_at: OffsetDateTime,
        message: &Message,
    ) -> Option<Self> {
        let channel_message_id = message.channel_message_id.clone()?;
        wants_file(message).then(|| Self {
            tenant_id: tenant.to_string(),
            channel_account_id: account.to_string(),
            channel: message.channel,
            channel_message_id,
            message_id: message.id.to_string(),
            received_at,
            attempt: 0,
        })
    }

    fn to_owed(&self) -> Result<Owed, TableError> {
        DeferredJob::FetchMedia(self.clone()).to_owed(format!("media_{}", self.message_id))
    }

    fn delay(attempt: u32) -> Duration {
        FIRST_RETRY.saturating_mul(1 << attempt.min(10)).min(LONGEST_DELAY)
    }
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

/// Downloads the files stored messages owe.
pub struct MediaFetcher {
    files: Arc<dyn Files>,
    queue: Arc<dyn Queue>,
    deferred_queue: String,
    channels: ChannelRepo,
    messages: MessageRepo,
    cipher: TokenCipher,
    graph: GraphClient,
    clock: Clock,
    metrics: Metrics,
}

impl MediaFetcher {
    /// The consumer, with its token cipher and Graph client built once per cold start.
    pub fn new(backend: &Backend, settings: &Settings) -> Result<Self, SetupError> {
        Ok(Self {
            files: backend.files.clone(),
            queue: backend.queue.clone(),
            deferred_queue: settings.get(Setting::DeferredQueueUrl)?.to_owned(),
            channels: ChannelRepo::new(backend.table.clone()),
            messages: MessageRepo::new(backend.table.clone()),
            cipher: TokenCipher::from_settings(settings)?,
            graph: GraphClient::new(settings)?,
            clock: Arc::new(OffsetDateTime::now_utc),
            metrics: Metrics::stdout(),
        })
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub(crate) async fn run(&self, job: MediaJob) -> Result<(), Retry> {
        let (Ok(tenant), Ok(account)) =
            (TenantId::parse(&job.tenant_id), ChannelAccountId::parse(&job.channel_account_id))
        else {
            tracing::warn!("a media job naming no valid tenant or account; dropped");
            return Ok(());
        };
        let message = self
            .messages
            .find_by_channel_id(&tenant, job.channel, &job.channel_message_id)
            .await
            .map_err(retry_because)?;
        // Unsent, erased or already downloaded meanwhile: nothing left to do.
        let Some(message) = message.filter(wants_file) else { return Ok(()) };
        let cause = match self.fetch(&tenant, &account, &message).await? {
            Ok(file) => return self.keep_file(&tenant, &message, file).await,
            Err(Failure::Transient(cause)) if (self.clock)() - job.received_at < MEDIA_RETRY_WINDOW => {
                return self.try_later(job, &cause).await;
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

    async fn fetch(
        &self,
        tenant: &TenantId,
        account: &ChannelAccountId,
        message: &Message,
    ) -> Result<Result<MediaFile, Failure>, Retry> {
        let Some(reference) = message.media.as_ref().and_then(|m| m.channel_media_id.as_deref()) else {
            return Ok(Err(Failure::Permanent("no media reference".into())));
        };
        Ok(match message.channel {
            Channel::Whatsapp => match self.channels.access_token(tenant, account, &self.cipher).await {
                Ok(Some(token)) => self.graph.whatsapp_media(reference, &token).await.map_err(Failure::from),
                Ok(None) => Err(Failure::Permanent("the channel account has no token (deactivated)".into())),
                Err(e) => return Err(retry_because(e)),
            },
            Channel::Messenger | Channel::Instagram => {
                self.graph.attachment(reference).await.map_err(Failure::from)
            }
            Channel::Tiktok => Err(Failure::Permanent("TikTok media is not fetched".into())),
        })
    }

    /// Sends the job again, delayed, and lets this receive go.
    async fn try_later(&self, mut job: MediaJob, cause: &str) -> Result<(), Retry> {
        let delay = MediaJob::delay(job.attempt);
        job.attempt += 1;
        tracing::info!(attempt = job.attempt, delay_s = delay.as_secs(), cause = %cause, "media download failed; trying later");
        let id = format!("media_{}", job.message_id);
        DeferredJob::FetchMedia(job).send(self.queue.as_ref(), &self.deferred_queue, id, delay).await
    }

    async fn keep_file(&self, tenant: &TenantId, message: &Message, file: MediaFile) -> Result<(), Retry> {
        let key = media_file_key(tenant, &message.id);
        let sha256 = gestor_shared::crypto::sha256_hex(&file.bytes);
        let size = file.bytes.len() as u64;
        let mime_type = file.mime_type.filter(|m| !m.is_empty());
        let content_type = mime_type
            .clone()
            .or_else(|| message.media.as_ref().and_then(|m| m.mime_type.clone()))
            .unwrap_or_else(|| "application/octet-stream".into());
        // The key depends on the message only, so a retry overwrites rather than duplicates.
        self.files.put(&key, Vec::from(file.bytes), &content_type).await.map_err(retry_because)?;
        let Some(channel_id) = message.channel_message_id.as_deref() else { return Ok(()) };
        let change = self
            .messages
            .attach_media_file(
                tenant,
                &Actor::system("deferred"),
                message.channel,
                channel_id,
                size,
                &sha256,
                &key,
                mime_type.as_deref(),
            )
            .await
            .map_err(retry_because)?;
        let gone = match change {
            Change::Unknown => true,
            Change::Stale => self.unsent(tenant, message).await?,
            Change::Applied(_) => false,
        };
        if gone {
            // Unsent or erased while it downloaded: the file must not outlive the message.
            self.files.delete(&key).await.map_err(retry_because)?;
        }
        Ok(())
    }

    async fn unsent(&self, tenant: &TenantId, message: &Message) -> Result<bool, Retry> {
        let Some(channel_id) = message.channel_message_id.as_deref() else { return Ok(false) };
        let now = self
            .messages
            .find_by_channel_id(tenant, message.channel, channel_id)
            .await
            .map_err(retry_because)?;
        Ok(now.is_none_or(|m| m.deleted || m.media.is_none()))
    }
}
