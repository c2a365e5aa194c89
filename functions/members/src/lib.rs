//! The `members` function. This issue brings `GET /v1/me`: who the caller is in the business
//! the request names, with the role, permissions and modules the frontend adapts to.

use async_trait::async_trait;
use gestor_shared::http::problem::Problem;
use gestor_shared::http::{Access, ApiError, Call, Core, Function, Permission, Reply, Role, Route};
use serde::Serialize;

pub const ROUTES: &[Route] =
    &[Route { key: "GET /v1/me", access: Access::Member, audit: None, idempotent: false }];

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
#[openapi(paths(me), components(schemas(Me, TenantSummary, Role, Permission)))]
pub struct ApiDoc;

/// The caller, as a member of the business the request names.
#[utoipa::path(
    get, path = "/v1/me", tag = "members",
    params(("X-Tenant-Id" = Option<String>, Header, description = "Needed when the user belongs to several businesses")),
    responses(
        (status = 200, body = Me),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
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

#[async_trait]
impl Function for Members {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn core(&self) -> &Core {
        &self.core
    }

    async fn call(&self, route: &'static Route, call: Call) -> Result<Reply, ApiError> {
        match route.key {
            "GET /v1/me" => me(self, call).await,
            _ => Err(ApiError::NotFound),
        }
    }
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
