//! The `conversations` function, read side: the inbox (`/v1/conversations`), one conversation
//! (`/v1/conversations/{id}`) and its messages (`/v1/conversations/{id}/messages`). Changing a
//! conversation and sending replies come with their own issue.

mod handlers;
mod views;

use gestor_shared::http::{Core, Permission, Policy};
use gestor_shared::ports::Files;
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use gestor_shared::repo::conversations::ConversationRepo;
use gestor_shared::repo::messages::MessageRepo;
use gestor_shared::settings::Setting;
use std::sync::Arc;

pub use handlers::ApiDoc;

pub static FUNCTION: Declaration = Declaration {
    name: "conversations",
    settings: &[Setting::TableName, Setting::BucketName, Setting::CursorSecret],
    serves: Serves::Http(HttpPart {
        routes: Conversations::route_table,
        openapi,
        build: |deps| Ok(Arc::new(Conversations::new(deps.core()?, deps.files()?))),
    }),
};

gestor_shared::routes!(Conversations, core: core, {
    handlers::list => Policy::needs(Permission::ConversationsRead),
    handlers::get => Policy::needs(Permission::ConversationsRead),
    handlers::messages => Policy::needs(Permission::ConversationsRead),
});

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

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Conversations::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
