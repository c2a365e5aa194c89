//! Teams (`/v1/teams`): every member sees them; owners and admins make, change and delete
//! them.

use gestor_shared::http::{ApiError, Call, FieldError, Reply};
use gestor_shared::ids::{MemberId, TeamId};
use gestor_shared::repo::members::{MAX_TEAM, Team, TeamError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Members;

const MAX_NAME: usize = 80;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamList {
    items: Vec<Team>,
}

fn team_id(call: &Call) -> Result<TeamId, ApiError> {
    TeamId::parse(call.path_param("id")?).map_err(|_| ApiError::NotFound)
}

fn team_error(e: TeamError) -> ApiError {
    match e {
        TeamError::NotFound => ApiError::NotFound,
        TeamError::UnknownMember(id) => {
            ApiError::invalid_field("member_ids", format!("{id} is not a member of this business"))
        }
        TeamError::Stale => ApiError::PreconditionFailed,
        TeamError::Table(e) => e.into(),
    }
}

/// `name` and `member_ids` as given (either may be absent on a change).
fn fields(body: &Map<String, Value>) -> Result<(Option<String>, Option<Vec<MemberId>>), ApiError> {
    let mut errors = Vec::new();
    if let Some(unknown) = body.keys().find(|k| !["name", "member_ids"].contains(&k.as_str())) {
        errors.push(FieldError::new(unknown.clone(), "is not a field of a team"));
    }
    let name = body.get("name").map(|v| {
        let name = v.as_str().map(str::trim).unwrap_or_default().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            errors.push(FieldError::new("name", format!("must be 1 to {MAX_NAME} characters")));
        }
        name
    });
    let members = body.get("member_ids").map(|v| {
        let ids: Vec<MemberId> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_str())
            .filter_map(|i| MemberId::parse(i).ok())
            .collect();
        let all_ids = v.as_array().is_some_and(|a| a.len() == ids.len());
        if !all_ids || ids.len() > MAX_TEAM {
            errors
                .push(FieldError::new("member_ids", format!("must be up to {MAX_TEAM} member ids (mb_...)")));
        }
        let mut unique = Vec::new();
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        unique
    });
    if errors.is_empty() { Ok((name, members)) } else { Err(ApiError::invalid_fields(errors)) }
}

/// The business's teams.
#[utoipa::path(get, path = "/v1/teams", tag = "members", responses((status = 200, body = TeamList)))]
pub async fn list(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    Reply::ok(&TeamList { items: app.core.members.teams(&caller.tenant).await? })
}

/// One team.
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "members", params(("id" = String, Path, description = "tm_...")), responses((status = 200, body = Team)))]
pub async fn get(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let team = app.core.members.team(&caller.tenant, &team_id(&call)?).await?.ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&team)?.version(team.version))
}

/// Make a team (owner, admin): `{"name", "member_ids"}`.
#[utoipa::path(post, path = "/v1/teams", tag = "members", request_body = Object, responses((status = 201, body = Team)))]
pub async fn create(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let (name, members) = fields(&call.json_object()?)?;
    let Some(name) = name else { return Err(ApiError::invalid_field("name", "is required")) };
    let team = Team {
        id: TeamId::new(),
        name,
        member_ids: members.unwrap_or_default(),
        version: 1,
        created_at: time::OffsetDateTime::now_utc(),
    };
    let team = app.core.members.save_team(&caller.tenant, None, team).await.map_err(team_error)?;
    Ok(Reply::created(&team)?.version(team.version).resource(team.id.as_str()))
}

/// Rename a team or change its members (owner, admin); `If-Match` with its version.
#[utoipa::path(patch, path = "/v1/teams/{id}", tag = "members", params(("id" = String, Path, description = "tm_...")), request_body = Object, responses((status = 200, body = Team)))]
pub async fn patch(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = team_id(&call)?;
    let (name, members) = fields(&call.json_object()?)?;
    let current = app.core.members.team(&caller.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    if call.if_match()?.is_some_and(|v| v != current.version) {
        return Err(ApiError::PreconditionFailed);
    }
    let next = Team {
        name: name.unwrap_or_else(|| current.name.clone()),
        member_ids: members.unwrap_or_else(|| current.member_ids.clone()),
        version: current.version + 1,
        ..current.clone()
    };
    let team = app.core.members.save_team(&caller.tenant, Some(&current), next).await.map_err(team_error)?;
    Ok(Reply::ok(&team)?.version(team.version))
}

/// Delete a team (owner, admin); its members stay.
#[utoipa::path(delete, path = "/v1/teams/{id}", tag = "members", params(("id" = String, Path, description = "tm_...")), responses((status = 204, description = "Deleted")))]
pub async fn remove(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let id = team_id(&call)?;
    let current = app.core.members.team(&caller.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    app.core.members.delete_team(&caller.tenant, &current).await.map_err(team_error)?;
    Ok(Reply::no_content())
}
