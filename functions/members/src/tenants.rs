//! The business itself: sign-up (`POST /v1/tenants`, the caller becomes its owner) and its
//! settings (`GET` and `PATCH /v1/tenant`).

use gestor_shared::domain::{Role, TenantId};
use gestor_shared::http::{ApiError, Call, FieldError, Reply};
use gestor_shared::ids::MemberId;
use gestor_shared::repo::members::{Member, creation_ops};
use gestor_shared::repo::tenants::{Tenant, TenantError};
use sha2::Digest;

use crate::Members;
use crate::settings::{self, SettingsPatch};

/// Create a business (sign-up): the caller becomes its owner. The id is made from the name
/// unless one is asked for; a retry with the same `Idempotency-Key` answers the business the
/// first request made.
#[utoipa::path(
    post, path = "/v1/tenants", tag = "members",
    request_body = Object,
    responses(
        (status = 201, body = Tenant, description = "Created; the caller is its owner"),
        (status = 409, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The id asked for is taken"),
    )
)]
pub async fn create(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let Some(claims) = &call.claims else { return Err(ApiError::Unauthorized) };
    let body = call.json_object()?;
    let mut errors = Vec::new();
    if let Some(unknown) = body.keys().find(|k| !["name", "timezone", "id"].contains(&k.as_str())) {
        errors.push(FieldError::new(unknown.clone(), "is not a field of a new business"));
    }
    let name = body.get("name").map(settings::name).unwrap_or_else(|| Err("is required".into()));
    let name = name.map_err(|m| errors.push(FieldError::new("name", m))).ok();
    let timezone = match body.get("timezone") {
        Some(v) => settings::timezone(v).map_err(|m| errors.push(FieldError::new("timezone", m))).ok(),
        None => None,
    };
    let asked = match body.get("id") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_str().map(TenantId::parse) {
            Some(Ok(id)) => Some(id),
            Some(Err(gestor_shared::domain::TenantIdError::Reserved)) => {
                errors.push(FieldError::new("id", "is a name the platform keeps for itself: choose another"));
                None
            }
            _ => {
                errors.push(FieldError::new("id", "must be 3 to 64 letters, digits, - or _"));
                None
            }
        },
    };
    let Some(email) = claims.email.clone().filter(|_| errors.is_empty()) else {
        if errors.is_empty() {
            return Err(ApiError::bad_request("the token names no email: sign in again"));
        }
        return Err(ApiError::invalid_fields(errors));
    };
    let name = name.unwrap_or_default();
    let key = call.header("idempotency-key");
    let id = match &asked {
        Some(id) => id.clone(),
        None => derived_id(&name, &claims.sub, key)?,
    };
    let mut tenant = Tenant::new(id.clone(), name);
    if let Some(timezone) = timezone {
        tenant.timezone = timezone;
    }
    let owner = Member {
        id: MemberId::new(),
        sub: claims.sub.clone(),
        email: email.clone(),
        name: email.split('@').next().unwrap_or(&email).to_owned(),
        role: Role::Owner,
        team_ids: Vec::new(),
        created_at: tenant.created_at,
        sessions_seen: Default::default(),
    };
    if app.core.tenants.create(&tenant, creation_ops(&id, &owner)?).await? {
        return Ok(Reply::created(&tenant)?.resource(id.as_str()));
    }
    // Taken: by this very sign-up retried (answered as it was made), or by someone else.
    if key.is_some() && asked.is_none() {
        let mine =
            app.core.members.get_by_sub(&id, &claims.sub).await?.is_some_and(|m| m.role == Role::Owner);
        if let (true, Some(existing)) = (mine, app.core.tenants.get(&id).await?) {
            return Ok(Reply::created(&existing)?.resource(id.as_str()));
        }
    }
    Err(ApiError::Conflict { detail: format!("the business id {id} is taken"), errors: vec![] })
}

/// A readable id from the name, made unique by a suffix: from the user and the request's
/// `Idempotency-Key` when it has one (so a retry names the same business), else random.
fn derived_id(name: &str, sub: &str, key: Option<&str>) -> Result<TenantId, ApiError> {
    let mut slug: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            'á' | 'à' | 'ä' | 'Á' => 'a',
            'é' | 'è' | 'ë' | 'É' => 'e',
            'í' | 'ì' | 'ï' | 'Í' => 'i',
            'ó' | 'ò' | 'ö' | 'Ó' => 'o',
            'ú' | 'ù' | 'ü' | 'Ú' => 'u',
            'ñ' | 'Ñ' => 'n',
            _ => '-',
        })
        .collect();
    slug = slug.split('-').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("-");
    slug.truncate(40);
    if slug.len() < 3 {
        slug = "negocio".into();
    }
    let seed = match key {
        Some(key) => format!("{sub}\n{key}"),
        None => ulid::Ulid::new().to_string(),
    };
    let digest = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
    TenantId::parse(&format!("{}-{}", slug.trim_end_matches('-'), &digest[..6]))
        .map_err(|e| ApiError::Internal(format!("a derived tenant id: {e}")))
}

/// The business's settings.
#[utoipa::path(
    get, path = "/v1/tenant", tag = "members",
    responses((status = 200, body = Tenant, headers(("ETag" = String, description = "The settings' version")))),
)]
pub async fn get(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let tenant = app.core.tenants.get(&caller.tenant).await?.ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(&tenant)?.version(tenant.version))
}

/// Change the business's settings (owner, admin): `name`, `timezone`, `business_hours`
/// (`{"mon": [{"from": "09:00", "to": "18:00"}], ...}`), `modules`, `row_scoping`,
/// `read_receipts`. `If-Match` with the version makes it conditional.
#[utoipa::path(
    patch, path = "/v1/tenant", tag = "members",
    request_body = Object,
    responses(
        (status = 200, body = Tenant),
        (status = 412, body = gestor_shared::http::problem::Problem, content_type = "application/problem+json", description = "The settings changed since that version"),
    )
)]
pub async fn patch(app: &Members, call: Call) -> Result<Reply, ApiError> {
    let caller = call.caller()?;
    let patch = SettingsPatch::parse(&call.json_object()?)?;
    let fields = patch.fields();
    let changed = app.core.tenants.change(&caller.tenant, call.if_match()?, |t| patch.apply(t)).await;
    match changed {
        Ok(tenant) => {
            Ok(Reply::ok(&tenant)?.version(tenant.version).resource(caller.tenant.as_str()).changed(fields))
        }
        Err(TenantError::NotFound) => Err(ApiError::NotFound),
        Err(TenantError::Stale) => Err(ApiError::PreconditionFailed),
        Err(TenantError::Table(e)) => Err(e.into()),
    }
}
