//! Who is calling and what they may do. The user comes from the JWT claims that API Gateway's
//! authorizer (or the local server) placed in the request context; the tenant from
//! `X-Tenant-Id` or the user's only membership; the role from the member record, so that an
//! admin can change it and it takes effect on the next request.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::problem::ApiError;
use crate::domain::TenantId;
pub use crate::domain::{Permission, Role};
use crate::repo::members::{Member, MemberRepo};
use crate::repo::scope::RowScope;

/// The verified identity in the token: nothing more is trusted from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub email: Option<String>,
    /// The sign-in this token belongs to, for the member's sessions: Cognito's `origin_jti`
    /// (kept across refreshes), else the token's `jti`, else its `iat`.
    pub session: Option<String>,
}

impl Claims {
    pub fn from_request(req: &Request) -> Option<Self> {
        let RequestContext::ApiGatewayV2(ctx) = req.request_context_ref()? else {
            return None;
        };
        let claims = &ctx.authorizer.as_ref()?.jwt.as_ref()?.claims;
        let sub = claims.get("sub").filter(|s| !s.is_empty())?.clone();
        let session =
            ["origin_jti", "jti", "iat"].iter().find_map(|name| claims.get(*name).filter(|v| !v.is_empty()));
        // An email the identity provider says it has not verified proves nothing about who
        // holds the token (an invite bound to it, a sign-up's owner): left out.
        let unverified = claims.get("email_verified").is_some_and(|v| v.eq_ignore_ascii_case("false"));
        let email = claims.get("email").filter(|_| !unverified).cloned();
        Some(Self { sub, email, session: session.cloned() })
    }
}

/// The HTTP API's request context, as API Gateway hands it to a function: what the local server
/// and handler tests build so that functions read it exactly as in AWS.
pub struct GatewayContext<'a> {
    pub route_key: &'a str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    /// The verified token's claims (the JWT authorizer's), if the route needs them.
    pub claims: Option<&'a Claims>,
}

impl GatewayContext<'_> {
    pub fn build(&self) -> Result<RequestContext, serde_json::Error> {
        let mut context = serde_json::json!({
            "routeKey": self.route_key,
            "requestId": self.request_id,
            "stage": "$default",
            "timeEpoch": 0,
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                     "sourceIp": self.source_ip, "userAgent": self.user_agent},
        });
        if let Some(claims) = self.claims {
            // API Gateway renders every claim as a string.
            let mut rendered = serde_json::json!({"sub": claims.sub, "email": claims.email});
            if let Some(session) = &claims.session {
                rendered["jti"] = session.clone().into();
            }
            context["authorizer"] = serde_json::json!({"jwt": {"claims": rendered, "scopes": null}});
        }
        serde_json::from_value(context).map(RequestContext::ApiGatewayV2)
    }
}

/// The caller of an authenticated route, resolved against the member records.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    pub member: Member,
    pub claims: Claims,
    /// The rows this caller reaches (the tenant's row scoping applied to their role).
    pub scope: RowScope,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.member.role
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role().allows(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role lacks the {} permission",
                self.role().as_str(),
                permission.as_str()
            )))
        }
    }
}

/// Why a request with valid claims still has no caller.
#[derive(Debug)]
pub enum TenantRefusal {
    /// `X-Tenant-Id` is not a valid tenant id.
    Malformed,
    /// Not a member of the named tenant, or of none.
    NotAMember(Option<TenantId>),
    /// A member of several tenants who named none.
    Ambiguous,
}

/// Resolves the tenant and the member for these claims.
pub async fn resolve_caller(
    members: &MemberRepo,
    claims: Claims,
    tenant_header: Option<&str>,
) -> Result<Result<Caller, TenantRefusal>, ApiError> {
    let tenant = match tenant_header.map(str::trim).filter(|h| !h.is_empty()) {
        Some(header) => match TenantId::parse(header) {
            Ok(tenant) => tenant,
            Err(_) => return Ok(Err(TenantRefusal::Malformed)),
        },
        None => {
            let mut tenants = members.tenants_of(&claims.sub).await?;
            match tenants.len() {
                1 => tenants.remove(0),
                0 => return Ok(Err(TenantRefusal::NotAMember(None))),
                _ => return Ok(Err(TenantRefusal::Ambiguous)),
            }
        }
    };
    match members.get_with_tenant(&tenant, &claims.sub).await? {
        (Some(member), settings) => {
            let scope = RowScope::of(&member, settings.is_some_and(|t| t.row_scoping));
            Ok(Ok(Caller { tenant, member, claims, scope }))
        }
        (None, _) => Ok(Err(TenantRefusal::NotAMember(Some(tenant)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_and_admins_read_the_audit_log() {
        for role in Role::ALL {
            assert_eq!(role.allows(Permission::AuditRead), matches!(role, Role::Owner | Role::Admin));
        }
    }

    #[test]
    fn viewers_only_read() {
        assert_eq!(
            Role::Viewer.permissions(),
            vec![Permission::ContactsRead, Permission::ChannelsRead, Permission::ConversationsRead]
        );
        assert!(!Role::Agent.allows(Permission::ContactsDelete));
        assert!(Role::Manager.allows(Permission::ContactsDelete));
    }

    #[test]
    fn every_role_reads_channels_and_only_owners_and_admins_manage_them() {
        for role in Role::ALL {
            assert!(role.allows(Permission::ChannelsRead));
            assert_eq!(role.allows(Permission::ChannelsManage), matches!(role, Role::Owner | Role::Admin));
        }
    }

    #[test]
    fn every_role_reads_the_inbox() {
        assert!(Role::ALL.into_iter().all(|role| role.allows(Permission::ConversationsRead)));
    }

    #[test]
    fn an_email_the_identity_provider_has_not_verified_is_no_email() {
        let event = |verified: Option<&str>| {
            let mut claims = serde_json::json!({"sub": "sub-1", "email": "ana@acme.mx"});
            if let Some(v) = verified {
                claims["email_verified"] = v.into();
            }
            serde_json::json!({
                "version": "2.0", "routeKey": "POST /v1/invites/{code}/accept", "rawPath": "/v1/invites/x/accept",
                "rawQueryString": "", "headers": {}, "isBase64Encoded": false,
                "requestContext": {"accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                    "requestId": "r", "routeKey": "POST /v1/invites/{code}/accept", "stage": "$default", "time": "",
                    "timeEpoch": 0, "http": {"method": "POST", "path": "/v1/invites/x/accept",
                    "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "t"},
                    "authorizer": {"jwt": {"claims": claims, "scopes": null}}}
            })
            .to_string()
        };
        let email_of = |verified| {
            lambda_http::request::from_str(&event(verified))
                .ok()
                .and_then(|r| Claims::from_request(&r)?.email)
        };
        assert_eq!(email_of(Some("true")).as_deref(), Some("ana@acme.mx"));
        assert_eq!(email_of(None).as_deref(), Some("ana@acme.mx"), "a provider that does not say");
        assert_eq!(email_of(Some("false")), None);
    }

    #[test]
    fn permission_names_match_their_serialization() {
        for p in Permission::ALL {
            assert_eq!(serde_json::to_value(p).ok(), Some(serde_json::Value::from(p.as_str())));
        }
    }
}
