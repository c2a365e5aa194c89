//! The `members` function. This issue brings `GET /v1/me`: who the caller is in the business
//! the request names, with the role, permissions and modules the frontend adapts to.

use gestor_shared::http::GatewayUnauthorized;
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{ApiError, Call, Core, Permission, Policy, Reply, Role};
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use gestor_shared::settings::Setting;
use serde::Serialize;
use std::sync::Arc;

pub static FUNCTION: Declaration = Declaration {
    name: "members",
    settings: &[Setting::TableName, Setting::CursorSecret],
    serves: Serves::Http(HttpPart {
        routes: Members::route_table,
        openapi,
        build: |deps| Ok(Arc::new(Members::new(deps.core()?))),
    }),
};

gestor_shared::routes!(Members, core: core, {
    me => Policy::member(),
});

pub struct Members {
    core: Core,
}

impl Members {
    pub fn new(core: Core) -> Self {
        Self { core }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantSummary {
    pub id: String,
    pub name: String,
    pub timezone: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The member id in this business (`mb_...`).
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub team_ids: Vec<String>,
    pub permissions: Vec<Permission>,
    /// Modules enabled for the business.
    pub modules: Vec<String>,
    pub tenant: TenantSummary,
    /// Every business the user belongs to (for a business switcher).
    pub tenant_ids: Vec<String>,
}

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(Me, TenantSummary, Role, Permission)))]
pub struct ApiDoc;

/// The caller, as a member of the business the request names.
#[utoipa::path(
    get, path = "/v1/me", tag = "members",
    params(("X-Tenant-Id" = Option<String>, Header, description = "Needed when the user belongs to several businesses")),
    responses(
        (status = 200, body = Me),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = GatewayUnauthorized, description = "No valid token: API Gateway's JWT authorizer answers this itself, before any function runs"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn me(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let tenant = app.core.tenants.get(&caller.tenant).await?;
    let tenant_ids = app.core.members.tenants_of(&caller.claims.sub).await?;
    let member = &caller.member;
    let (name, timezone, modules) = match tenant {
        Some(t) => (t.name, t.timezone, t.modules),
        None => {
            (caller.tenant.to_string(), gestor_shared::repo::tenants::DEFAULT_TIMEZONE.to_owned(), vec![])
        }
    };
    Reply::ok(&Me {
        id: member.id.to_string(),
        email: member.email.clone(),
        name: member.name.clone(),
        role: member.role,
        team_ids: member.team_ids.clone(),
        permissions: member.role.permissions(),
        modules,
        tenant: TenantSummary { id: caller.tenant.to_string(), name, timezone },
        tenant_ids: tenant_ids.iter().map(ToString::to_string).collect(),
    })
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Members::openapi_paths(&mut doc);
    doc
}
