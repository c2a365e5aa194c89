//! Messages as the API shows them, apart from the stored records: a view adds what is made
//! for one answer (the media file's presigned URL, valid 15 minutes) and never goes back to
//! the table.

use gestor_shared::domain::{Channel, Direction, MessageKind, MessageStatus};
use gestor_shared::http::{ApiError, Page};
use gestor_shared::ids::{ContactId, ConversationId, MemberId, MessageId};
use gestor_shared::ports::Files;
use gestor_shared::repo::messages::{Media, Message, MessageFailure, Reaction};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a media URL answered by the API stays valid.
const MEDIA_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A message's attachment. The file itself is in the bucket once downloaded and reaches the
/// frontend only by `url`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Media)]
pub struct MediaView {
    /// The channel's reference for downloading it (a WhatsApp media id, a Messenger URL).
    pub channel_media_id: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub size: Option<u64>,
    /// Lowercase hex SHA-256 of the downloaded file.
    pub sha256: Option<String>,
    /// The object key in the bucket once downloaded (under the tenant's prefix).
    pub file_key: Option<String>,
    /// A presigned GET URL of the file, valid 15 minutes; absent until it is downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The customer of the conversation, whose personal data the message is.
    pub contact_id: ContactId,
    #[schema(schema_with = Channel::schema)]
    pub channel: Channel,
    pub direction: Direction,
    pub kind: MessageKind,
    /// The channel's own name of the kind (`reaction`, `ephemeral` ...), kept when ours says
    /// less than the channel did.
    pub raw_kind: Option<String>,
    pub text: Option<String>,
    pub media: Option<MediaView>,
    /// What a kind carries besides text and media: a location, shared contacts, the button
    /// or list reply chosen, an order, a postback, an ad referral.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    pub status: MessageStatus,
    /// The channel's time of the current status.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub status_at: Option<OffsetDateTime>,
    pub error: Option<MessageFailure>,
    /// The channel's id of the message (absent on an outbound one until it is sent).
    pub channel_message_id: Option<String>,
    /// The message this one replies to.
    pub reply_to: Option<MessageId>,
    pub reactions: Vec<Reaction>,
    /// Unsent by the customer: its text and media are gone, the place in the thread stays.
    pub deleted: bool,
    /// When the sender last edited it (`text` is the latest); absent if never edited.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<OffsetDateTime>,
    /// The member who sent it (outbound from the CRM).
    pub sent_by: Option<MemberId>,
    /// For inbound messages, the channel's timestamp: the order of the conversation.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// A page of a conversation's messages (the alias lets the OpenAPI macros name it).
pub type MessagePage = Page<MessageView>;

impl MediaView {
    async fn of(media: Media, files: &dyn Files) -> Result<Self, ApiError> {
        let url = match media.file_key.as_deref() {
            // A failure is a 500 (FileError's conversion); the problem never shows the cause.
            Some(key) => Some(files.presigned_get(key, MEDIA_URL_LIFETIME).await.map_err(ApiError::from)?),
            None => None,
        };
        Ok(Self {
            channel_media_id: media.channel_media_id,
            mime_type: media.mime_type,
            filename: media.filename,
            caption: media.caption,
            size: media.size,
            sha256: media.sha256,
            file_key: media.file_key,
            url,
        })
    }
}

impl MessageView {
    pub async fn of(m: Message, files: &dyn Files) -> Result<Self, ApiError> {
        let media = match m.media {
            Some(media) => Some(MediaView::of(media, files).await?),
            None => None,
        };
        Ok(Self {
            id: m.id,
            conversation_id: m.conversation_id,
            contact_id: m.contact_id,
            channel: m.channel,
            direction: m.direction,
            kind: m.kind,
            raw_kind: m.raw_kind,
            text: m.text,
            media,
            details: m.details,
            status: m.status,
            status_at: m.status_at,
            error: m.error,
            channel_message_id: m.channel_message_id,
            reply_to: m.reply_to,
            reactions: m.reactions,
            deleted: m.deleted,
            edited_at: m.edited_at,
            sent_by: m.sent_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    /// A page of stored messages as the API shows them.
    pub async fn page(page: Page<Message>, files: &dyn Files) -> Result<MessagePage, ApiError> {
        let mut items = Vec::with_capacity(page.items.len());
        for message in page.items {
            items.push(Self::of(message, files).await?);
        }
        Ok(Page { items, next_cursor: page.next_cursor })
    }
}
