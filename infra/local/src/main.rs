//! `gestor-local`: every function's routes on one port, the API Gateway JWT authorizer
//! emulated, on the embedded storage by default or on AWS endpoints with `GESTOR_BACKEND=aws`.
//!
//! `gestor-local provision` creates the table, queues and bucket on the AWS endpoint in the
//! environment (the emulator) and prints the settings to export.

use anyhow::Context;
use gestor_local::Config;

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
    let config = Config::from_env()?;
    let settings_line = format!("{:?}", config.settings);
    let started = gestor_local::start(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Config::print(started.addr, &settings_line, &started.demo_token);
    started.task.await.context("server task")
}
