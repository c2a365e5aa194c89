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
        Some("redrive") => redrive(std::env::args().nth(2)).await,
        Some("serve") | None => serve().await,
        Some(other) => {
            anyhow::bail!("unknown command {other}: use `serve` (default), `provision` or `redrive QUEUE`")
        }
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

/// Moves a queue's dead-lettered messages back to it, once the cause of their failure is
/// fixed: `gestor-local redrive inbound`. On the embedded backend the server must be stopped
/// (the database is opened by one process at a time).
async fn redrive(queue: Option<String>) -> anyhow::Result<()> {
    let name = queue.context("name the queue: inbound, outbound, automation, privacy or deferred")?;
    let spec = gestor_shared::resources::QUEUES
        .into_iter()
        .find(|q| q.name == name)
        .with_context(|| format!("no queue named {name}"))?;
    let config = Config::from_env()?;
    let (queue, main, dead): (std::sync::Arc<dyn gestor_shared::ports::Queue>, String, String) =
        match config.backend {
            gestor_local::BackendKind::Embedded => {
                let backend =
                    gestor_shared::backend::Backend::embedded(&config.data_dir, &config.base_url(), b"")
                        .context("opening the embedded storage (is the local server still running?)")?;
                (backend.queue, spec.queue_name(""), spec.dlq_name(""))
            }
            gestor_local::BackendKind::Aws => {
                let settings = &config.settings;
                let backend = gestor_shared::backend::Backend::aws(settings).await;
                let main = match spec.name {
                    "inbound" => settings.inbound_queue_url.clone(),
                    "outbound" => settings.outbound_queue_url.clone(),
                    "automation" => settings.automation_queue_url.clone(),
                    "deferred" => settings.deferred_queue_url.clone(),
                    _ => settings.privacy_queue_url.clone(),
                };
                // Dead-letter queues are named after their queue (shared/src/resources.rs).
                let (base, last) = main.rsplit_once('/').context("the queue URL has no queue name")?;
                let prefix = last
                    .strip_suffix(&spec.queue_name(""))
                    .context("the queue URL does not end in the queue's name")?;
                let dead = format!("{base}/{}", spec.dlq_name(prefix));
                (backend.queue, main, dead)
            }
        };
    let moved = queue.redrive(&dead, &main).await.context("moving the dead letters back")?;
    println!("moved {moved} message(s) from {dead} back to {main}");
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
