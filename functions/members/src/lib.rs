//! The `members` function: `GET /v1/me` (who the caller is in the business the request
//! names, with the role, permissions and modules the frontend adapts to, and every business
//! they belong to; a member of several who names none gets that list alone, to choose), and
//! the business itself: sign-up (`POST /v1/tenants`) and its settings (`/v1/tenant`).

use gestor_shared::http::{ApiError, Call, Core, Permission, Policy, Reply, Role, Target};
use gestor_shared::ports::Mailer;
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use gestor_shared::settings::Setting;
use serde::Serialize;
use std::sync::Arc;

pub static FUNCTION: Declaration = Declaration {
    name: "members",
    settings: &[Setting::TableName, Setting::CursorSecret, Setting::MailFrom, Setting::AppUrl],
    serves: Serves::Http(HttpPart {
        routes: Members::route_table,
        openapi,
        build: |deps| {
            let app_url = deps.settings().get(Setting::AppUrl)?.to_owned();
            Ok(Arc::new(Members::new(deps.core()?, deps.mailer()?, app_url)))
        },
    }),
};

gestor_shared::routes!(Members, core: core, {
    me => Policy::user(),
    sessions::mine => Policy::member(),
    sessions::of_member => Policy::needs(Permission::MembersManage),
    tenants::create => Policy::user().audited("tenant.create", "tenant").idempotent().limited(20, 10, 3600, Target::User),
    tenants::get => Policy::member(),
    tenants::patch => Policy::needs(Permission::TenantManage).audited("tenant.update", "tenant").idempotent(),
    roster::list => Policy::member(),
    invites::create => Policy::needs(Permission::MembersManage).audited("member.invite", "invite").idempotent(),
    invites::accept => Policy::user().audited("invite.accept", "invite").idempotent().limited(30, 10, 900, Target::Param("code")),
    teams::list => Policy::member(),
    teams::get => Policy::member(),
    teams::create => Policy::needs(Permission::MembersManage).audited("team.create", "team").idempotent(),
    teams::patch => Policy::needs(Permission::MembersManage).audited("team.update", "team").idempotent(),
    teams::remove => Policy::needs(Permission::MembersManage).audited("team.delete", "team").idempotent(),
    roster::get => Policy::member(),
    roster::patch => Policy::needs(Permission::MembersManage).audited("member.update", "member").idempotent(),
    roster::remove => Policy::needs(Permission::MembersManage).audited("member.remove", "member").idempotent(),
});

mod invite_mail;
mod invites;
mod roster;
mod sessions;
mod settings;
mod teams;
mod tenants;

pub struct Members {
    core: Core,
    /// Sends the invites.
    mail: Arc<dyn Mailer>,
    /// The frontend, for the link in an invite.
    app_url: String,
}

impl Members {
    pub fn new(core: Core, mail: Arc<dyn Mailer>, app_url: impl Into<String>) -> Self {
        Self { core, mail, app_url: app_url.into() }
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
    pub memberships: Vec<MembershipView>,
}

/// One business the user belongs to, and their role there.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Membership)]
pub struct MembershipView {
    pub tenant_id: String,
    pub tenant_name: String,
    pub role: Role,
}

/// What a member of several businesses who named none (no `X-Tenant-Id`) gets: the businesses,
/// to choose one and name it on the next requests.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Memberships {
    pub memberships: Vec<MembershipView>,
}

/// `GET /v1/me`: the member in the business the request names, or the list to choose from.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MeAnswer {
    Member(Box<Me>),
    Choose(Memberships),
}

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    Me,
    MeAnswer,
    Memberships,
    MembershipView,
    TenantSummary,
    Role,
    Permission,
    gestor_shared::repo::tenants::Tenant,
    roster::MemberView,
    invites::InviteView,
    teams::TeamList,
    gestor_shared::repo::members::Team,
    roster::MemberList,
    sessions::SessionList,
    gestor_shared::repo::sessions::Session,
    gestor_shared::domain::user_agent::Device,
    gestor_shared::domain::user_agent::DeviceKind,
    gestor_shared::repo::tenants::Opening
)))]
pub struct ApiDoc;

/// The caller, as a member of the business the request names, with every business they belong
/// to. A member of several businesses who names none gets only `memberships`.
#[utoipa::path(
    get, path = "/v1/me", tag = "members",
    params(("X-Tenant-Id" = Option<String>, Header, description = "The business; without it, a member of several gets the list to choose from")),
    responses(
        (status = 200, body = MeAnswer, description = "The member, or (a member of several businesses naming none) the businesses to choose from"),
    )
)]
pub async fn me(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let Some(claims) = &call.claims else {
        return Err(ApiError::Unauthorized);
    };
    let memberships: Vec<MembershipView> = app
        .core
        .members
        .memberships_of(&claims.sub)
        .await?
        .into_iter()
        .map(|m| MembershipView { tenant_id: m.tenant.to_string(), tenant_name: m.tenant_name, role: m.role })
        .collect();
    let Some(caller) = &call.caller else {
        return Reply::ok(&MeAnswer::Choose(Memberships { memberships }));
    };
    let tenant = app.core.tenants.get(&caller.tenant).await?;
    let member = &caller.member;
    let (name, timezone, modules) = match tenant {
        Some(t) => (t.name, t.timezone, t.modules),
        None => {
            (caller.tenant.to_string(), gestor_shared::repo::tenants::DEFAULT_TIMEZONE.to_owned(), vec![])
        }
    };
    Reply::ok(&MeAnswer::Member(Box::new(Me {
        id: member.id.to_string(),
        email: member.email.clone(),
        name: member.name.clone(),
        role: member.role,
        team_ids: member.team_ids.clone(),
        permissions: member.role.permissions(),
        modules,
        tenant: TenantSummary { id: caller.tenant.to_string(), name, timezone },
        memberships,
    })))
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Members::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
