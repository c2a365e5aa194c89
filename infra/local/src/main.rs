//! `gestor-local`: every function's routes on one port, the API Gateway JWT authorizer
//! emulated, on the embedded storage by default or on AWS endpoints with `GESTOR_BACKEND=aws`.
//!
//! `gestor-local provision` creates the table, queues and bucket on the AWS endpoint in the
//! environment (the emulator) and prints the settings to export.

mod config;
mod gateway;
mod token;

use anyhow::Context;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gestor_shared::logging::init();
    match std::env::args().nth(1).as_deref() {
        Some("provision") => provision().await,
        Some("serve") | None => serve().await,
        Some(other) => anyhow::bail!("unknown command {other}: use `serve` (default) or `provision`"),
    }
}

async fn provision() -> anyhow::Result<()> {
    let prefix = std::env::var("GESTOR_RESOURCE_PREFIX").unwrap_or_else(|_| "gestor-".into());
    let sdk = gestor_shared::adapters::aws::sdk_config().await;
    let made = gestor_shared::adapters::provision::provision(&sdk, &prefix)
        .await
        .context("creating the table, queues and bucket")?;
    for (name, value) in made.env_exports() {
        println!("export {name}={value}");
    }
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    let config = config::Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let gateway = Arc::new(gateway::Gateway::start(&config).await?);
    let demo = gateway.demo_token().await?;
    config.print(&demo);
    axum::serve(
        listener,
        gateway::router(gateway).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("serving")
}
