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
        Some("reapply-erasures") => reapply_erasures(std::env::args().nth(2)).await,
        Some("replay-dead-letters") => {
            replay_dead_letters(std::env::args().nth(2), std::env::args().nth(3)).await
        }
        Some("serve") | None => serve().await,
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command {other}\n\n{USAGE}"),
    }
}

const USAGE: &str = "\
gestor-local: every GestorDigital function, queue consumer and schedule in one process.

Usage: cargo run -p gestor-local [-- COMMAND]

Commands:
  serve            serve every route on GESTOR_ADDR (default 127.0.0.1:3000); the default
  provision        create the table, queues and bucket on the AWS endpoint in the environment
                   (the moto emulator) and print the settings to export
  redrive QUEUE    move QUEUE's dead letters back to it (inbound, outbound, automation,
                   privacy or deferred); stop the server first on the embedded backend
  replay-dead-letters QUEUE [TENANT]
                   send the dead letters the dead-letters schedule kept in the bucket for QUEUE
                   back to it (TENANT's, or without it those of no business), once the cause
                   of their failure is fixed
  reapply-erasures RESTORED_TABLE
                   after a point-in-time restore into RESTORED_TABLE, erase there again every
                   subject the live table (TABLE_NAME) records as erased, and copy the erased
                   marks; GESTOR_BACKEND=aws, ERASURE_KEY set; run it before the switch
  help             print this

Environment:
  GESTOR_ADDR            where to listen (default 127.0.0.1:3000)
  GESTOR_DATA_DIR        where embedded data lives (default .gestor)
  GESTOR_BACKEND         embedded (default) or aws (the SDK's standard environment)
  GESTOR_DEV_JWT_SECRET  the HS256 key of local tokens (a development default otherwise)
  GESTOR_FETCH_LOOPBACK  false stops media downloads from reaching loopback fakes
  and every function setting of the README (each has a local default).
";

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
                let main = settings.get(spec.url_setting)?.to_owned();
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

/// The kept dead letters of a queue sent back to it: `gestor-local replay-dead-letters
/// outbound acme`. On the embedded backend the server must be stopped.
async fn replay_dead_letters(queue: Option<String>, tenant: Option<String>) -> anyhow::Result<()> {
    let name = queue.context("name the queue: inbound, outbound, automation, privacy or deferred")?;
    let spec = gestor_shared::resources::QUEUES
        .into_iter()
        .find(|q| q.name == name)
        .with_context(|| format!("no queue named {name}"))?;
    let tenant =
        tenant.map(|t| gestor_shared::domain::TenantId::parse(&t)).transpose().context("the tenant id")?;
    let config = Config::from_env()?;
    let (backend, url) = match config.backend {
        gestor_local::BackendKind::Embedded => {
            let backend =
                gestor_shared::backend::Backend::embedded(&config.data_dir, &config.base_url(), b"")
                    .context("opening the embedded storage (is the local server still running?)")?;
            (backend, spec.queue_name(""))
        }
        gestor_local::BackendKind::Aws => {
            let backend = gestor_shared::backend::Backend::aws(&config.settings).await;
            let url = config.settings.get(spec.url_setting)?.to_owned();
            (backend, url)
        }
    };
    let prefix = gestor_shared::dead_letters::prefix(tenant.as_ref(), spec.name);
    let sent =
        gestor_privacy::drain::replay(backend.files.as_ref(), backend.queue.as_ref(), &spec, &url, &prefix)
            .await
            .context("sending the dead letters back")?;
    println!("sent {sent} dead letter(s) from {prefix} back to {url}");
    Ok(())
}

/// After a point-in-time restore: the live table's completed erasures applied again to the
/// restored one (`functions/privacy/src/restore.rs`), before the stack is pointed at it.
async fn reapply_erasures(restored: Option<String>) -> anyhow::Result<()> {
    use gestor_shared::settings::Setting;
    let restored = restored.context("name the restored table")?;
    let config = Config::from_env()?;
    anyhow::ensure!(
        matches!(config.backend, gestor_local::BackendKind::Aws),
        "a restore is of the AWS table: run with GESTOR_BACKEND=aws"
    );
    let live = gestor_shared::backend::Backend::aws(&config.settings).await;
    let mut settings = config.settings.clone();
    settings.set(Setting::TableName, restored.clone());
    let target = gestor_shared::backend::Backend::aws(&settings).await;
    let ids = gestor_shared::repo::erased::ErasedIds::from_settings(&config.settings)
        .context("ERASURE_KEY: the key the erasures' digests were made with")?;
    let now = time::OffsetDateTime::now_utc();
    let done = gestor_privacy::restore::reapply(live.table, target.table, live.files, ids, now)
        .await
        .context("re-applying the erasures")?;
    println!(
        "{} erasure(s) recorded; {} subject(s) erased again in {restored}; {} erased mark(s) copied",
        done.erasures, done.erased_again, done.marks
    );
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
