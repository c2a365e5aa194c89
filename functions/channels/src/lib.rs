//! The `channels` function: `/v1/channels`, `/v1/channels/{id}`,
//! `/v1/channels/embedded-signup`, and the WhatsApp templates replies use (`/v1/templates`). Connecting shows the token reaches the account through the
//! channel's own API before anything is stored; the token is kept encrypted and never answered.

mod handlers;
pub mod input;
mod templates;

use gestor_shared::crypto::{KeyError, TokenCipher};
use gestor_shared::graph::{GraphClient, GraphError};
use gestor_shared::http::{Core, Permission, Policy};
use gestor_shared::registry::{Declaration, HttpPart, Serves};
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::repo::templates::TemplateRepo;
use gestor_shared::settings::Setting;
use gestor_shared::settings::Settings;
use std::sync::Arc;

pub use handlers::ApiDoc;

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("CHANNEL_TOKEN_KEYS: {0}")]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Graph(#[from] GraphError),
}

pub static FUNCTION: Declaration = Declaration {
    name: "channels",
    settings: &[
        Setting::TableName,
        Setting::CursorSecret,
        Setting::ChannelTokenKeys,
        Setting::MetaGraphUrl,
        Setting::TiktokApiUrl,
        Setting::MetaAppId,
        Setting::MetaAppSecret,
    ],
    serves: Serves::Http(HttpPart {
        routes: Channels::route_table,
        openapi,
        build: |deps| Ok(Arc::new(Channels::from_settings(deps.core()?, deps.settings())?)),
    }),
};

gestor_shared::routes!(Channels, core: core, {
    handlers::list => Policy::needs(Permission::ChannelsRead),
    handlers::connect => Policy::needs(Permission::ChannelsManage).audited("channel.connect", "channel").idempotent(),
    handlers::embedded_signup => Policy::needs(Permission::ChannelsManage).audited("channel.connect", "channel").idempotent(),
    handlers::get => Policy::needs(Permission::ChannelsRead),
    handlers::deactivate => Policy::needs(Permission::ChannelsManage).audited("channel.deactivate", "channel").idempotent(),
    templates::list => Policy::needs(Permission::ChannelsRead),
});

pub struct Channels {
    core: Core,
    repo: ChannelRepo,
    templates: TemplateRepo,
    graph: GraphClient,
    cipher: TokenCipher,
}

impl Channels {
    pub fn new(core: Core, graph: GraphClient, cipher: TokenCipher) -> Self {
        let repo = ChannelRepo::new(core.table.clone());
        let templates = TemplateRepo::new(core.table.clone());
        Self { core, repo, templates, graph, cipher }
    }

    /// The function with its Graph client and key ring built from the settings (once per
    /// cold start).
    pub fn from_settings(core: Core, settings: &Settings) -> Result<Self, SetupError> {
        let cipher = TokenCipher::from_settings(settings)?;
        let graph = GraphClient::new(settings)?;
        Ok(Self::new(core, graph, cipher))
    }
}

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    Channels::openapi_paths(&mut doc);
    doc
}

#[cfg(test)]
mod tests;
