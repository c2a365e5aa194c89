//! Changing a conversation: its status (a snooze until a time), who it is assigned to, and
//! marking it read. An agent may take an unassigned conversation or give back their own;
//! assigning anyone else is for managers and up.

use gestor_shared::domain::{Channel, Direction};
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Permission, Reply};
use gestor_shared::ids::{MemberId, TeamId};
use gestor_shared::outbound::ReceiptJob;
use gestor_shared::repo::conversations::{
    Conversation, ConversationChange, ConversationError, ConversationStatus,
};
use gestor_shared::repo::messages::MessageOrder;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{Conversations, conversation_id};

/// How often a change checked against one version is tried again when others change the
/// conversation meanwhile (a client's `If-Match` is never retried).
const ATTEMPTS: usize = 3;
/// Messages read back to find the customer's latest one for the read receipt.
const RECEIPT_LOOKBACK: usize = 20;

pub(crate) fn conversation_error(e: ConversationError) -> ApiError {
    match e {
        ConversationError::NotFound => ApiError::NotFound,
        ConversationError::VersionConflict => ApiError::PreconditionFailed,
        ConversationError::Busy => {
            ApiError::conflict("the conversation is being changed by other requests; retry")
        }
        ConversationError::Table(e) => e.into(),
    }
}

/// Who the PATCH names as assignee.
#[derive(Debug, Clone, PartialEq)]
enum Assignee {
    Me,
    Nobody,
    Member(MemberId),
}

#[derive(Debug, Default)]
struct Patch {
    status: Option<ConversationStatus>,
    assignee: Option<Assignee>,
    team: Option<Option<TeamId>>,
    snoozed_until: Option<Option<OffsetDateTime>>,
}

impl Patch {
    fn parse(body: Map<String, Value>, now: OffsetDateTime) -> Result<Self, ApiError> {
        let mut patch = Patch::default();
        let mut errors = Vec::new();
        for (field, value) in body {
            match (field.as_str(), value) {
                ("status", Value::String(s)) => match ConversationStatus::parse(&s) {
                    Some(status) => patch.status = Some(status),
                    None => {
                        errors.push(FieldError::new("status", "must be open, pending, resolved or snoozed"))
                    }
                },
                ("assignee_id", Value::Null) => patch.assignee = Some(Assignee::Nobody),
                ("assignee_id", Value::String(s)) if s == "me" => patch.assignee = Some(Assignee::Me),
                ("assignee_id", Value::String(s)) => match MemberId::parse(&s) {
                    Ok(id) => patch.assignee = Some(Assignee::Member(id)),
                    Err(_) => errors
                        .push(FieldError::new("assignee_id", "must be a member id (mb_...), me or null")),
                },
                ("team_id", Value::Null) => patch.team = Some(None),
                ("team_id", Value::String(s)) => match TeamId::parse(&s) {
                    Ok(id) => patch.team = Some(Some(id)),
                    Err(_) => errors.push(FieldError::new("team_id", "must be a team id (tm_...) or null")),
                },
                ("snoozed_until", Value::Null) => patch.snoozed_until = Some(None),
                ("snoozed_until", Value::String(s)) => {
                    match OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339) {
                        Ok(at) if at > now => patch.snoozed_until = Some(Some(at)),
                        Ok(_) => errors.push(FieldError::new("snoozed_until", "must be in the future")),
                        Err(_) => errors.push(FieldError::new("snoozed_until", "must be an RFC 3339 time")),
                    }
                }
                ("status" | "assignee_id" | "team_id" | "snoozed_until", _) => {
                    errors.push(FieldError::new(field, "has the wrong type"));
                }
                _ => errors.push(FieldError::new(
                    field,
                    "cannot be changed (status, assignee_id, team_id, snoozed_until)",
                )),
            }
        }
        // A snooze time alone means snoozing.
        if patch.status.is_none() && matches!(patch.snoozed_until, Some(Some(_))) {
            patch.status = Some(ConversationStatus::Snoozed);
        }
        if errors.is_empty() { Ok(patch) } else { Err(ApiError::invalid_fields(errors)) }
    }

    fn fields(&self) -> Vec<String> {
        let named = [
            (self.status.is_some(), "status"),
            (self.assignee.is_some(), "assignee_id"),
            (self.team.is_some(), "team_id"),
            (self.snoozed_until.is_some(), "snoozed_until"),
        ];
        named.into_iter().filter(|(given, _)| *given).map(|(_, name)| name.to_owned()).collect()
    }

    /// The change as the repository applies it, once the caller may make it.
    async fn change(
        &self,
        app: &Conversations,
        caller: &Caller,
        current: &Conversation,
    ) -> Result<ConversationChange, ApiError> {
        let mut change = ConversationChange {
            status: self.status,
            snoozed_until: self.snoozed_until,
            ..ConversationChange::default()
        };
        if let Some(assignee) = &self.assignee {
            let me = &caller.member.id;
            let next = match assignee {
                Assignee::Me => Some(me.clone()),
                Assignee::Nobody => None,
                Assignee::Member(id) => Some(id.clone()),
            };
            let someone_elses = current.assignee_id.as_ref().is_some_and(|a| a != me);
            let to_another = next.as_ref().is_some_and(|a| a != me);
            if (someone_elses || to_another) && caller.require(Permission::ConversationsAssign).is_err() {
                return Err(ApiError::Forbidden(
                    "an agent may take an unassigned conversation or give back their own; \
                     assigning others is for managers and up"
                        .into(),
                ));
            }
            if let Some(id) = next.as_ref().filter(|id| *id != me)
                && app.core.members.get_by_id(&caller.tenant, id).await?.is_none()
            {
                return Err(ApiError::invalid_field("assignee_id", "is not a member of this business"));
            }
            change.assignee_id = Some(next);
        }
        if let Some(team) = &self.team {
            caller.require(Permission::ConversationsAssign)?;
            if let Some(id) = team
                && app.core.members.team(&caller.tenant, id).await?.is_none()
            {
                return Err(ApiError::invalid_field("team_id", "is not a team of this business"));
            }
            change.team_id = Some(team.as_ref().map(|t| t.to_string()));
        }
        let status = self.status.unwrap_or(current.status);
        let until = self.snoozed_until.unwrap_or(current.snoozed_until);
        if status == ConversationStatus::Snoozed && until.is_none() {
            return Err(ApiError::invalid_field("snoozed_until", "is needed to snooze a conversation"));
        }
        Ok(change)
    }
}

/// Change a conversation with a JSON merge patch: `status`, `assignee_id` (a member id, `me`
/// or `null`), `team_id` (a team id or `null`: managers and up), `snoozed_until` (a future
/// time; alone, it snoozes). `If-Match: "<version>"`
/// makes the change conditional. A new message from the customer reopens a resolved or
/// snoozed conversation.
#[utoipa::path(
    patch, path = "/v1/conversations/{id}", tag = "conversations",
    params(
        ("id" = String, Path, description = "cv_..."),
        ("If-Match" = Option<String>, Header, description = "The ETag of the version the change is based on"),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "status, assignee_id, team_id, snoozed_until"),
    responses(
        (status = 200, body = Conversation, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn patch(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = conversation_id(&call)?;
    let if_match = call.if_match()?;
    let patch = Patch::parse(call.json_object()?, OffsetDateTime::now_utc())?;
    for _ in 0..ATTEMPTS {
        let current =
            app.conversations.get_in(&caller.tenant, &id, &caller.scope).await?.ok_or(ApiError::NotFound)?;
        if if_match.is_some_and(|v| v != current.version) {
            return Err(ApiError::PreconditionFailed);
        }
        let change = patch.change(app, caller, &current).await?;
        // Checked against this version: applied only if it is still the current one.
        match app.conversations.change(&caller.tenant, &id, &change, Some(current.version)).await {
            Ok(changed) => {
                if let (Some(Some(_)), ConversationStatus::Snoozed, Some(until)) =
                    (patch.snoozed_until, changed.status, changed.snoozed_until)
                    && let Err(e) = app.snoozes.schedule(&caller.tenant, &changed.id, until).await
                {
                    // It still wakes when the customer writes; the agent sees it snoozed.
                    tracing::warn!(cause = %e, "the wake-up of a snoozed conversation was not scheduled");
                }
                return Ok(Reply::ok(&changed)?
                    .version(changed.version)
                    .subject(changed.contact_id.as_str())
                    .changed(patch.fields()));
            }
            Err(ConversationError::VersionConflict) if if_match.is_none() => continue,
            Err(e) => return Err(conversation_error(e)),
        }
    }
    Err(ApiError::conflict("the conversation is being changed by other requests; retry"))
}

/// Mark a conversation read: its unread count goes to zero, and the customer's channel is
/// told the business read their latest message (WhatsApp's read status, Messenger's and
/// Instagram's `mark_seen`), unless the business turned read receipts off (`PATCH
/// /v1/tenant` `read_receipts: false`).
#[utoipa::path(
    post, path = "/v1/conversations/{id}/read", tag = "conversations",
    params(("id" = String, Path, description = "cv_...")),
    responses(
        (status = 200, body = Conversation, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn mark_read(app: &Conversations, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = conversation_id(&call)?;
    let read =
        app.conversations.mark_read(&caller.tenant, &id, &caller.scope).await.map_err(conversation_error)?;
    // A profile that cannot be read sends the receipt: it is what a new business has on.
    let receipts = app.core.tenants.get(&caller.tenant).await.ok().flatten().is_none_or(|t| t.read_receipts);
    if receipts && read.channel != Channel::Tiktok {
        let (latest, _) =
            app.messages.list(&caller.tenant, &id, MessageOrder::NewestFirst, RECEIPT_LOOKBACK, None).await?;
        let inbound = latest.into_iter().find(|m| m.direction == Direction::In && !m.deleted);
        if let Some(channel_message_id) = inbound.and_then(|m| m.channel_message_id) {
            let receipt = ReceiptJob {
                tenant: caller.tenant.clone(),
                conversation_id: read.id.clone(),
                channel_account_id: read.channel_account_id.clone(),
                channel: read.channel,
                contact_id: read.contact_id.clone(),
                channel_message_id,
                recipient: read.customer_channel_id.clone(),
            };
            app.enqueue("receipt", receipt.to_queue_message()).await;
        }
    }
    Ok(Reply::ok(&read)?
        .version(read.version)
        .subject(read.contact_id.as_str())
        .changed(vec!["unread_count".into()]))
}
