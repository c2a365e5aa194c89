//! The queue port over Amazon SQS, plus creating the queues of [`resources::QUEUES`].
//!
//! The `queue` argument of every call is the queue URL.

use crate::ports::queue::{MESSAGE_SIZE_LIMIT, SEND_BATCH_LIMIT};
use crate::ports::{OutgoingMessage, Queue, QueueError, ReceivedMessage, SendOutcome};
use crate::resources::{self, QueueSpec};
use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Longest visibility timeout SQS accepts.
pub(crate) const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Longest per-message delay SQS accepts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Long enough to send a received batch on and delete it before another redrive sees it again.
const REDRIVE_VISIBILITY: Duration = Duration::from_secs(60);
/// Short polling samples a subset of SQS hosts, so an empty answer is retried this many times
/// while the queue still reports messages.
const REDRIVE_EMPTY_RETRIES: u32 = 5;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self { client }
    }

    async fn approximate_count(&self, queue: &str) -> Result<u64, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| sdk_error(queue, e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Result<SendOutcome, QueueError> {
        check_batch(&messages)?;
        let entries = messages
            .into_iter()
            .map(|m| {
                SendMessageBatchRequestEntry::builder()
                    .id(m.id)
                    .message_body(m.body)
                    .set_message_group_id(m.group_id)
                    .set_message_deduplication_id(m.dedup_id)
                    .set_delay_seconds(m.delay.map(|d| clamp_secs(ceil_secs(d))))
                    .build()
                    .map_err(|e| QueueError::Invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(queue)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error(queue, e))?;
        for failure in out.failed() {
            tracing::warn!(
                queue,
                entry = failure.id(),
                code = failure.code(),
                message = failure.message().unwrap_or_default(),
                "SQS refused a batch entry"
            );
        }
        Ok(SendOutcome { failed: out.failed().iter().map(|f| f.id().to_owned()).collect() })
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        check_receive(max, visibility)?;
        let out = self
            .client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(clamp_secs(max as u64))
            .visibility_timeout(clamp_secs(ceil_secs(visibility)))
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(|e| sdk_error(queue, e))?;
        out.messages()
            .iter()
            .map(|m| {
                let missing =
                    |what: &str| QueueError::Backend(format!("SQS answered a message without {what}"));
                let attribute = |name: &MessageSystemAttributeName| m.attributes().and_then(|a| a.get(name));
                Ok(ReceivedMessage {
                    message_id: m.message_id().ok_or_else(|| missing("an id"))?.to_owned(),
                    receipt: m.receipt_handle().ok_or_else(|| missing("a receipt handle"))?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    group_id: attribute(&MessageSystemAttributeName::MessageGroupId).cloned(),
                    receive_count: attribute(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| missing("its receive count"))?,
                })
            })
            .collect()
    }

    async fn ack(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(queue)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| sdk_error(queue, e))?;
        Ok(())
    }

    async fn set_visibility(&self, queue: &str, receipt: &str, after: Duration) -> Result<(), QueueError> {
        if after > MAX_VISIBILITY {
            return Err(QueueError::Invalid(format!("visibility {after:?} exceeds 12 hours")));
        }
        self.client
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt)
            .visibility_timeout(clamp_secs(ceil_secs(after)))
            .send()
            .await
            .map_err(|e| sdk_error(queue, e))?;
        Ok(())
    }

    async fn redrive(&self, from: &str, to: &str) -> Result<usize, QueueError> {
        if from == to {
            return Err(QueueError::Invalid("cannot redrive a queue into itself".into()));
        }
        let fifo_target = is_fifo(to);
        let mut moved = 0;
        let mut failed = 0;
        let mut empty_answers = 0;
        loop {
            let received = self.receive(from, SEND_BATCH_LIMIT, REDRIVE_VISIBILITY).await?;
            if received.is_empty() {
                empty_answers += 1;
                if empty_answers > REDRIVE_EMPTY_RETRIES || self.approximate_count(from).await? == 0 {
                    break;
                }
                continue;
            }
            empty_answers = 0;
            for chunk in size_bounded_chunks(&received) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, m)| redriven(format!("m{i}"), m, fifo_target))
                    .collect();
                let outcome = self.send_batch(to, entries).await?;
                let refused: HashSet<&str> = outcome.failed.iter().map(String::as_str).collect();
                for (i, m) in chunk.iter().enumerate() {
                    // A message the target refused stays in the dead-letter queue, hidden until
                    // its visibility ends, so this redrive does not loop on it.
                    if refused.contains(format!("m{i}").as_str()) {
                        failed += 1;
                    } else {
                        self.ack(from, &m.receipt).await?;
                        moved += 1;
                    }
                }
            }
        }
        if failed > 0 {
            return Err(QueueError::Backend(format!(
                "{failed} messages could not be moved from {from} to {to} ({moved} were); they stay in {from}"
            )));
        }
        Ok(moved)
    }
}

/// The message a redrive sends for one taken from a dead-letter queue. FIFO targets need a
/// group (kept, or the message's own when it had none) and a dedup id; deriving that from the
/// original id makes a redrive retried after a failed delete drop its second copy.
pub(crate) fn redriven(entry_id: String, m: &ReceivedMessage, fifo_target: bool) -> OutgoingMessage {
    let mut out = OutgoingMessage::new(entry_id, m.body.clone());
    if fifo_target {
        out.group_id = Some(m.group_id.clone().unwrap_or_else(|| m.message_id.clone()));
        out.dedup_id = Some(format!("redrive-{}", m.message_id));
    }
    out
}

/// Splits received messages into runs whose bodies fit one send batch, keeping their order.
fn size_bounded_chunks(messages: &[ReceivedMessage]) -> Vec<&[ReceivedMessage]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, m) in messages.iter().enumerate() {
        if i > start && size + m.body.len() > MESSAGE_SIZE_LIMIT {
            chunks.push(&messages[start..i]);
            start = i;
            size = 0;
        }
        size += m.body.len();
    }
    if start < messages.len() {
        chunks.push(&messages[start..]);
    }
    chunks
}

pub(crate) fn is_fifo(queue: &str) -> bool {
    queue.ends_with(".fifo")
}

/// What SQS refuses for a whole batch, checked before calling so that both adapters refuse
/// the same batches the same way.
pub(crate) fn check_batch(messages: &[OutgoingMessage]) -> Result<(), QueueError> {
    let invalid = |reason: String| Err(QueueError::Invalid(reason));
    if messages.is_empty() {
        return invalid("a batch needs at least one message".into());
    }
    if messages.len() > SEND_BATCH_LIMIT {
        return invalid(format!("{} messages in one batch; at most {SEND_BATCH_LIMIT}", messages.len()));
    }
    let size: usize = messages.iter().map(|m| m.body.len()).sum();
    if size > MESSAGE_SIZE_LIMIT {
        return invalid(format!("a batch of {size} bytes; at most {MESSAGE_SIZE_LIMIT}"));
    }
    let mut ids = HashSet::new();
    for m in messages {
        let id_ok = !m.id.is_empty()
            && m.id.len() <= 80
            && m.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return invalid(format!("entry id {:?} is not 1-80 letters, digits, '-' or '_'", m.id));
        }
        if !ids.insert(m.id.as_str()) {
            return invalid(format!("entry id {:?} appears twice", m.id));
        }
        if m.body.is_empty() {
            return invalid(format!("entry {:?} has an empty body", m.id));
        }
        // The characters SQS accepts in a body (XML 1.0's), which Rust strings narrow to these.
        if m.body.chars().any(|c| {
            (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        }) {
            return invalid(format!("entry {:?} has characters SQS does not accept", m.id));
        }
    }
    Ok(())
}

pub(crate) fn check_receive(max: usize, visibility: Duration) -> Result<(), QueueError> {
    if !(1..=SEND_BATCH_LIMIT).contains(&max) {
        return Err(QueueError::Invalid(format!(
            "cannot receive {max} messages at once; 1 to {SEND_BATCH_LIMIT}"
        )));
    }
    if visibility > MAX_VISIBILITY {
        return Err(QueueError::Invalid(format!("visibility {visibility:?} exceeds 12 hours")));
    }
    Ok(())
}

/// SQS counts in whole seconds; rounding up never shortens a visibility or delay asked for.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn clamp_secs(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn sdk_error<E, R>(queue: &str, err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or_default().to_owned();
    let detail = format!("{queue}: {}", DisplayErrorContext(&err));
    if code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
        QueueError::NoSuchQueue(queue.to_owned())
    } else if code.starts_with("Invalid")
        || code.contains(".Invalid")
        || matches!(
            code.as_str(),
            "MissingParameter"
                | "BatchEntryIdsNotDistinct"
                | "TooManyEntriesInBatchRequest"
                | "BatchRequestTooLong"
                | "EmptyBatchRequest"
                | "ReceiptHandleIsInvalid"
                | "MessageNotInflight"
                | "UnsupportedOperation"
        )
        || matches!(err, SdkError::ConstructionFailure(_))
    {
        QueueError::Invalid(detail)
    } else {
        QueueError::Backend(detail)
    }
}

/// Creates every queue of [`resources::QUEUES`] with its dead-letter queue, named with
/// `prefix`, and answers each queue's URL by its logical name (`QueueSpec::name`). Creating
/// a queue that exists with the same attributes is not an error.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<HashMap<&'static str, String>, QueueError> {
    let mut urls = HashMap::new();
    for spec in resources::QUEUES {
        urls.insert(spec.name, create_queue_pair(client, &spec, prefix).await?);
    }
    Ok(urls)
}

async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    spec: &QueueSpec,
    prefix: &str,
) -> Result<String, QueueError> {
    let dlq_name = spec.dlq_name(prefix);
    let mut dlq_attributes = fifo_attributes(spec.fifo);
    dlq_attributes.insert(
        QueueAttributeName::MessageRetentionPeriod,
        crate::resources::QUEUE_RETENTION_SECS.to_string(),
    );
    let dlq_url = create_queue(client, &dlq_name, dlq_attributes).await?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error(&dlq_name, e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| QueueError::Backend(format!("SQS answered no ARN for {dlq_name}")))?;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": spec.max_receive_count });
    let mut attributes = fifo_attributes(spec.fifo);
    attributes.insert(QueueAttributeName::VisibilityTimeout, spec.visibility_timeout_secs().to_string());
    attributes.insert(QueueAttributeName::RedrivePolicy, redrive.to_string());
    create_queue(client, &spec.queue_name(prefix), attributes).await
}

fn fifo_attributes(fifo: bool) -> HashMap<QueueAttributeName, String> {
    let mut attributes = HashMap::new();
    if fifo {
        attributes.insert(QueueAttributeName::FifoQueue, "true".to_owned());
        // Every producer gives an explicit dedup id; hashing bodies would drop legitimately
        // repeated messages.
        attributes.insert(QueueAttributeName::ContentBasedDeduplication, "false".to_owned());
    }
    attributes
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, QueueError> {
    let out = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| sdk_error(name, e))?;
    out.queue_url()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::Backend(format!("SQS answered no URL for {name}")))
}

/// The URL of an existing queue, by name (dead-letter queues have no entry in the map
/// [`create_queues`] answers).
pub async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> Result<String, QueueError> {
    let out = client.get_queue_url().queue_name(name).send().await.map_err(|e| sdk_error(name, e))?;
    out.queue_url()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::Backend(format!("SQS answered no URL for {name}")))
}
