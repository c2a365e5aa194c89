//! The CRM's view of a channel update, the same for every channel: what the `inbound` worker
//! stores, whichever of WhatsApp, Messenger, Instagram or TikTok sent it.
//!
//! Texts, names and payloads here are customer data: log kinds and ids, never these values.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::domain::Channel;
use crate::domain::Phone;

/// What one channel update means to the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "a few short-lived values per update; boxing the message would only make matching clumsier"
)]
pub enum Normalized {
    /// A customer's message, or an echo of one the business sent from the channel's own app
    /// (`direction` out, `is_echo` true).
    Message(IncomingMessage),
    /// What became of a message the business sent.
    Status(StatusUpdate),
    /// The customer read everything the business sent up to `watermark` (Messenger `read`,
    /// TikTok `im_mark_read_msg`): the channel names no message.
    ReadUpTo {
        channel: Channel,
        account_id: String,
        customer_id: String,
        #[serde(with = "time::serde::rfc3339")]
        watermark: OffsetDateTime,
    },
    /// A reaction added to, or removed from, a message.
    Reaction(Reaction),
    /// A message unsent by whoever sent it (Messenger/Instagram `is_deleted`, WhatsApp
    /// `revoke`).
    Deleted {
        channel_message_id: String,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The sender edited a message (WhatsApp `edit`, Messenger and Instagram `message_edit`):
    /// `text` is the new text or caption.
    Edited {
        channel_message_id: String,
        text: Option<String>,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A WhatsApp Business Account's template changed status
    /// (`message_template_status_update`): `status` is Meta's `event` (`APPROVED`,
    /// `REJECTED`, `PAUSED`, `DISABLED` ...). The account is the envelope's.
    TemplateStatus { name: String, language: String, status: String, reason: Option<String> },
    /// An update deliberately not stored; `reason` says why (it names kinds and ids, never
    /// customer text).
    Ignored { reason: String },
}

impl Normalized {
    /// What this is, safe to log and to use as a metric dimension (never customer data):
    /// `message.text`, `status.read`, `reaction`, `read_up_to`, `deleted`, `ignored`.
    pub fn label(&self) -> String {
        match self {
            Self::Message(m) => format!("message.{}", m.kind.as_str()),
            Self::Status(s) => format!("status.{}", s.status.as_str()),
            Self::ReadUpTo { .. } => "read_up_to".to_owned(),
            Self::Reaction(_) => "reaction".to_owned(),
            Self::Deleted { .. } => "deleted".to_owned(),
            Self::Edited { .. } => "edited".to_owned(),
            Self::TemplateStatus { .. } => "template_status".to_owned(),
            Self::Ignored { .. } => "ignored".to_owned(),
        }
    }

    pub(crate) fn ignored(reason: impl Into<String>) -> Self {
        Self::Ignored { reason: reason.into() }
    }
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncomingMessage {
    pub channel: Channel,
    /// The channel account it reached: WhatsApp `phone_number_id`, the page id, the Instagram
    /// account id, TikTok's `user_openid` (the envelope's routing key).
    pub account_id: String,
    /// The customer: the sender of an inbound message, the recipient of an echo.
    pub customer: CustomerRef,
    pub channel_message_id: String,
    /// When the channel says the message was sent, the conversation's ordering key.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub direction: Direction,
    /// Sent by the business from the channel's own app (or another app on the account).
    pub is_echo: bool,
    /// Messenger/Instagram echoes: the app that sent the message, to tell ours from others.
    pub app_id: Option<String>,
    /// TikTok's conversation id, which its send API takes as the recipient.
    pub conversation_id: Option<String>,
    pub kind: MessageKind,
    /// The text, caption, button/list title or postback title.
    pub text: Option<String>,
    /// The message's media (the first one when a Messenger/Instagram message carries several).
    pub media: Option<MediaRef>,
    /// Any further media of the same message, in the order sent.
    pub extra_media: Vec<MediaRef>,
    pub location: Option<Location>,
    /// WhatsApp `contacts` messages: the shared contact cards as sent.
    pub shared_contacts: Vec<Value>,
    /// The answer the customer picked (buttons, lists, flows, quick replies, postbacks).
    pub reply: Option<InteractiveReply>,
    /// The channel id of the message this one replies to.
    pub reply_to: Option<String>,
    pub forwarded: bool,
    /// Click-to-WhatsApp ad, Messenger/Instagram referral (ad, link, shop product), as sent.
    pub referral: Option<Value>,
    /// Instagram story mentions and story replies.
    pub story: Option<StoryRef>,
    /// WhatsApp `order` messages: the order as sent (`catalog_id`, `product_items`).
    pub order: Option<Value>,
    /// WhatsApp `system` messages: the notice as sent (number or user id changes).
    pub system: Option<Value>,
    /// For kind `unsupported`: the channel's own name of what was sent, when it gave one.
    pub unsupported_type: Option<String>,
    pub errors: Vec<ChannelError>,
}

impl IncomingMessage {
    /// A message with no content yet: the channel parsers fill in what they find.
    pub(crate) fn new(
        channel: Channel,
        account_id: &str,
        customer: CustomerRef,
        channel_message_id: String,
        timestamp: OffsetDateTime,
        direction: Direction,
    ) -> Self {
        Self {
            channel,
            account_id: account_id.to_owned(),
            customer,
            channel_message_id,
            timestamp,
            direction,
            is_echo: direction == Direction::Out,
            app_id: None,
            conversation_id: None,
            kind: MessageKind::Unsupported,
            text: None,
            media: None,
            extra_media: Vec::new(),
            location: None,
            shared_contacts: Vec::new(),
            reply: None,
            reply_to: None,
            forwarded: false,
            referral: None,
            story: None,
            order: None,
            system: None,
            unsupported_type: None,
            errors: Vec::new(),
        }
    }

    /// Marks the message as something this code cannot show, keeping the channel's name of it.
    pub(crate) fn unsupported(&mut self, what: Option<&str>) {
        self.kind = MessageKind::Unsupported;
        self.unsupported_type = what.map(str::to_owned);
    }
}

/// The customer a message belongs to, as the channel identifies them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRef {
    /// The identity the contact is keyed by: WhatsApp `wa_id` (or the business-scoped user id
    /// when no phone is given), the Messenger PSID, the Instagram IGSID, the TikTok user id.
    pub external_id: String,
    /// WhatsApp only, from the `wa_id`, to match contacts typed in by phone.
    pub phone: Option<Phone>,
    /// WhatsApp's business-scoped user id (BSUID), when given, even beside a phone.
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub profile_name: Option<String>,
}

impl CustomerRef {
    pub(crate) fn id(external_id: impl Into<String>) -> Self {
        Self {
            external_id: external_id.into(),
            phone: None,
            user_id: None,
            username: None,
            profile_name: None,
        }
    }
}

/// Who wrote it: the customer (`in`) or the business (`out`, an echo of the channel's app).
pub use crate::domain::Direction;

/// The Message `kind` of the API: the stored message's own type, so a channel message needs
/// no translation on its way to storage.
pub use crate::domain::MessageKind;
use crate::domain::MessageStatus;

/// A media file as the channel refers to it: an id to fetch through its API (WhatsApp,
/// TikTok) or a URL (Messenger, Instagram, which expire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaRef {
    pub kind: MediaKind,
    pub media_id: Option<String>,
    pub url: Option<String>,
    pub mime_type: Option<String>,
    /// As the channel gives it (WhatsApp: base64 of the SHA-256); the worker records its own.
    pub sha256: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
    /// A voice note recorded in the app rather than an audio file.
    pub voice: bool,
}

impl MediaRef {
    pub(crate) fn new(kind: MediaKind) -> Self {
        Self {
            kind,
            media_id: None,
            url: None,
            mime_type: None,
            sha256: None,
            caption: None,
            filename: None,
            voice: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    /// An Instagram story (picture or video: only the download tells) behind a CDN URL that
    /// expires, so it is worth fetching at once.
    Story,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub url: Option<String>,
}

/// The option a customer picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractiveReply {
    pub kind: ReplyKind,
    /// The button or row id, the flow name, or the payload the business attached.
    pub id: Option<String>,
    pub title: Option<String>,
    /// A list row's description.
    pub description: Option<String>,
    /// WhatsApp flows (`nfm_reply`): the answers, parsed from the JSON string the channel
    /// sends (kept as the string itself when it is not JSON).
    pub response_json: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    ButtonReply,
    ListReply,
    NfmReply,
    QuickReply,
    Postback,
    TemplateButton,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryRef {
    pub id: Option<String>,
    /// A CDN URL that expires.
    pub url: Option<String>,
}

/// An error a channel reports about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelError {
    pub code: Option<i64>,
    pub title: Option<String>,
    pub details: Option<String>,
}

/// A delivery status of a message the business sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub channel: Channel,
    pub account_id: String,
    pub channel_message_id: String,
    pub status: DeliveryStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The customer the message went to, when the channel says.
    pub recipient_id: Option<String>,
    pub error: Option<ChannelError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    /// A voice note or video was played (WhatsApp).
    Played,
}

impl DeliveryStatus {
    /// The message status a channel's report means. Whether the message takes it is the one
    /// rule of `MessageStatus::can_become`; a voice note played was read.
    pub fn message_status(self) -> MessageStatus {
        match self {
            Self::Sent => MessageStatus::Sent,
            Self::Delivered => MessageStatus::Delivered,
            Self::Read | Self::Played => MessageStatus::Read,
            Self::Failed => MessageStatus::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Played => "played",
        }
    }

    /// The channels' own names (WhatsApp's, lowercase).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        [Self::Sent, Self::Delivered, Self::Read, Self::Failed, Self::Played]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// A reaction to a message (`emoji` None: the reaction was removed), by the customer or, in
/// an echo from the channel's own app, by the business.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub channel: Channel,
    pub account_id: String,
    /// The customer of the conversation (who reacted, unless `direction` is out).
    pub customer_id: String,
    pub direction: Direction,
    /// The reaction's own id, when the channel gives one (WhatsApp), to dedupe on.
    pub channel_message_id: Option<String>,
    pub target_channel_message_id: String,
    pub emoji: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use super::super::tests::envelope;
    use super::*;
    use crate::inbound::UpdateKind;
    use serde_json::json;

    #[test]
    fn channel_statuses_map_onto_the_one_status_rule() {
        use DeliveryStatus::*;
        assert_eq!(Played.message_status(), MessageStatus::Read);
        assert_eq!(Failed.message_status(), MessageStatus::Failed);
        assert_eq!(DeliveryStatus::parse("READ"), Some(Read));
        assert_eq!(DeliveryStatus::parse("deleted"), None);
    }

    #[test]
    fn kinds_serialize_as_the_api_names_them() {
        for kind in [MessageKind::StoryMention, MessageKind::StoryReply, MessageKind::Unsupported] {
            assert_eq!(serde_json::to_value(kind).ok(), Some(Value::String(kind.as_str().into())));
        }
        assert_eq!(serde_json::to_value(ReplyKind::NfmReply).ok(), Some(Value::from("nfm_reply")));
        assert_eq!(serde_json::to_value(Direction::Out).ok(), Some(Value::from("out")));
    }

    #[test]
    fn every_variant_round_trips_through_json_and_has_a_label() {
        let wa = |kind, payload: Value| {
            let mut env = envelope(Channel::Whatsapp, kind, "messages", payload);
            env.profile = Some(json!({"profile": {"name": "Ana"}, "wa_id": "5215512345678"}));
            env
        };
        let wa_message = |extra: Value| {
            let mut m = json!({"from": "5215512345678", "id": "wamid.1", "timestamp": "1795859970"});
            if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
                m.extend(extra.clone());
            }
            wa(UpdateKind::Message, m)
        };
        let messenger = |kind, event| envelope(Channel::Messenger, kind, "messaging", event);
        let envelopes = [
            messenger(
                UpdateKind::Message,
                json!({"sender": {"id": "PSID"}, "timestamp": 1795859970123_i64,
                                                  "message": {"mid": "m_1", "text": "¿Tienen envío a Mérida? 🚚"}}),
            ),
            wa_message(
                json!({"type": "location", "location": {"latitude": 19.43, "longitude": -99.13, "name": "Zócalo"}}),
            ),
            wa_message(
                json!({"type": "interactive", "context": {"id": "wamid.0"}, "interactive": {"type": "nfm_reply",
                              "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"a\": [1, 2.5]}"}}}),
            ),
            wa_message(json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Lupita"}}]})),
            wa_message(json!({"type": "reaction", "reaction": {"message_id": "wamid.0", "emoji": "👍"}})),
            wa_message(json!({"type": "revoke", "revoke": {"original_message_id": "wamid.0"}})),
            wa_message(
                json!({"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]}),
            ),
            wa(
                UpdateKind::Status,
                json!({"id": "wamid.0", "status": "failed", "timestamp": "1795859970",
                                          "errors": [{"code": 131026, "title": "Message undeliverable"}]}),
            ),
            messenger(
                UpdateKind::Status,
                json!({"sender": {"id": "PSID"}, "read": {"watermark": 1795859970123_i64}}),
            ),
            envelope(Channel::Whatsapp, UpdateKind::Event, "account_update", json!({"event": "VERIFIED"})),
        ];
        let mut labels = Vec::new();
        for env in envelopes {
            let out = normalize(&env);
            labels.extend(out.iter().map(Normalized::label));
            let json = serde_json::to_string(&out).unwrap_or_default();
            let back: Vec<Normalized> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(back, out);
        }
        let expected = "message.text message.location message.interactive message.contacts reaction deleted \
                        message.unsupported status.failed read_up_to ignored";
        assert_eq!(labels.join(" "), expected);
        // The wire form: tagged by `type`, kinds in the API's names, RFC 3339 times.
        let text = serde_json::to_value(normalize(&messenger(
            UpdateKind::Message,
            json!({"sender": {"id": "P"},
            "timestamp": 1795859970123_i64, "message": {"mid": "m_2", "text": "hola"}}),
        )))
        .unwrap_or_default();
        assert_eq!((&text[0]["type"], &text[0]["kind"]), (&json!("message"), &json!("text")));
        assert_eq!(text[0]["timestamp"], "2026-11-28T09:59:30.123Z");
    }
}
