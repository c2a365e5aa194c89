//! Which files each channel takes from the business, as what kind of message, and how large.
//! The channels refuse the rest after the fact (WhatsApp 131053, Messenger 100), so a file is
//! checked here when the reply is written, and again by the sender once a file sent by URL
//! has been fetched and its real type and size are known.
//!
//! - WhatsApp Cloud API: images JPEG and PNG up to 5 MB; video MP4 and 3GPP up to 16 MB;
//!   audio AAC, AMR, MP3, MP4 audio and OGG (Opus) up to 16 MB; documents (PDF, text, Word,
//!   Excel, PowerPoint) up to 100 MB; stickers WebP up to 500 KB.
//! - Messenger: images, video, audio and files, up to 25 MB each.
//! - Instagram: images (JPEG, PNG) up to 8 MB, MP4 video and AAC or M4A audio up to 25 MB;
//!   no documents.
//! - TikTok: JPEG and PNG images up to 3 MB (third-party documentation), uploaded to TikTok
//!   before they are sent; no caption.

use super::{Channel, MessageKind};

const MB: u64 = 1024 * 1024;

/// The largest file any channel takes: what `POST /v1/uploads` accepts.
pub const MAX_UPLOAD: u64 = 100 * MB;

/// Every content type some channel takes, and the kind of message it makes.
const TYPES: &[(&str, MessageKind)] = &[
    ("image/jpeg", MessageKind::Image),
    ("image/png", MessageKind::Image),
    ("image/gif", MessageKind::Image),
    ("image/webp", MessageKind::Sticker),
    ("video/mp4", MessageKind::Video),
    ("video/3gpp", MessageKind::Video),
    ("audio/aac", MessageKind::Audio),
    ("audio/amr", MessageKind::Audio),
    ("audio/mpeg", MessageKind::Audio),
    ("audio/mp4", MessageKind::Audio),
    ("audio/ogg", MessageKind::Audio),
    ("application/pdf", MessageKind::Document),
    ("text/plain", MessageKind::Document),
    ("application/msword", MessageKind::Document),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", MessageKind::Document),
    ("application/vnd.ms-excel", MessageKind::Document),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", MessageKind::Document),
    ("application/vnd.ms-powerpoint", MessageKind::Document),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", MessageKind::Document),
];

/// The content types `POST /v1/uploads` accepts.
pub fn content_types() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|(t, _)| *t)
}

/// The type without parameters (`audio/ogg; codecs=opus` is `audio/ogg`), lowercased.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The kind of message a file of `content_type` makes, if any channel takes it.
pub fn kind_of(content_type: &str) -> Option<MessageKind> {
    let essence = essence(content_type);
    TYPES.iter().find(|(t, _)| *t == essence).map(|(_, kind)| *kind)
}

/// Why a channel would not take a file: each says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaRefusal {
    #[error("{content_type} files cannot be sent on any channel")]
    UnknownType { content_type: String },
    #[error("{channel} does not take {content_type} files")]
    NotOnChannel { channel: &'static str, content_type: String },
    #[error("{channel} takes {kind} files up to {limit_mb} MB; this one has {size} bytes")]
    TooLarge { channel: &'static str, kind: &'static str, limit_mb: u64, size: u64 },
    #[error("TikTok takes JPEG and PNG images only")]
    TiktokMedia,
    #[error(
        "a caption goes with images, video and documents on WhatsApp only: send the text as its own message"
    )]
    Caption,
}

/// The kind of message a file of `content_type` and `size` bytes makes on `channel`, or why
/// the channel would refuse it. `caption` says whether text goes with it.
pub fn check(
    channel: Channel,
    content_type: &str,
    size: u64,
    caption: bool,
) -> Result<MessageKind, MediaRefusal> {
    let essence = essence(content_type);
    let kind =
        kind_of(&essence).ok_or_else(|| MediaRefusal::UnknownType { content_type: essence.clone() })?;
    let not_here = || MediaRefusal::NotOnChannel { channel: channel.as_str(), content_type: essence.clone() };
    let limit = match channel {
        Channel::Whatsapp => match (kind, essence.as_str()) {
            (_, "image/gif") => return Err(not_here()),
            (MessageKind::Image, _) => 5 * MB,
            (MessageKind::Sticker, _) => MB / 2,
            (MessageKind::Video | MessageKind::Audio, _) => 16 * MB,
            _ => 100 * MB,
        },
        Channel::Messenger => 25 * MB,
        Channel::Instagram => match essence.as_str() {
            "image/jpeg" | "image/png" => 8 * MB,
            "video/mp4" | "audio/aac" | "audio/mp4" => 25 * MB,
            _ => return Err(not_here()),
        },
        Channel::Tiktok => match essence.as_str() {
            "image/jpeg" | "image/png" => 3 * MB,
            _ => return Err(MediaRefusal::TiktokMedia),
        },
    };
    if size > limit {
        return Err(MediaRefusal::TooLarge {
            channel: channel.as_str(),
            kind: kind.as_str(),
            limit_mb: limit / MB,
            size,
        });
    }
    let captioned = channel == Channel::Whatsapp
        && matches!(kind, MessageKind::Image | MessageKind::Video | MessageKind::Document);
    if caption && !captioned {
        return Err(MediaRefusal::Caption);
    }
    // Messenger and Instagram show a WebP as an image.
    Ok(if kind == MessageKind::Sticker && channel != Channel::Whatsapp { MessageKind::Image } else { kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_takes_its_own_types_and_sizes() {
        assert_eq!(check(Channel::Whatsapp, "image/jpeg", 5 * MB, true), Ok(MessageKind::Image));
        assert!(matches!(
            check(Channel::Whatsapp, "image/jpeg", 5 * MB + 1, false),
            Err(MediaRefusal::TooLarge { limit_mb: 5, .. })
        ));
        assert_eq!(check(Channel::Whatsapp, "audio/ogg; codecs=opus", MB, false), Ok(MessageKind::Audio));
        assert_eq!(check(Channel::Whatsapp, "image/webp", 100_000, false), Ok(MessageKind::Sticker));
        assert!(matches!(
            check(Channel::Whatsapp, "image/gif", 10, false),
            Err(MediaRefusal::NotOnChannel { .. })
        ));
        assert_eq!(check(Channel::Whatsapp, "application/pdf", 90 * MB, true), Ok(MessageKind::Document));
        assert_eq!(check(Channel::Messenger, "application/pdf", 20 * MB, false), Ok(MessageKind::Document));
        assert!(matches!(
            check(Channel::Messenger, "video/mp4", 26 * MB, false),
            Err(MediaRefusal::TooLarge { .. })
        ));
        assert!(matches!(
            check(Channel::Instagram, "application/pdf", 10, false),
            Err(MediaRefusal::NotOnChannel { .. })
        ));
        assert_eq!(check(Channel::Tiktok, "image/png", 10, false), Ok(MessageKind::Image));
        assert_eq!(check(Channel::Tiktok, "video/mp4", 10, false), Err(MediaRefusal::TiktokMedia));
        assert!(matches!(
            check(Channel::Tiktok, "image/jpeg", 3 * MB + 1, false),
            Err(MediaRefusal::TooLarge { .. })
        ));
        assert_eq!(check(Channel::Tiktok, "image/jpeg", 10, true), Err(MediaRefusal::Caption));
        assert!(matches!(
            check(Channel::Whatsapp, "application/zip", 10, false),
            Err(MediaRefusal::UnknownType { .. })
        ));
    }

    #[test]
    fn captions_go_where_the_channel_shows_them() {
        assert_eq!(check(Channel::Whatsapp, "audio/mpeg", 10, true), Err(MediaRefusal::Caption));
        assert_eq!(check(Channel::Messenger, "image/png", 10, true), Err(MediaRefusal::Caption));
        assert_eq!(check(Channel::Messenger, "image/png", 10, false), Ok(MessageKind::Image));
    }
}
