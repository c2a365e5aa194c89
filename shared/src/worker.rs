//! Queue consumers and schedules: one handler shape for Lambda's SQS event source (partial
//! batch responses) and EventBridge schedules, and for the local server, which polls the same
//! queues through the queue port and fires the same schedules, handing each the event Lambda
//! would.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::time::Duration;

use crate::ports::{Queue, QueueError, ReceivedMessage};

#[async_trait]
pub trait Consumer: Send + Sync {
    /// The consumer's name in logs and in the local server's health answer.
    fn name(&self) -> &'static str;

    /// Handles a batch; answers the ids of the messages to receive again (every other one
    /// is done and deleted).
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse;
}

/// A job EventBridge runs on a schedule (a sweep, a scan). A failed run is retried by
/// EventBridge's own retry policy and the next tick; it must be safe to run twice.
#[async_trait]
pub trait Scheduled: Send + Sync {
    /// The schedule's name in logs and in the local server's health answer.
    fn name(&self) -> &'static str;

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError>;
}

/// The event EventBridge delivers on each tick (`detail-type: Scheduled Event`).
pub type ScheduledEvent = aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>;

#[derive(Debug, thiserror::Error)]
#[error("scheduled run failed: {0}")]
pub struct ScheduleError(pub String);

/// When a tick was due: EventBridge's time of it, so that a late run judges by that (the
/// clock's now for an event without one).
pub fn due_at(event: &ScheduledEvent) -> time::OffsetDateTime {
    event
        .time
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.timestamp()).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc)
}

/// The event of a local tick, as EventBridge would send it.
pub fn tick(at: time::OffsetDateTime, rule: &str) -> ScheduledEvent {
    let time = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let event = serde_json::json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time,
        "region": "local",
        "resources": [format!("arn:aws:events:local:000000000000:rule/{rule}")],
        "detail": {},
    });
    serde_json::from_value(event).unwrap_or_default()
}

/// Serves a schedule in the Lambda runtime.
pub async fn run_schedule_lambda(job: &dyn Scheduled) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ScheduledEvent>| async move {
            job.run(event.payload).await.map_err(|e| lambda_runtime::Error::from(e.to_string()))
        },
    ))
    .await
}

/// A batch response naming these message ids as failed.
pub fn retry(ids: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Serves a consumer in the Lambda runtime (an SQS event source with
/// `ReportBatchItemFailures`).
pub async fn run_lambda(consumer: &dyn Consumer) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
            Ok::<_, std::convert::Infallible>(consumer.handle(event.payload).await)
        },
    ))
    .await
}

/// The record Lambda's event source would deliver for a received message.
pub fn record(message: &ReceivedMessage) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(message.message_id.clone());
    record.receipt_handle = Some(message.receipt.clone());
    record.body = Some(message.body.clone());
    record.attributes.insert("ApproximateReceiveCount".into(), message.receive_count.to_string());
    if let Some(group) = &message.group_id {
        record.attributes.insert("MessageGroupId".into(), group.clone());
    }
    record.event_source = Some("aws:sqs".into());
    record
}

/// How many times a record has been received, this time included (1 when unknown).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1)
}

/// One local poll, as Lambda's event source does it: receive up to ten messages, hand them to
/// the consumer, delete the ones it finished, and let the failed ones come back after
/// `retry_after` (SQS would wait for the visibility timeout). Answers how many were received.
pub async fn poll_once(
    queue: &dyn Queue,
    address: &str,
    consumer: &dyn Consumer,
    visibility: Duration,
    retry_after: Duration,
) -> Result<usize, QueueError> {
    let received = queue.receive(address, 10, visibility).await?;
    if received.is_empty() {
        return Ok(0);
    }
    let mut event = SqsEvent::default();
    event.records = received.iter().map(record).collect();
    let response = consumer.handle(event).await;
    let failed: std::collections::HashSet<&str> =
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    for message in &received {
        if failed.contains(message.message_id.as_str()) {
            queue.set_visibility(address, &message.receipt, retry_after).await?;
        } else {
            queue.ack(address, &message.receipt).await?;
        }
    }
    Ok(received.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{embedded, embedded_queue::EmbeddedQueue};
    use crate::ports::OutgoingMessage;
    use std::sync::Mutex;

    /// Fails every message whose body is "fail" and remembers what it saw.
    struct Picky(Mutex<Vec<String>>);

    #[async_trait]
    impl Consumer for Picky {
        fn name(&self) -> &'static str {
            "picky"
        }

        async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
            let mut failed = Vec::new();
            for record in event.records {
                let body = record.body.unwrap_or_default();
                if let Ok(mut seen) = self.0.lock() {
                    seen.push(format!("{body}:{}", receive_count_of(&record.attributes)));
                }
                if body == "fail" {
                    failed.extend(record.message_id);
                }
            }
            retry(failed)
        }
    }

    fn receive_count_of(attributes: &std::collections::HashMap<String, String>) -> String {
        attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn finished_messages_are_deleted_and_failed_ones_come_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = embedded::open(&dir.path().join("q.redb")).unwrap_or_else(|e| panic!("{e}"));
        let queue = EmbeddedQueue::new(db).unwrap_or_else(|e| panic!("{e}"));
        let batch = vec![OutgoingMessage::new("1", "ok"), OutgoingMessage::new("2", "fail")];
        queue.send_batch("outbound", batch).await.unwrap_or_else(|e| panic!("{e}"));
        let consumer = Picky(Mutex::new(Vec::new()));
        let visibility = Duration::from_secs(30);
        assert_eq!(poll_once(&queue, "outbound", &consumer, visibility, Duration::ZERO).await.ok(), Some(2));
        assert_eq!(poll_once(&queue, "outbound", &consumer, visibility, Duration::ZERO).await.ok(), Some(1));
        let seen = consumer.0.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen, vec!["ok:1", "fail:1", "fail:2"]);
    }
}
