//! HTTP glue every function shares: the route table and its dispatch (authentication,
//! permission, idempotency and audit done once here, not in each handler), the error type,
//! request parsing and pagination cursors.

pub mod auth;
pub mod cursor;
pub mod page;
pub mod problem;
pub mod reply;
pub mod request;
pub mod routes;
pub mod service;

pub use auth::{Caller, Permission, Role};
pub use page::{Page, PageQuery};
pub use problem::{ApiError, FieldError, GatewayUnauthorized};
pub use reply::Reply;
pub use request::Call;
pub use routes::{Access, Policy, Route, Target};
pub use service::{Core, Function, serve};

/// Runs a function in the Lambda runtime: the function (and the clients in it) is built once
/// per cold start and serves every invocation.
pub async fn run_lambda(function: &dyn Function) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(serve(function, req).await)
    }))
    .await
}
