//! Inviting people: `POST /v1/members` (owners and admins) makes an invite for an email and a
//! role; `POST /v1/invites/{code}/accept` makes the signed-in user with that email a member.

use gestor_shared::domain::{Email, Role};
use gestor_shared::http::{ApiError, Call, FieldError, Reply};
use gestor_shared::repo::members::{INVITE_LIFETIME, Invite, InviteError, new_code};
use serde::Serialize;
use time::OffsetDateTime;

use crate::Members;
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
/// answer holds the single-use code, valid 7 days, for the invited email only.
#[utoipa::path(
    post, path = "/v1/members", tag = "members",
    request_body = Object,
    responses((status = 201, body = InviteView, description = "The invite; hand its code to the invited person")),
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
    let view = InviteView { email: invite.email, role, code, expires_at: invite.expires_at };
    // The audit entry names the fields, never the code or the email.
    Ok(Reply::created(&view)?.changed(vec!["email".into(), "role".into()]))
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
