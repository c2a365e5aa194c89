//! The inbox routes: parse, read through the repositories, answer. Authentication, permission
//! and tenant isolation are the dispatcher's and the keys' (gestor_shared::http::service).

use gestor_shared::http::PageQuery;
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Page, Reply};
use gestor_shared::ids::MemberId;
use gestor_shared::inbound::Channel;
use gestor_shared::repo::conversations::{Conversation, ConversationFilter, ConversationStatus};
use gestor_shared::repo::messages::{
    Direction, MessageFailure, MessageKind, MessageOrder, MessageStatus, Reaction,
};

use crate::views::{self, MediaView, MessagePage, MessageView};
use crate::{Conversations, conversation_id};

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    crate::replies::NewMessage,
    crate::uploads::NewUpload,
    crate::uploads::UploadLink,
    Conversation,
    ConversationPage,
    ConversationStatus,
    MessageView,
    MessagePage,
    Direction,
    MessageKind,
    MessageStatus,
    MessageFailure,
    MediaView,
    Reaction,
    Problem,
    FieldError
)))]
pub struct ApiDoc;

/// A page of the inbox (the alias lets the OpenAPI macros name it).
pub type ConversationPage = Page<Conversation>;

fn one_of(names: impl IntoIterator<Item = &'static str>) -> String {
    format!("must be one of {}", names.into_iter().collect::<Vec<_>>().join(", "))
}

fn filter(call: &Call, caller: &Caller) -> Result<ConversationFilter, ApiError> {
    let mut errors = Vec::new();
    let mut f = ConversationFilter::default();
    if let Some(raw) = call.query_param("status") {
        match ConversationStatus::parse(raw) {
            Some(status) => f.status = Some(status),
            None => {
                errors.push(FieldError::new("status", one_of(ConversationStatus::ALL.map(|s| s.as_str()))))
            }
        }
    }
    if let Some(raw) = call.query_param("assignee") {
        if raw == "me" {
            f.assignee = Some(caller.member.id.clone());
        } else {
            match MemberId::parse(raw) {
                Ok(id) => f.assignee = Some(id),
                Err(_) => errors.push(FieldError::new("assignee", "must be a member id (mb_...) or me")),
            }
        }
    }
    match call.query_param("unassigned") {
        None | Some("false") => {}
        Some("true") if call.query_param("assignee").is_some() => {
            errors.push(FieldError::new("unassigned", "cannot be combined with assignee"));
        }
        Some("true") => f.unassigned = true,
        Some(_) => errors.push(FieldError::new("unassigned", "must be true or false")),
    }
    if let Some(raw) = call.query_param("channel") {
        match Channel::parse(raw) {
            Some(channel) => f.channel = Some(channel),
            None => errors.push(FieldError::new("channel", one_of(Channel::ALL.map(Channel::as_str)))),
        }
    }
    if errors.is_empty() { Ok(f) } else { Err(ApiError::invalid_fields(errors)) }
}

/// The inbox: conversations, newest activity first.
#[utoipa::path(
    get, path = "/v1/conversations", tag = "conversations",
    params(
        ("status" = Option<ConversationStatus>, Query),
        ("assignee" = Option<String>, Query, description = "A member id, or `me`"),
        ("unassigned" = Option<bool>, Query, description = "`true`: only conversations nobody is assigned to"),
        ("channel" = Option<String>, Query, description = "whatsapp, messenger, instagram or tiktok"),
        PageQuery,
    ),
    responses(
        (status = 200, body = ConversationPage),
    )
)]
pub async fn list(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let filter = filter(&call, caller)?;
    let query = filter.canonical();
    let tenant = &caller.tenant;
    let list =
        async |limit, start| app.conversations.list(tenant, &filter, &caller.scope, limit, start).await;
    Reply::ok(&app.core.page(&call, &query, list).await?)
}

/// Get a conversation.
#[utoipa::path(
    get, path = "/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "cv_...")),
    responses(
        (status = 200, body = Conversation, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = conversation_id(&call)?;
    let conversation =
        app.conversations.get_in(&caller.tenant, &id, &caller.scope).await?.ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&conversation)?.version(conversation.version))
}

/// A conversation's messages in the channel's order: oldest first, or newest first with
/// `order=desc` (a chat view opening at the latest message and scrolling back).
#[utoipa::path(
    get, path = "/v1/conversations/{id}/messages", tag = "conversations",
    params(
        ("id" = String, Path, description = "cv_..."),
        ("order" = Option<String>, Query, description = "`asc` (default, oldest first) or `desc`"),
        PageQuery,
    ),
    responses(
        (status = 200, body = MessagePage),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn messages(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = conversation_id(&call)?;
    let (order, name) = match call.query_param("order") {
        None | Some("asc") => (MessageOrder::OldestFirst, "asc"),
        Some("desc") => (MessageOrder::NewestFirst, "desc"),
        Some(_) => return Err(ApiError::invalid_field("order", "must be asc or desc")),
    };
    call.page_params()?;
    // Another tenant's conversation, or none: 404 rather than an empty list.
    if app.conversations.get_in(&caller.tenant, &id, &caller.scope).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let query = format!("conversations/{id}/messages?order={name}");
    let tenant = &caller.tenant;
    let list = async |limit, start| app.messages.list(tenant, &id, order, limit, start).await;
    let page = app.core.page(&call, &query, list).await?;
    Reply::ok(&views::page(page, app.files.as_ref()).await?)
}
