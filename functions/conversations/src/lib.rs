//! The `conversations` function: the inbox (`/v1/conversations`), one conversation and its
//! messages, and the agents' side of it: changing a conversation's status and assignee,
//! marking it read, and writing replies (queued for the outbound worker) and notes.

mod changes;
mod handlers;
mod interactive;
mod media_reply;
mod opposition;
mod replies;
mod uploads;
mod views;
pub mod wake;

use gestor_shared::http::{Core, Permission, Policy};
use gestor_shared::ports::{Files, OutgoingMessage, Queue};
use gestor_shared::registry::{Declaration, HttpPart, SchedulePart, Serves};
use gestor_shared::repo::conversations::ConversationRepo;
use gestor_shared::repo::messages::MessageRepo;
use gestor_shared::repo::replies::ReplyRepo;
use gestor_shared::repo::snoozes::SnoozeRepo;
use gestor_shared::repo::uploads::UploadRepo;
use gestor_shared::settings::{Setting, SettingError, Settings};
use std::sync::Arc;

pub use handlers::ApiDoc;

pub static FUNCTION: Declaration = Declaration {
    name: "conversations",
    settings: &[
        Setting::TableName,
        Setting::BucketName,
        Setting::CursorSecret,
        Setting::OutboundQueueUrl,
        Setting::MetaHumanAgentApproved,
    ],
    serves: Serves::Http(HttpPart {
        routes: Conversations::route_table,
        openapi,
        build: |deps| {
            let function = Conversations::new(deps.core()?, deps.files()?, deps.queue(), deps.settings())?;
            Ok(Arc::new(function))
        },
    }),
};

/// Snoozed conversations back in the inbox when their time comes (`wake.rs`).
pub static WAKE: Declaration = Declaration {
    name: "conversations-wake",
    settings: &[Setting::TableName],
    serves: Serves::Schedule(SchedulePart {
        every: std::time::Duration::from_secs(60),
        build: |deps| Ok(Arc::new(wake::Wake::new(deps.table()?))),
    }),
};

gestor_shared::routes!(Conversations, core: core, {
    handlers::list => Policy::needs(Permission::ConversationsRead),
    handlers::get => Policy::needs(Permission::ConversationsRead),
    handlers::messages => Policy::needs(Permission::ConversationsRead),
    changes::patch => Policy::needs(Permission::ConversationsWrite).audited("conversation.update", "conversation").idempotent(),
    changes::mark_read => Policy::needs(Permission::ConversationsWrite).audited("conversation.read", "conversation").idempotent(),
    replies::create => Policy::needs(Permission::ConversationsWrite).audited("message.create", "message").idempotent(),
    uploads::create => Policy::needs(Permission::ConversationsWrite).audited("upload.create", "upload").idempotent(),
});

pub struct Conversations {
    core: Core,
    conversations: ConversationRepo,
    messages: MessageRepo,
    replies: ReplyRepo,
    snoozes: SnoozeRepo,
    uploads: UploadRepo,
    /// Signs the short-lived URLs through which media files reach the frontend, and those
    /// through which the frontend uploads files to send.
    files: Arc<dyn Files>,
    queue: Arc<dyn Queue>,
    outbound_queue: String,
    /// Whether Meta approved the app's Human Agent permission (`META_HUMAN_AGENT_APPROVED`).
    human_agent_approved: bool,
}

impl Conversations {
    pub fn new(
        core: Core,
        files: Arc<dyn Files>,
        queue: Arc<dyn Queue>,
        settings: &Settings,
    ) -> Result<Self, SettingError> {
        let conversations = ConversationRepo::new(core.table.clone());
        let messages = MessageRepo::new(core.table.clone());
        let replies = ReplyRepo::new(core.table.clone());
        let snoozes = SnoozeRepo::new(core.table.clone());
        let uploads = UploadRepo::new(core.table.clone());
        Ok(Self {
            core,
            conversations,
            messages,
            replies,
            snoozes,
            uploads,
            files,
            queue,
            outbound_queue: settings.get(Setting::OutboundQueueUrl)?.to_owned(),
            human_agent_approved: settings.get(Setting::MetaHumanAgentApproved)? == "true",
        })
    }

    /// Hands a job to the sender. A reply that is not enqueued stays `queued`, where the
    /// sweep of stuck replies finds it; a receipt is best effort. The agent's request has
    /// succeeded either way.
    async fn enqueue(&self, what: &str, message: Result<OutgoingMessage, serde_json::Error>) {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(cause = %e, what, "not enqueued: cannot encode its job");
                return;
            }
        };
        match self.queue.send_batch(&self.outbound_queue, vec![message]).await {
            Ok(outcome) if outcome.failed.is_empty() => {}
            Ok(_) => tracing::warn!(what, "the outbound queue refused the job"),
            Err(e) => tracing::warn!(cause = %e, what, "not enqueued"),
        }
    }
}

/// The conversation a route's path names.
pub(crate) fn conversation_id(
    call: &gestor_shared::http::Call,
) -> Result<gestor_shared::ids::ConversationId, gestor_shared::http::ApiError> {
    // A malformed id cannot name a conversation of this tenant: 404 like any unknown id.
    gestor_shared::ids::ConversationId::parse(call.path_param("id")?)
        .map_err(|_| gestor_shared::http::ApiError::NotFound)
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Conversations::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
