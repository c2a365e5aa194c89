//! A function's route table, written once: `routes!` binds each handler to its policy (who may
//! call it, what the audit log records, whether `Idempotency-Key` applies). The method and path
//! come from the handler's own `#[utoipa::path]`, so the route string exists in one place and
//! the table, the dispatch and the OpenAPI document cannot disagree.

use std::collections::HashMap;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::HttpMethod;

use super::auth::Permission;
use super::problem::{GatewayUnauthorized, Problem};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

#[doc(hidden)]
pub use async_trait::async_trait;
#[doc(hidden)]
pub use gestor_macros::operation_of;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No login (the OpenAPI document, public forms, channel webhooks).
    Public,
    /// Any member of the tenant.
    Member,
    /// Any signed-in user: a member of the tenant when one resolves, or just the token's claims
    /// when a member of several businesses names none (`GET /v1/me` answers the list).
    User,
    /// Members whose role has this permission.
    Permission(Permission),
}

/// What the dispatcher does around a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub access: Access,
    /// For mutations: the audit action (`contact.update`) and resource type (`contact`).
    pub audit: Option<(&'static str, &'static str)>,
    /// Whether `Idempotency-Key` applies (every write; a test holds them equal).
    pub idempotent: bool,
    /// Requests a window lets through per IP and per target (routes strangers can call).
    pub limit: Option<Limited>,
}

/// A rate-limited route: its limits, and what its target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub limit: crate::repo::rate_limits::Limit,
    pub target: Target,
}

/// What a rate-limited route's requests are counted against besides the IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A path parameter (an invite code).
    Param(&'static str),
    /// The signed-in user (`sub`).
    User,
}

impl Policy {
    pub const fn public() -> Self {
        Self { access: Access::Public, audit: None, idempotent: false, limit: None }
    }

    pub const fn member() -> Self {
        Self { access: Access::Member, audit: None, idempotent: false, limit: None }
    }

    pub const fn user() -> Self {
        Self { access: Access::User, audit: None, idempotent: false, limit: None }
    }

    pub const fn needs(permission: Permission) -> Self {
        Self { access: Access::Permission(permission), audit: None, idempotent: false, limit: None }
    }

    pub const fn audited(mut self, action: &'static str, resource: &'static str) -> Self {
        self.audit = Some((action, resource));
        self
    }

    pub const fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// At most `per_ip` requests per IP and `per_target` per target in each window of
    /// `window_secs` (429 with `Retry-After` beyond).
    pub const fn limited(mut self, per_ip: u32, per_target: u32, window_secs: u32, target: Target) -> Self {
        let limit = crate::repo::rate_limits::Limit { per_ip, per_target, window_secs };
        self.limit = Some(Limited { limit, target });
        self
    }
}

/// The route a request takes, what serves it, and its path parameters.
pub struct Matched<'r, T> {
    pub route: &'r Route,
    pub served_by: T,
    pub params: HashMap<String, String>,
}

#[derive(Debug)]
pub struct Route {
    /// API Gateway's route key: `METHOD /path/{param}`.
    pub key: String,
    /// The handler serving it, as written in the table (`handlers::list`).
    pub handler: &'static str,
    pub access: Access,
    pub audit: Option<(&'static str, &'static str)>,
    pub idempotent: bool,
    pub limit: Option<Limited>,
}

impl Route {
    /// The routes of one handler: one per method its operation declares.
    pub fn of<P: utoipa::Path>(handler: &'static str, policy: Policy) -> Vec<Route> {
        let path = P::path();
        P::methods()
            .into_iter()
            .map(|method| Route {
                key: format!("{} {path}", method_name(&method)),
                handler,
                access: policy.access,
                audit: policy.audit,
                idempotent: policy.idempotent,
                limit: policy.limit,
            })
            .collect()
    }

    pub fn method(&self) -> &str {
        self.key.split_once(' ').map(|(m, _)| m).unwrap_or(&self.key)
    }

    pub fn path(&self) -> &str {
        self.key.split_once(' ').map(|(_, p)| p).unwrap_or("")
    }

    /// Among routes (each with what serves it), the one API Gateway would pick for this
    /// request: of those matching the path, the one for the method with the most literal
    /// segments (`/v1/contacts/export` before `/v1/contacts/{id}`); 405 when only the method
    /// is wrong, 404 when no path matches.
    pub fn most_specific<'r, T>(
        routes: impl IntoIterator<Item = (&'r Route, T)>,
        method: &str,
        path: &str,
    ) -> Result<Matched<'r, T>, super::ApiError> {
        let mut path_known = false;
        let mut best: Option<Matched<'r, T>> = None;
        for (route, served_by) in routes {
            let Some(params) = route.match_path(path) else { continue };
            path_known = true;
            // Paths that match have as many segments: fewer parameters, more literals.
            let better = best.as_ref().is_none_or(|b| params.len() < b.params.len());
            if route.method() == method && better {
                best = Some(Matched { route, served_by, params });
            }
        }
        best.ok_or(if path_known { super::ApiError::MethodNotAllowed } else { super::ApiError::NotFound })
    }

    /// The path parameters if `path` matches this route's template.
    pub fn match_path(&self, path: &str) -> Option<HashMap<String, String>> {
        let template: Vec<&str> = self.path().trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        if template.len() != actual.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (t, a) in template.iter().zip(&actual) {
            if let Some(name) = t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                if a.is_empty() {
                    return None;
                }
                params.insert(name.to_owned(), (*a).to_owned());
            } else if t != a {
                return None;
            }
        }
        Some(params)
    }
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

/// Adds one handler's operation to a function's document, with its tags and the schemas it
/// names, as `#[derive(OpenApi)]` with `paths(...)` would, and the `Idempotency-Key` header
/// where its policy takes one, so that the document says it exactly where the dispatcher
/// honours it.
pub fn document<P>(doc: &mut OpenApi, policy: Policy)
where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
{
    let mut operation = P::operation();
    if policy.idempotent {
        operation.parameters.get_or_insert_with(Vec::new).push(idempotency_key());
    }
    if policy.access != Access::Public {
        signed_in(&mut operation);
    }
    let tags = <P as utoipa::__dev::Tags>::tags();
    if !tags.is_empty() {
        operation.tags.get_or_insert_with(Vec::new).extend(tags.iter().map(|t| (*t).to_owned()));
    }
    let methods = P::methods();
    let item = utoipa::openapi::path::PathItem::from_http_methods(methods, operation);
    let paths = utoipa::openapi::path::PathsBuilder::new().path(P::path(), item).build();
    doc.paths.merge(paths);
    let mut schemas = Vec::new();
    <P as utoipa::__dev::SchemaReferences>::schemas(&mut schemas);
    if policy.access != Access::Public {
        schemas.push((GatewayUnauthorized::name().into_owned(), GatewayUnauthorized::schema()));
        schemas.push((Problem::name().into_owned(), Problem::schema()));
    }
    doc.components.get_or_insert_with(Default::default).schemas.extend(schemas);
}

/// What every route behind the login has, said once: the bearer token, and the answers the
/// dispatcher and API Gateway give before a handler runs (a handler's own description of one
/// of these stays).
fn signed_in(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::security::SecurityRequirement;
    operation.security = Some(vec![SecurityRequirement::new::<_, [&str; 0], &str>("bearer", [])]);
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name(Problem::name()))).build(),
            )
            .build()
    };
    let answers = &mut operation.responses.responses;
    answers.entry("400".into()).or_insert_with(|| {
        problem("Invalid input (with field errors), a malformed `X-Tenant-Id`, or a member of several businesses naming none").into()
    });
    answers.entry("401".into()).or_insert_with(|| {
        ResponseBuilder::new()
            .description(
                "No valid token: API Gateway's JWT authorizer answers this itself, before any function runs",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(GatewayUnauthorized::name())))
                    .build(),
            )
            .build()
            .into()
    });
    answers.entry("403".into()).or_insert_with(|| {
        problem("Not a member of the business named, or the role lacks the permission").into()
    });
}

fn idempotency_key() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{Required, schema::ObjectBuilder, schema::Type};
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "1 to 255 characters. A repeat with the same key and body answers the first answer \
             (with `Idempotent-Replayed: true`); the same key with another body answers 422.",
        ))
        .schema(Some(
            ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)),
        ))
        .build()
}

/// Declares a function's routes: each handler, the policy the dispatcher applies around it.
///
/// ```ignore
/// gestor_shared::routes!(Contacts, core: core, {
///     handlers::list => Policy::needs(Permission::ContactsRead),
///     handlers::create => Policy::needs(Permission::ContactsWrite).audited("contact.create", "contact").idempotent(),
/// });
/// ```
///
/// Every handler is `async fn(&Function, Call) -> Result<Reply, ApiError>` carrying a
/// `#[utoipa::path]`; `core:` names the field holding the function's `Core`. A function
/// without one (every route public, no table) names instead the field holding its name in
/// logs (`name: function_name`), and, when a route is rate-limited, the field holding its
/// limiter (`limits: rate_limits`), its one way to the table. It implements `Function` and gives `route_table()` and
/// `openapi_paths(doc)`.
#[macro_export]
macro_rules! routes {
    ($function:ty, core: $core:ident, { $($handler:path => $policy:expr),+ $(,)? }) => {
        $crate::routes!(@function $function, { $($handler => $policy),+ },
            fn name(&self) -> &str {
                self.$core.function.as_str()
            }
            fn core(&self) -> Option<&$crate::http::Core> {
                Some(&self.$core)
            }
        );
    };
    ($function:ty, name: $name:ident, limits: $limits:ident, { $($handler:path => $policy:expr),+ $(,)? }) => {
        $crate::routes!(@function $function, { $($handler => $policy),+ },
            fn name(&self) -> &str {
                &self.$name
            }
            fn core(&self) -> Option<&$crate::http::Core> {
                None
            }
            fn rate_limits(&self) -> Option<&$crate::repo::rate_limits::RateLimitRepo> {
                Some(&self.$limits)
            }
        );
    };
    ($function:ty, name: $name:ident, { $($handler:path => $policy:expr),+ $(,)? }) => {
        $crate::routes!(@function $function, { $($handler => $policy),+ },
            fn name(&self) -> &str {
                &self.$name
            }
            fn core(&self) -> Option<&$crate::http::Core> {
                None
            }
        );
    };
    (@function $function:ty, { $($handler:path => $policy:expr),+ }, $($accessors:item)+) => {
        $crate::routes!(@table $function, { $($handler => $policy),+ });
        #[$crate::http::routes::async_trait]
        impl $crate::http::Function for $function {
            $($accessors)+
            fn routes(&self) -> &'static [$crate::http::Route] {
                Self::route_table()
            }
            async fn call(
                &self,
                route: &'static $crate::http::Route,
                call: $crate::http::Call,
            ) -> Result<$crate::http::Reply, $crate::http::ApiError> {
                self.dispatch(route, call).await
            }
        }
    };
    (@table $function:ty, { $($handler:path => $policy:expr),+ }) => {
        impl $function {
            /// This function's routes, each bound to its handler.
            pub fn route_table() -> &'static [$crate::http::Route] {
                static TABLE: ::std::sync::LazyLock<Vec<$crate::http::Route>> =
                    ::std::sync::LazyLock::new(|| {
                        let mut table = Vec::new();
                        $(
                            table.extend($crate::http::Route::of::<
                                $crate::http::routes::operation_of!($handler),
                            >(stringify!($handler), $policy));
                        )+
                        table
                    });
                &TABLE
            }

            /// Calls the handler bound to `route`.
            async fn dispatch(
                &self,
                route: &'static $crate::http::Route,
                call: $crate::http::Call,
            ) -> Result<$crate::http::Reply, $crate::http::ApiError> {
                $( if route.handler == stringify!($handler) { return $handler(self, call).await; } )+
                Err($crate::http::ApiError::NotFound)
            }

            /// Adds these routes' operations to the function's OpenAPI part.
            pub fn openapi_paths(doc: &mut ::utoipa::openapi::OpenApi) {
                $( $crate::http::routes::document::<$crate::http::routes::operation_of!($handler)>(doc, $policy); )+
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(key: &str) -> Route {
        Route {
            key: key.into(),
            handler: "h",
            access: Access::Public,
            audit: None,
            idempotent: false,
            limit: None,
        }
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter_whatever_the_order() {
        let routes = [
            route("GET /v1/contacts/{id}"),
            route("GET /v1/contacts/export"),
            route("POST /v1/contacts/{id}"),
        ];
        for order in [[0, 1, 2], [1, 0, 2], [2, 0, 1]] {
            let listed = order.map(|i| (&routes[i], i));
            let found = Route::most_specific(listed, "GET", "/v1/contacts/export");
            assert_eq!(found.ok().map(|m| m.served_by), Some(1));
            let found = Route::most_specific(listed, "GET", "/v1/contacts/ct_1");
            assert_eq!(
                found.ok().map(|m| (m.served_by, m.params["id"].clone())),
                Some((0, "ct_1".to_owned()))
            );
        }
        let wrong_method =
            Route::most_specific(routes.iter().map(|r| (r, ())), "DELETE", "/v1/contacts/ct_1");
        assert!(matches!(wrong_method, Err(super::super::ApiError::MethodNotAllowed)));
        let unknown = Route::most_specific(routes.iter().map(|r| (r, ())), "GET", "/v1/nothing");
        assert!(matches!(unknown, Err(super::super::ApiError::NotFound)));
    }

    #[test]
    fn templates_match_their_paths_only() {
        let r = route("GET /v1/contacts/{id}");
        assert_eq!(r.match_path("/v1/contacts/ct_1").and_then(|p| p.get("id").cloned()), Some("ct_1".into()));
        assert!(r.match_path("/v1/contacts/").is_none());
        assert!(r.match_path("/v1/contacts/ct_1/notes").is_none());
        assert_eq!((r.method(), r.path()), ("GET", "/v1/contacts/{id}"));
    }
}
