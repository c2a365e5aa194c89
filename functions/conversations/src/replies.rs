//! Writing in a conversation: a reply to the customer, checked against the channel's window,
//! stored `queued` and put on the outbound queue for the sender; or a private note for the
//! team, stored and never sent.

use gestor_shared::domain::reply_window::{Content, Sender, Window};
use gestor_shared::domain::{Channel, Direction, MessageKind, MessageStatus};
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Reply};
use gestor_shared::ids::MessageId;
use gestor_shared::outbound::SendJob;
use gestor_shared::repo::conversations::Conversation;
use gestor_shared::repo::messages::{Media, Message};
use gestor_shared::repo::replies::ReplyError;
use gestor_shared::repo::scope::RowScope;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::media_reply;
use crate::views::{self, MessageView};
use crate::{Conversations, conversation_id};

/// Longest private note.
const MAX_NOTE_CHARS: usize = 10_000;
/// Longest template name and parameter WhatsApp accepts.
const MAX_TEMPLATE_NAME: usize = 512;
const MAX_TEMPLATE_PARAMETER: usize = 1_024;

/// The longest text each channel delivers (characters).
fn max_text(channel: Channel) -> usize {
    match channel {
        Channel::Whatsapp => 4_096,
        Channel::Messenger => 2_000,
        Channel::Instagram => 1_000,
        Channel::Tiktok => 6_000,
    }
}

/// A reply or a note, as the frontend sends it (API.md).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NewMessage {
    /// The text of a reply, or of a note with `private: true`.
    text: Option<String>,
    /// `true`: an internal note, never sent to the customer.
    private: Option<bool>,
    /// A WhatsApp template: `{"name", "language", "parameters": ["..."]}`.
    #[schema(value_type = Option<Object>)]
    template: Option<Value>,
    /// WhatsApp only: `{"type": "buttons", "body", "buttons": [{"id", "title"}]}` (up to 3) or
    /// `{"type": "list", "body", "button", "sections": [{"title", "rows": [{"id", "title",
    /// "description"}]}]}` (up to 10 rows).
    #[schema(value_type = Option<Object>)]
    interactive: Option<Value>,
    /// A file: `{"file_id"}` (from `POST /v1/uploads`) or `{"url"}` (https, fetched by the
    /// sender), with an optional `caption` (WhatsApp images, video and documents).
    #[schema(value_type = Option<Object>)]
    media: Option<Value>,
    /// The message this answers (`msg_...`, one of the conversation's latest 100): on
    /// WhatsApp the reply shows under it.
    reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Compose {
    Note(String),
    Text(String),
    Template {
        name: String,
        language: String,
        parameters: Vec<String>,
    },
    /// WhatsApp buttons or a list: the normalized form, and its body text.
    Interactive {
        interactive: Value,
        body: String,
    },
    /// A file, as `media_reply` composed it for the channel.
    Media {
        kind: MessageKind,
        media: Media,
        details: Value,
    },
}

impl Compose {
    fn parse(body: &Map<String, Value>, channel: Channel) -> Result<Self, ApiError> {
        if body.contains_key("media") {
            // Only a note gets here with media: a reply's media is composed apart.
            return Err(ApiError::invalid_field("media", "a note is text only"));
        }
        if let Some(unknown) = body
            .keys()
            .find(|k| !["text", "private", "template", "interactive", "reply_to"].contains(&k.as_str()))
        {
            return Err(ApiError::invalid_field(unknown.clone(), "is not a field of a message"));
        }
        let private = match body.get("private") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::invalid_field("private", "must be true or false")),
        };
        if let Some(interactive) = body.get("interactive") {
            if body.contains_key("text") || body.contains_key("template") || private {
                return Err(ApiError::invalid_field("interactive", "is sent alone"));
            }
            if channel != Channel::Whatsapp {
                return Err(ApiError::Unprocessable(format!(
                    "interactive messages are WhatsApp's; this conversation is on {channel}"
                )));
            }
            let Value::Object(interactive) = interactive else {
                return Err(ApiError::invalid_field("interactive", "must be an object"));
            };
            let (interactive, body) = crate::interactive::parse(interactive)?;
            return Ok(Compose::Interactive { interactive, body });
        }
        match (body.get("text"), body.get("template")) {
            (Some(_), Some(_)) => Err(ApiError::invalid_field("template", "cannot be sent with text")),
            (Some(Value::String(text)), None) => {
                let text = text.trim();
                let limit = if private { MAX_NOTE_CHARS } else { max_text(channel) };
                if text.is_empty() {
                    Err(ApiError::invalid_field("text", "must not be empty"))
                } else if text.chars().count() > limit {
                    Err(ApiError::invalid_field(
                        "text",
                        format!("must be at most {limit} characters on {channel}"),
                    ))
                } else if private {
                    Ok(Compose::Note(text.to_owned()))
                } else {
                    Ok(Compose::Text(text.to_owned()))
                }
            }
            (Some(_), None) => Err(ApiError::invalid_field("text", "must be a string")),
            (None, Some(_)) if private => {
                Err(ApiError::invalid_field("private", "only a text can be a note"))
            }
            (None, Some(Value::Object(template))) => template_of(template),
            (None, Some(_)) => Err(ApiError::invalid_field("template", "must be an object")),
            (None, None) => {
                Err(ApiError::bad_request("send `text` (with `private: true` for a note) or `template`"))
            }
        }
    }

    fn content(&self) -> Content {
        match self {
            Compose::Template { .. } => Content::Template,
            _ => Content::FreeForm,
        }
    }

    /// The message `id` this makes in `conversation`, written by `caller` at `now`.
    fn message(
        &self,
        id: MessageId,
        conversation: &Conversation,
        caller: &Caller,
        now: OffsetDateTime,
        reply_to: Option<&MessageId>,
    ) -> Message {
        let (kind, text, details, status) = match self {
            // A note is recorded, never delivered: nothing will move its status.
            Compose::Note(text) => (MessageKind::Note, Some(text.clone()), None, MessageStatus::Sent),
            Compose::Text(text) => (MessageKind::Text, Some(text.clone()), None, MessageStatus::Queued),
            Compose::Template { name, language, parameters } => (
                MessageKind::Template,
                None,
                Some(json!({"template": {"name": name, "language": language, "parameters": parameters}})),
                MessageStatus::Queued,
            ),
            Compose::Interactive { interactive, body } => (
                MessageKind::Interactive,
                Some(body.clone()),
                Some(json!({"interactive": interactive})),
                MessageStatus::Queued,
            ),
            Compose::Media { kind, media, details } => {
                (*kind, media.caption.clone(), Some(details.clone()), MessageStatus::Queued)
            }
        };
        let media = match self {
            Compose::Media { media, .. } => Some(media.clone()),
            _ => None,
        };
        Message {
            id,
            conversation_id: conversation.id.clone(),
            contact_id: conversation.contact_id.clone(),
            channel: conversation.channel,
            direction: Direction::Out,
            kind,
            raw_kind: None,
            text,
            media,
            details,
            status,
            status_at: None,
            error: None,
            channel_message_id: None,
            reply_to: reply_to.cloned(),
            reactions: vec![],
            deleted: false,
            edited_at: None,
            sent_by: Some(caller.member.id.clone()),
            created_at: now,
            updated_at: now,
        }
    }
}

fn template_of(template: &Map<String, Value>) -> Result<Compose, ApiError> {
    let mut errors = Vec::new();
    let name = template.get("name").and_then(Value::as_str).unwrap_or_default();
    let valid_name = !name.is_empty()
        && name.len() <= MAX_TEMPLATE_NAME
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        errors.push(FieldError::new(
            "template.name",
            "must be the template's name: lowercase letters, digits and _",
        ));
    }
    let language = template.get("language").and_then(Value::as_str).unwrap_or_default();
    let valid_language = (2..=15).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_language {
        errors.push(FieldError::new("template.language", "must be a language code such as es_MX"));
    }
    let mut parameters = Vec::new();
    match template.get("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(values)) => {
            for value in values {
                match value.as_str() {
                    Some(p) if !p.trim().is_empty() && p.chars().count() <= MAX_TEMPLATE_PARAMETER => {
                        parameters.push(p.to_owned())
                    }
                    _ => {
                        errors.push(FieldError::new(
                            "template.parameters",
                            "must be texts of 1 to 1024 characters",
                        ));
                        break;
                    }
                }
            }
        }
        Some(_) => errors.push(FieldError::new("template.parameters", "must be a list of texts")),
    }
    if let Some(unknown) = template.keys().find(|k| !["name", "language", "parameters"].contains(&k.as_str()))
    {
        errors.push(FieldError::new(format!("template.{unknown}"), "is not a field of a template"));
    }
    if errors.is_empty() {
        Ok(Compose::Template { name: name.to_owned(), language: language.to_owned(), parameters })
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

/// Write in a conversation: `{"text"}` replies to the customer, `{"text", "private": true}`
/// is a note for the team, `{"template": {"name", "language", "parameters"}}` sends an
/// approved WhatsApp template. A reply is checked against the channel's window (422 with
/// the reason outside it), stored `queued` and sent in order by the outbound worker; its
/// status then moves to `sending`, `sent`, `delivered`, `read`, or `failed` with the reason.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "cv_...")),
    request_body = NewMessage,
    responses(
        (status = 202, body = MessageView, description = "A reply, queued for sending"),
        (status = 201, body = MessageView, description = "A note, stored"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Outside the channel's window, or not available on this channel"),
    )
)]
pub async fn create(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = conversation_id(&call)?;
    let body = call.json_object()?;
    let now = OffsetDateTime::now_utc();
    // Under row scoping, nothing of a conversation out of the caller's rows is looked at
    // (not even whether a `reply_to` is one of its messages).
    if caller.scope != RowScope::Business
        && app.conversations.get_in(&caller.tenant, &id, &caller.scope).await?.is_none()
    {
        return Err(ApiError::NotFound);
    }
    // The channel decides the limits and the window: the message is composed on the stored
    // conversation as the repository reads it (whose tenant its key proves), once.
    if matches!(body.get("private"), Some(Value::Bool(true))) {
        let note = app
            .replies
            .note(&caller.tenant, &id, &caller.scope, |current| -> Result<Message, ApiError> {
                Ok(Compose::parse(&body, current.channel)?.message(
                    MessageId::new(),
                    current,
                    caller,
                    now,
                    None,
                ))
            })
            .await
            .map_err(reply_error)?;
        let view = views::view(note, app.files.as_ref()).await?;
        return Ok(Reply::created(&view)?.resource(view.id.as_str()).subject(view.contact_id.as_str()));
    }
    if let Some(Value::Object(template)) = body.get("template") {
        let text = |name: &str| template.get(name).and_then(Value::as_str).unwrap_or_default();
        crate::opposition::check_template(app, &caller.tenant, &id, text("name"), text("language")).await?;
    }
    let approved = app.human_agent_approved;
    let replied = match body.get("reply_to") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => Some(replied_to(app, caller, &id, raw).await?),
        Some(_) => return Err(ApiError::invalid_field("reply_to", "must be a message id (msg_...)")),
    };
    let media = media_reply::requested(&body)?;
    let known = match &media {
        Some(request) => Some(media_reply::known(app, &caller.tenant, request).await?),
        None => None,
    };
    let message_id = MessageId::new();
    let record = media.as_ref().and_then(|request| media_reply::record(&caller.tenant, request));
    let uploaded = record.is_some();
    let (reply, job) = app
        .replies
        .queue_reading(&caller.tenant, &id, &caller.scope, record, |current, record| -> Result<(Message, SendJob), ApiError> {
            let compose = match (&media, &known) {
                (Some(request), Some(known)) => {
                    let known = if uploaded { &media_reply::with_record(known, record)? } else { known };
                    let (kind, media, details) =
                        media_reply::compose(&caller.tenant, &message_id, current.channel, request, known)?;
                    Compose::Media { kind, media, details }
                }
                _ => Compose::parse(&body, current.channel)?,
            };
            if current.channel == Channel::Tiktok && replied.is_some() && matches!(compose, Compose::Media { .. }) {
                return Err(ApiError::invalid_field("reply_to", "TikTok threads texts only: send the image without it"));
            }
            // TikTok sends into its own conversation id, which the customer's messages carry.
            let recipient = match current.channel {
                Channel::Tiktok => match &current.channel_conversation_id {
                    Some(id) => Some(id.clone()),
                    None => {
                        return Err(ApiError::Unprocessable(
                            "TikTok has not named this conversation yet: it can be answered once the customer writes again".into(),
                        ));
                    }
                },
                _ => current.customer_channel_id.clone(),
            };
            let window = Window {
                channel: current.channel,
                last_inbound_at: current.last_inbound_at,
                replies_since_inbound: current.replies_since_inbound,
            };
            let delivery = window
                .allows(compose.content(), Sender::Person, now, approved)
                .map_err(|refusal| ApiError::Unprocessable(refusal.to_string()))?;
            let reply =
                compose.message(message_id.clone(), current, caller, now, replied.as_ref().map(|(id, _)| id));
            let mut job = SendJob::of(&caller.tenant, &current.channel_account_id, &reply, delivery);
            job.context = replied.as_ref().map(|(_, channel_id)| channel_id.clone());
            job.recipient = recipient;
            Ok((reply, job))
        })
        .await
        .map_err(reply_error)?;
    app.enqueue("reply", job.to_queue_message()).await;
    let view = views::view(reply, app.files.as_ref()).await?;
    Ok(Reply::json(202, &view)?.resource(view.id.as_str()).subject(view.contact_id.as_str()))
}

/// How far back a reply may point: the conversation's latest messages, as a chat shows them.
const REPLY_LOOKBACK: usize = 100;

/// The message a reply answers, and its id at the channel (WhatsApp's `context`).
async fn replied_to(
    app: &Conversations,
    caller: &Caller,
    conversation: &gestor_shared::ids::ConversationId,
    raw: &str,
) -> Result<(MessageId, String), ApiError> {
    let not_here =
        || ApiError::invalid_field("reply_to", "is not one of this conversation's latest 100 messages");
    let id = MessageId::parse(raw).map_err(|_| not_here())?;
    let (latest, _) = app
        .messages
        .list(
            &caller.tenant,
            conversation,
            gestor_shared::repo::messages::MessageOrder::NewestFirst,
            REPLY_LOOKBACK,
            None,
        )
        .await?;
    let message = latest.into_iter().find(|m| m.id == id).ok_or_else(not_here)?;
    match message.channel_message_id {
        Some(channel_id) if !message.deleted => Ok((id, channel_id)),
        _ => Err(ApiError::Unprocessable(
            "the channel does not know that message (a note, unsent or deleted)".into(),
        )),
    }
}

fn reply_error(e: ReplyError<ApiError>) -> ApiError {
    match e {
        ReplyError::NoConversation => ApiError::NotFound,
        ReplyError::Refused(refused) => refused,
        ReplyError::Message(e) => e.into(),
    }
}
