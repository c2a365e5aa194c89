//! Every queue consumer, run in-process as Lambda's event sources run them in AWS: poll,
//! hand over a batch, delete what was done, let failures come back.

use gestor_shared::backend::Backend;
use gestor_shared::settings::Settings;
use gestor_shared::worker::{Consumer, poll_once};
use std::sync::Arc;
use std::time::Duration;

/// A failed message comes back this soon locally (SQS waits for the visibility timeout).
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long to wait before polling an empty queue again.
const IDLE: Duration = Duration::from_millis(200);

/// Starts every consumer and answers their names.
pub fn start(backend: &Backend, settings: &Settings) -> anyhow::Result<Vec<&'static str>> {
    let inbound = gestor_inbound::Inbound::new(backend, settings)
        .map_err(|e| anyhow::anyhow!("setting up the inbound worker: {e}"))?;
    let inbound: Arc<dyn Consumer> = Arc::new(inbound);
    let deferred = gestor_inbound::Deferred::new(backend, settings)
        .map_err(|e| anyhow::anyhow!("setting up the deferred worker: {e}"))?;
    let deferred: Arc<dyn Consumer> = Arc::new(deferred);
    let consumers = vec![
        (inbound, settings.inbound_queue_url.clone(), gestor_shared::resources::INBOUND),
        (deferred, settings.deferred_queue_url.clone(), gestor_shared::resources::DEFERRED),
    ];
    let mut names = Vec::new();
    for (consumer, address, spec) in consumers {
        names.push(consumer.name());
        let queue = backend.queue.clone();
        let visibility = Duration::from_secs(u64::from(spec.visibility_timeout_secs()));
        tokio::spawn(async move {
            loop {
                match poll_once(queue.as_ref(), &address, consumer.as_ref(), visibility, RETRY_AFTER).await {
                    Ok(0) => tokio::time::sleep(IDLE).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(consumer = consumer.name(), cause = %e, "polling failed");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
        });
    }
    Ok(names)
}
