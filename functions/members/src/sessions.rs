//! Sessions: a member's own (`GET /v1/me/sessions`), and any member's for those who manage
//! members (`GET /v1/members/{id}/sessions`). The dispatcher records them.

use gestor_shared::http::{ApiError, Call, Reply};
use gestor_shared::ids::MemberId;
use gestor_shared::repo::sessions::Session;
use serde::Serialize;

use crate::Members;

/// The most recently seen sessions a list shows.
const SHOWN: usize = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    items: Vec<Session>,
    /// Always null: the newest sessions fit in one page.
    next_cursor: Option<String>,
}

async fn list_of(
    app: &Members,
    tenant: &gestor_shared::domain::TenantId,
    member: &MemberId,
) -> Result<Reply, ApiError> {
    let mut items = app.core.sessions.list(tenant, member).await?;
    items.truncate(SHOWN);
    Reply::ok(&SessionList { items, next_cursor: None })
}

/// The caller's sessions in this business, most recently seen first: where and on what they
/// signed in.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "members", responses((status = 200, body = SessionList)))]
pub async fn mine(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    list_of(app, &caller.tenant, &caller.member.id).await
}

/// A member's sessions (owners and admins).
#[utoipa::path(
    get, path = "/v1/members/{id}/sessions", tag = "members",
    params(("id" = String, Path, description = "mb_...")),
    responses(
        (status = 200, body = SessionList),
        (status = 404, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn of_member(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = MemberId::parse(call.path_param("id")?).map_err(|_| ApiError::NotFound)?;
    if app.core.members.get_by_id(&caller.tenant, &id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    list_of(app, &caller.tenant, &id).await
}
