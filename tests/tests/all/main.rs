//! Cross-function tests, in one binary to keep link time down: the SAM template against the
//! code, the OpenAPI document against the routes, the audit log as the other functions fill
//! it, and the local server driven over HTTP.

mod audit;
mod budget;
mod cursors;
mod erasure_canary;
mod http_api;
mod inbound_flow;
mod invite_flow;
mod isolation;
mod leaving_canary;
mod local_server;
mod modules;
mod openapi;
mod permissions;
mod privacy_budget;
mod privacy_flow;
mod registry;
mod reply_budget;
mod reply_flow;
mod roles;
mod row_scoping;
mod sam;
mod template;
mod templates_flow;
