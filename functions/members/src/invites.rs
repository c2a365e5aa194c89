//! Inviting people: `POST /v1/members` (owners and admins) makes an invite for an email and a
//! role and emails it to them; `POST /v1/invites/{code}/accept` makes the signed-in user
//! with that email a member.

use gestor_shared::domain::{Email, Role};
use gestor_shared::http::{ApiError, Call, Caller, FieldError, Reply};
use gestor_shared::ports::MailError;
use gestor_shared::repo::members::{INVITE_LIFETIME, Invite, InviteError, new_code};
use serde::Serialize;
use time::OffsetDateTime;

use crate::Members;
use crate::invite_mail::InviteLetter;
use crate::roster::MemberView;

/// The invite as answered to whoever made it: the code once, to hand to the invited person
/// (it is never shown again, and the table keeps only its hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InviteView {
    email: String,
    role: Role,
    /// For `POST /v1/invites/{code}/accept`, by the person signed in with `email`.
    code: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
}

/// Invite someone (owner, admin): `{"email", "role"}`. Only an owner invites an owner. The
/// invited person gets an email with the link and the single-use code, valid 7 days, for
/// their email only; the answer holds the code too. When the email cannot be sent the
/// invite is withdrawn (its code never works): 503 when the mail service is busy or down
/// (try again), 500 when it refuses our sender (logged, for the operators).
#[utoipa::path(
    post, path = "/v1/members", tag = "members",
    request_body = Object,
    responses(
        (status = 201, body = InviteView, description = "The invite, emailed to the invited person"),
        (status = 503, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The mail service is busy or down; nothing was kept, try again"),
    ),
)]
pub async fn create(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let body = call.json_object()?;
    let mut errors = Vec::new();
    if let Some(unknown) = body.keys().find(|k| !["email", "role"].contains(&k.as_str())) {
        errors.push(FieldError::new(unknown.clone(), "is not a field of an invite"));
    }
    let email = body.get("email").and_then(|v| v.as_str()).and_then(|e| Email::parse(e).ok());
    if email.is_none() {
        errors.push(FieldError::new("email", "must be an email address"));
    }
    let role = body.get("role").and_then(|v| v.as_str()).and_then(Role::parse);
    if role.is_none() {
        errors.push(FieldError::new("role", "must be one of owner, admin, manager, agent, viewer"));
    }
    let (Some(email), Some(role)) = (email, role) else { return Err(ApiError::invalid_fields(errors)) };
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    if role == Role::Owner && caller.member.role != Role::Owner {
        return Err(ApiError::Forbidden("only an owner invites an owner".into()));
    }
    let invite = Invite {
        tenant_id: caller.tenant.clone(),
        email: email.as_str().to_ascii_lowercase(),
        role,
        invited_by: caller.member.id.clone(),
        expires_at: OffsetDateTime::now_utc() + INVITE_LIFETIME,
        accepted_by: String::new(),
    };
    let code = new_code()?;
    app.core.members.invite(&code, &invite).await?;
    if let Err(failure) = send_invite(app, caller, &invite, &code).await {
        // A code nobody received must not stay live: the inviter tries again instead.
        if let Err(e) = app.core.members.withdraw_invite(&code).await {
            tracing::error!(cause = %e, "an invite whose email failed was not withdrawn");
        }
        return Err(failure);
    }
    let view = InviteView { email: invite.email, role, code, expires_at: invite.expires_at };
    // The audit entry names the fields, never the code or the email.
    Ok(Reply::created(&view)?.changed(vec!["email".into(), "role".into()]))
}

async fn send_invite(app: &Members, caller: &Caller, invite: &Invite, code: &str) -> Result<(), ApiError> {
    let business = match app.core.tenants.get(&caller.tenant).await? {
        Some(tenant) => tenant.name,
        None => caller.tenant.to_string(),
    };
    let letter = InviteLetter {
        to: &invite.email,
        business: &business,
        inviter: &caller.member.name,
        role: invite.role,
        code,
        expires_at: invite.expires_at,
        app_url: &app.app_url,
    };
    match app.mail.send(&letter.mail()).await {
        Ok(_) => Ok(()),
        // The cause names the service's reason, never the address or the code.
        Err(e @ MailError::Unavailable(_)) => {
            Err(ApiError::Unavailable { what: "the mail service", cause: e.to_string() })
        }
        // The sender is not verified, the account is paused: ours to fix, not the inviter's
        // to retry (logged with its cause, answered 500).
        Err(e @ MailError::Refused(_)) => Err(ApiError::Internal(e.to_string())),
    }
}

/// Accept an invite: the signed-in user whose token carries the invited email becomes a
/// member with the invite's role. A code works once and for 7 days.
#[utoipa::path(
    post, path = "/v1/invites/{code}/accept", tag = "members",
    params(("code" = String, Path, description = "The invite's code")),
    responses(
        (status = 201, body = MemberView),
        (status = 403, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The invite is for another email"),
        (status = 404, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "Unknown, used or expired"),
    )
)]
pub async fn accept(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let Some(claims) = &call.claims else { return Err(ApiError::Unauthorized) };
    let code = call.path_param("code")?;
    let Some(email) = claims.email.as_deref() else {
        return Err(ApiError::Forbidden("the token names no email: sign in with the invited one".into()));
    };
    match app.core.members.accept(code, &claims.sub, email, OffsetDateTime::now_utc()).await {
        Ok((tenant, member)) => Ok(Reply::created(&MemberView::from(member.clone()))?
            .resource(tenant.as_str())
            .subject(member.id.as_str())),
        Err(InviteError::Invalid) => Err(ApiError::NotFound),
        Err(InviteError::OtherEmail) => Err(ApiError::Forbidden("this invite is for another email".into())),
        Err(InviteError::Table(e)) => Err(e.into()),
    }
}
