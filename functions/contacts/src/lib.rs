//! The `contacts` function: `/v1/contacts` and `/v1/contacts/{id}`.

mod handlers;
pub mod input;

use gestor_shared::http::{Core, Permission, Policy};
use gestor_shared::ports::Files;
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use gestor_shared::repo::contacts::ContactRepo;
use gestor_shared::settings::Setting;
use std::sync::Arc;

pub use handlers::ApiDoc;

pub static FUNCTION: Declaration = Declaration {
    name: "contacts",
    settings: &[Setting::TableName, Setting::BucketName, Setting::CursorSecret],
    serves: Serves::Http(HttpPart {
        routes: Contacts::route_table,
        openapi,
        build: |deps| Ok(Arc::new(Contacts::new(deps.core()?, deps.files()?))),
    }),
};

gestor_shared::routes!(Contacts, core: core, {
    handlers::list => Policy::needs(Permission::ContactsRead),
    handlers::create => Policy::needs(Permission::ContactsWrite).audited("contact.create", "contact").idempotent(),
    handlers::get => Policy::needs(Permission::ContactsRead),
    handlers::patch => Policy::needs(Permission::ContactsWrite).audited("contact.update", "contact").idempotent(),
    handlers::delete => Policy::needs(Permission::ContactsDelete).audited("contact.delete", "contact").idempotent(),
});

pub struct Contacts {
    core: Core,
    repo: ContactRepo,
    /// The bucket holding the media of a contact's messages, deleted with the contact.
    files: Arc<dyn Files>,
}

impl Contacts {
    pub fn new(core: Core, files: Arc<dyn Files>) -> Self {
        let repo = ContactRepo::new(core.table.clone());
        Self { core, repo, files }
    }
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Contacts::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
