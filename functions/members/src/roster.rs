//! The business's members: listed for every member, changed and removed by owners and admins.
//! Only an owner makes or unmakes an owner, and the last owner can be neither demoted nor
//! removed.

use gestor_shared::domain::Role;
use gestor_shared::http::{ApiError, Call, Caller, Reply};
use gestor_shared::ids::MemberId;
use gestor_shared::repo::members::{Member, RosterError};
use serde::Serialize;

use crate::Members;

/// A member as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    id: String,
    email: String,
    name: String,
    role: Role,
    team_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: time::OffsetDateTime,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            id: m.id.to_string(),
            email: m.email,
            name: m.name,
            role: m.role,
            team_ids: m.team_ids,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberList {
    items: Vec<MemberView>,
}

fn member_id(call: &Call) -> Result<MemberId, ApiError> {
    MemberId::parse(call.path_param("id")?).map_err(|_| ApiError::NotFound)
}

fn roster_error(e: RosterError) -> ApiError {
    match e {
        RosterError::NotFound => ApiError::NotFound,
        RosterError::LastOwner => ApiError::Conflict {
            detail: "the business would have no owner left: make another member owner first".into(),
            errors: vec![],
        },
        RosterError::Busy => ApiError::storage("the members kept changing"),
        RosterError::Table(e) => e.into(),
    }
}

/// Only an owner touches an owner, or makes one.
fn may_change(caller: &Caller, target: &Member, role: Option<Role>) -> Result<(), ApiError> {
    let owners_business = target.role == Role::Owner || role == Some(Role::Owner);
    if owners_business && caller.member.role != Role::Owner {
        return Err(ApiError::Forbidden("only an owner makes, changes or removes an owner".into()));
    }
    Ok(())
}

/// The business's members, by member id.
#[utoipa::path(get, path = "/v1/members", tag = "members", responses((status = 200, body = MemberList)))]
pub async fn list(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let members = app.core.members.list(&caller.tenant).await?;
    Reply::ok(&MemberList { items: members.into_iter().map(MemberView::from).collect() })
}

/// One member.
#[utoipa::path(
    get, path = "/v1/members/{id}", tag = "members",
    params(("id" = String, Path, description = "mb_...")),
    responses((status = 200, body = MemberView), (status = 404, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json")),
)]
pub async fn get(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let member =
        app.core.members.get_by_id(&caller.tenant, &member_id(&call)?).await?.ok_or(ApiError::NotFound)?;
    Reply::ok(&MemberView::from(member))
}

/// Change a member's role (owner, admin): `{"role": "owner" | "admin" | "manager" | "agent" |
/// "viewer"}`. 409 when it would leave the business without an owner.
#[utoipa::path(
    patch, path = "/v1/members/{id}", tag = "members",
    params(("id" = String, Path, description = "mb_...")),
    request_body = Object,
    responses(
        (status = 200, body = MemberView),
        (status = 409, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The last owner"),
    )
)]
pub async fn patch(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = member_id(&call)?;
    let body = call.json_object()?;
    if let Some(unknown) = body.keys().find(|k| k.as_str() != "role") {
        return Err(ApiError::invalid_field(unknown.clone(), "is not a field a member's change takes"));
    }
    let role = body.get("role").and_then(|v| v.as_str()).and_then(Role::parse).ok_or_else(|| {
        ApiError::invalid_field("role", "must be one of owner, admin, manager, agent, viewer")
    })?;
    let target = app.core.members.get_by_id(&caller.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    may_change(caller, &target, Some(role))?;
    let changed = app.core.members.change_role(&caller.tenant, &id, role).await.map_err(roster_error)?;
    Ok(Reply::ok(&MemberView::from(changed))?.subject(id.as_str()).changed(vec!["role".into()]))
}

/// Remove a member from the business (owner, admin). Their past work stays, under their id.
#[utoipa::path(
    delete, path = "/v1/members/{id}", tag = "members",
    params(("id" = String, Path, description = "mb_...")),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The last owner"),
    )
)]
pub async fn remove(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = member_id(&call)?;
    let target = app.core.members.get_by_id(&caller.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    may_change(caller, &target, None)?;
    app.core.members.remove(&caller.tenant, &id).await.map_err(roster_error)?;
    Ok(Reply::no_content().subject(id.as_str()))
}
