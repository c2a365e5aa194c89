//! The local server as a library, so black-box tests start it on a free port in-process and
//! drive it over HTTP exactly as `cargo run -p gestor-local` serves it.

pub mod config;
pub mod fake_graph;
pub mod gateway;
pub mod token;
pub mod workers;

use anyhow::Context;
use std::sync::Arc;

pub use config::{BackendKind, Config};

/// A started server: its address, the demo owner's token, and the storage it serves (for
/// tests that look at what is stored, as an operator would with the AWS console).
pub struct Started {
    pub addr: std::net::SocketAddr,
    pub demo_token: String,
    pub task: tokio::task::JoinHandle<()>,
    pub backend: gestor_shared::backend::Backend,
}

/// Binds, opens the backend and serves in a background task until `shutdown` resolves.
pub async fn start(
    mut config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Started> {
    // Anyone who read this repository can sign tokens with the development secret: such a
    // server answers this machine only.
    if config.jwt_secret == config::DEV_JWT_SECRET && !config.addr.ip().is_loopback() {
        anyhow::bail!(
            "GESTOR_ADDR={} listens beyond this machine while the development JWT secret signs tokens: \
             set GESTOR_DEV_JWT_SECRET to a secret of your own, or listen on 127.0.0.1",
            config.addr
        );
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    // Port 0 asks for a free port: the URLs the server gives out must name the real one.
    config.addr = listener.local_addr()?;
    let default_graph = gestor_shared::settings::Setting::MetaGraphUrl.default_value();
    if config.fake_channels
        && config.settings.get(gestor_shared::settings::Setting::MetaGraphUrl).ok() == default_graph
    {
        config
            .settings
            .set(gestor_shared::settings::Setting::MetaGraphUrl, format!("{}/dev/graph", config.base_url()));
    }
    let tiktok = gestor_shared::settings::Setting::TiktokApiUrl;
    if config.fake_channels && config.settings.get(tiktok).ok() == tiktok.default_value() {
        config.settings.set(tiktok, format!("{}/dev/tiktok", config.base_url()));
    }
    let gateway = Arc::new(gateway::Gateway::start(&config).await?);
    let demo_token = gateway.demo_token().await?;
    let backend = gateway.backend.clone();
    let addr = config.addr;
    let app = gateway::router(gateway).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(cause = %e, "local server stopped");
        }
    });
    Ok(Started { addr, demo_token, task, backend })
}
