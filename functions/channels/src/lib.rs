//! The `channels` function: `/v1/channels`, `/v1/channels/{id}` and
//! `/v1/channels/embedded-signup`. Connecting shows the token reaches the account through the
//! channel's own API before anything is stored; the token is kept encrypted and never answered.

mod handlers;
pub mod input;

use async_trait::async_trait;
use gestor_shared::crypto::{KeyError, TokenCipher};
use gestor_shared::graph::{GraphClient, GraphError};
use gestor_shared::http::{Access, ApiError, Call, Core, Function, Permission, Reply, Route};
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::settings::Settings;

pub use handlers::ApiDoc;

pub const ROUTES: &[Route] = &[
    Route {
        key: "GET /v1/channels",
        access: Access::Permission(Permission::ChannelsRead),
        audit: None,
        idempotent: false,
    },
    Route {
        key: "POST /v1/channels",
        access: Access::Permission(Permission::ChannelsManage),
        audit: Some(("channel.connect", "channel")),
        idempotent: true,
    },
    Route {
        key: "POST /v1/channels/embedded-signup",
        access: Access::Permission(Permission::ChannelsManage),
        audit: Some(("channel.connect", "channel")),
        idempotent: true,
    },
    Route {
        key: "GET /v1/channels/{id}",
        access: Access::Permission(Permission::ChannelsRead),
        audit: None,
        idempotent: false,
    },
    Route {
        key: "DELETE /v1/channels/{id}",
        access: Access::Permission(Permission::ChannelsManage),
        audit: Some(("channel.deactivate", "channel")),
        idempotent: false,
    },
];

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("CHANNEL_TOKEN_KEYS: {0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

pub struct Channels {
    core: Core,
    repo: ChannelRepo,
    graph: GraphClient,
    cipher: TokenCipher,
}

impl Channels {
    pub fn new(core: Core, graph: GraphClient, cipher: TokenCipher) -> Self {
        let repo = ChannelRepo::new(core.table.clone());
        Self { core, repo, graph, cipher }
    }

    /// The function with its Graph client and key ring built from the settings (once per
    /// cold start).
    pub fn from_settings(core: Core, settings: &Settings) -> Result<Self, SetupError> {
        let cipher = TokenCipher::from_settings(settings)?;
        let graph = GraphClient::new(settings)?;
        Ok(Self::new(core, graph, cipher))
    }
}

#[async_trait]
impl Function for Channels {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn core(&self) -> &Core {
        &self.core
    }

    async fn call(&self, route: &'static Route, call: Call) -> Result<Reply, ApiError> {
        match route.key {
            "GET /v1/channels" => handlers::list(self, call).await,
            "POST /v1/channels" => handlers::connect(self, call).await,
            "POST /v1/channels/embedded-signup" => handlers::embedded_signup(self, call).await,
            "GET /v1/channels/{id}" => handlers::get(self, call).await,
            "DELETE /v1/channels/{id}" => handlers::deactivate(self, call).await,
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
