//! A message's kind, direction and delivery status, and the one rule of how a status may
//! change: statuses arrive out of order and repeated, from the channels and from our sender.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Direction {
    /// From the customer.
    #[serde(rename = "in")]
    In,
    /// From the business: an agent, an automation, or the channel's own app (an echo).
    #[serde(rename = "out")]
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    Location,
    Contacts,
    Interactive,
    Button,
    Order,
    Postback,
    StoryMention,
    StoryReply,
    Template,
    System,
    Note,
    /// A kind we do not interpret: kept, never dropped (`raw_kind` names it). Also what a
    /// stored kind unknown to this version of the code reads as.
    #[serde(other)]
    Unsupported,
}

impl MessageKind {
    /// The API's name of the kind, safe for logs and metric dimensions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Contacts => "contacts",
            Self::Interactive => "interactive",
            Self::Button => "button",
            Self::Order => "order",
            Self::Postback => "postback",
            Self::StoryMention => "story_mention",
            Self::StoryReply => "story_reply",
            Self::Template => "template",
            Self::System => "system",
            Self::Note => "note",
            Self::Unsupported => "unsupported",
        }
    }
}

/// Where a message is in its delivery. Outbound messages move forward only, in the order
/// `queued < sending < sent < delivered < read`, skipping steps when the channel does.
/// `failed` may follow `queued`, `sending` or `sent` and is final; it never overrides
/// `delivered` or `read` (the customer has the message). `received` is the status of every
/// inbound message and never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Received,
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    fn rank(self) -> Option<u8> {
        match self {
            Self::Queued => Some(1),
            Self::Sending => Some(2),
            Self::Sent => Some(3),
            Self::Delivered => Some(4),
            Self::Read => Some(5),
            Self::Received | Self::Failed => None,
        }
    }

    /// Whether a message in this status may move to `next` (see the type's documentation).
    pub fn can_become(self, next: MessageStatus) -> bool {
        match next {
            Self::Failed => matches!(self, Self::Queued | Self::Sending | Self::Sent),
            _ => matches!((self.rank(), next.rank()), (Some(now), Some(then)) if then > now),
        }
    }
}
