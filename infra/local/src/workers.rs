//! Every queue consumer and schedule of the registry, run in-process as Lambda's event sources
//! and EventBridge run them in AWS: poll, hand over a batch, delete what was done, let failures
//! come back; fire each schedule on its rate.

use gestor_shared::backend::Backend;
use gestor_shared::resources::QueueSpec;
use gestor_shared::worker::{Consumer, Scheduled, poll_once, tick};
use std::sync::Arc;
use std::time::Duration;

/// A failed message comes back this soon locally (SQS waits for the visibility timeout).
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long to wait before polling an empty queue again.
const IDLE: Duration = Duration::from_millis(200);

/// Starts polling for every consumer; answers their names.
pub fn start(backend: &Backend, consumers: Vec<(Arc<dyn Consumer>, String, QueueSpec)>) -> Vec<&'static str> {
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
    names
}

/// Fires every schedule on its rate, first one period after the start (as EventBridge does);
/// answers their names.
pub fn start_schedules(schedules: Vec<(&'static str, Arc<dyn Scheduled>, Duration)>) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (rule, job, every) in schedules {
        names.push(job.name());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticks.tick().await;
                if let Err(e) = job.run(tick(time::OffsetDateTime::now_utc(), rule)).await {
                    tracing::error!(schedule = job.name(), cause = %e, "scheduled run failed");
                }
            }
        });
    }
    names
}
