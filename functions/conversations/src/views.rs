//! Messages as the API shows them, apart from the stored records: a view adds what is made
//! for one answer (the media file's presigned URL, valid 15 minutes) and never goes back to
//! the table. The message's fields are the stored record's own (`Message<M>`); only the
//! attachment differs.

use gestor_shared::http::{ApiError, Page};
use gestor_shared::ports::Files;
use gestor_shared::repo::messages::{Direction, Media, Message, MessageStatus};
use serde::Serialize;
use std::time::Duration;

/// How long a media URL answered by the API stays valid.
const MEDIA_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// A message's attachment as answered: the stored fields and a link to the file.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Media)]
pub struct MediaView {
    #[serde(flatten)]
    #[schema(inline)]
    pub file: Media,
    /// A presigned GET URL of the file, valid 15 minutes; absent until it is downloaded (a
    /// reply's file: until it is sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A message as answered.
pub type MessageView = Message<MediaView>;

/// A page of a conversation's messages (the alias lets the OpenAPI macros name it).
pub type MessagePage = Page<MessageView>;

impl MediaView {
    async fn of(file: Media, files: &dyn Files, stored: bool) -> Result<Self, ApiError> {
        let url = match file.file_key.as_deref() {
            // A failure is a 500 (FileError's conversion); the problem never shows the cause.
            Some(key) if stored => {
                Some(files.presigned_get(key, MEDIA_URL_LIFETIME).await.map_err(ApiError::from)?)
            }
            _ => None,
        };
        Ok(Self { file, url })
    }
}

/// A stored message as answered.
pub async fn view(mut message: Message, files: &dyn Files) -> Result<MessageView, ApiError> {
    // A reply's own copy of its file is made when it is sent.
    let stored =
        !matches!(message.status, MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Failed)
            || message.direction == Direction::In;
    let media = match message.media.take() {
        Some(media) => Some(MediaView::of(media, files, stored).await?),
        None => None,
    };
    Ok(message.with_media(media))
}

/// A page of stored messages as the API shows them.
pub async fn page(page: Page<Message>, files: &dyn Files) -> Result<MessagePage, ApiError> {
    let mut items = Vec::with_capacity(page.items.len());
    for message in page.items {
        items.push(view(message, files).await?);
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}
