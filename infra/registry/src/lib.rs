//! Every function, by its declaration (`gestor_shared::registry`). The local server mounts
//! and runs what is listed here, the OpenAPI document is merged from it, and the tests check
//! the template and the routes against it. A new function is one line here and one in this
//! crate's `Cargo.toml`.

use gestor_shared::registry::Declaration;

pub static FUNCTIONS: &[&Declaration] = &[
    &gestor_contacts::FUNCTION,
    &gestor_members::FUNCTION,
    &gestor_audit::FUNCTION,
    &gestor_audit::DETECT,
    &gestor_audit::RETENTION,
    &gestor_conversations::FUNCTION,
    &gestor_conversations::WAKE,
    &gestor_channels::FUNCTION,
    &gestor_webhooks::FUNCTION,
    &gestor_inbound::FUNCTION,
    &gestor_inbound::DEFERRED,
    &gestor_outbound::FUNCTION,
    &gestor_outbound::SWEEP,
    &gestor_privacy::FUNCTION,
    &gestor_privacy::WORKER,
    &gestor_privacy::DEAD_LETTERS,
    &gestor_privacy::SWEEP,
    &gestor_openapi::FUNCTION,
];

/// The merged OpenAPI document of every HTTP function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let parts = FUNCTIONS
        .iter()
        .filter_map(|f| match &f.serves {
            gestor_shared::registry::Serves::Http(http) => Some((http.openapi)()),
            _ => None,
        })
        .collect();
    gestor_openapi::merge(parts)
}
