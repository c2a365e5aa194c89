//! The `contacts` function: `/v1/contacts` and `/v1/contacts/{id}`.

mod handlers;
pub mod input;

use async_trait::async_trait;
use gestor_shared::http::{Access, ApiError, Call, Core, Function, Permission, Reply, Route};
use gestor_shared::ports::Files;
use gestor_shared::repo::contacts::ContactRepo;
use std::sync::Arc;

pub use handlers::ApiDoc;

pub const ROUTES: &[Route] = &[
    Route {
        key: "GET /v1/contacts",
        access: Access::Permission(Permission::ContactsRead),
        audit: None,
        idempotent: false,
    },
    Route {
        key: "POST /v1/contacts",
        access: Access::Permission(Permission::ContactsWrite),
        audit: Some(("contact.create", "contact")),
        idempotent: true,
    },
    Route {
        key: "GET /v1/contacts/{id}",
        access: Access::Permission(Permission::ContactsRead),
        audit: None,
        idempotent: false,
    },
    Route {
        key: "PATCH /v1/contacts/{id}",
        access: Access::Permission(Permission::ContactsWrite),
        audit: Some(("contact.update", "contact")),
        idempotent: false,
    },
    Route {
        key: "DELETE /v1/contacts/{id}",
        access: Access::Permission(Permission::ContactsDelete),
        audit: Some(("contact.delete", "contact")),
        idempotent: false,
    },
];

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

#[async_trait]
impl Function for Contacts {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn core(&self) -> &Core {
        &self.core
    }

    async fn call(&self, route: &'static Route, call: Call) -> Result<Reply, ApiError> {
        match route.key {
            "GET /v1/contacts" => handlers::list(self, call).await,
            "POST /v1/contacts" => handlers::create(self, call).await,
            "GET /v1/contacts/{id}" => handlers::get(self, call).await,
            "PATCH /v1/contacts/{id}" => handlers::patch(self, call).await,
            "DELETE /v1/contacts/{id}" => handlers::delete(self, call).await,
            _ => Err(ApiError::NotFound),
        }
    }
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

#[cfg(test)]
mod tests;
