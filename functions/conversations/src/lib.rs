//! The `conversations` function, read side: the inbox (`/v1/conversations`), one conversation
//! (`/v1/conversations/{id}`) and its messages (`/v1/conversations/{id}/messages`). Changing a
//! conversation and sending replies come with their own issue.

mod handlers;

use async_trait::async_trait;
use gestor_shared::http::{Access, ApiError, Call, Core, Function, Permission, Reply, Route};
use gestor_shared::ports::Files;
use gestor_shared::repo::conversations::ConversationRepo;
use gestor_shared::repo::messages::MessageRepo;
use std::sync::Arc;

pub use handlers::ApiDoc;

pub const ROUTES: &[Route] = &[
    Route {
        key: "GET /v1/conversations",
        access: Access::Permission(Permission::ConversationsRead),
        audit: None,
        idempotent: false,
    },
    Route {
        key: "GET /v1/conversations/{id}",
        access: Access::Permission(Permission::ConversationsRead),
        audit: None,
        idempotent: false,
    },
    Route {
        key: "GET /v1/conversations/{id}/messages",
        access: Access::Permission(Permission::ConversationsRead),
        audit: None,
        idempotent: false,
    },
];

pub struct Conversations {
    core: Core,
    conversations: ConversationRepo,
    messages: MessageRepo,
    /// Signs the short-lived URLs through which media files reach the frontend.
    files: Arc<dyn Files>,
}

impl Conversations {
    pub fn new(core: Core, files: Arc<dyn Files>) -> Self {
        let conversations = ConversationRepo::new(core.table.clone());
        let messages = MessageRepo::new(core.table.clone());
        Self { core, conversations, messages, files }
    }
}

#[async_trait]
impl Function for Conversations {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn core(&self) -> &Core {
        &self.core
    }

    async fn call(&self, route: &'static Route, call: Call) -> Result<Reply, ApiError> {
        match route.key {
            "GET /v1/conversations" => handlers::list(self, call).await,
            "GET /v1/conversations/{id}" => handlers::get(self, call).await,
            "GET /v1/conversations/{id}/messages" => handlers::messages(self, call).await,
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
