//! The queue contract: every scenario runs against the embedded queue and against SQS
//! (the emulator). None sleeps: redelivery is forced with a zero visibility, and the
//! embedded-only checks at the end move a hand-driven clock.

use gestor_shared::adapters::embedded_queue::{Clock, EmbeddedQueue};
use gestor_shared::adapters::sqs::{self, SqsQueue};
use gestor_shared::adapters::{aws, embedded};
use gestor_shared::ports::queue::MESSAGE_SIZE_LIMIT;
use gestor_shared::ports::{OutgoingMessage, Queue, QueueError, ReceivedMessage};
use gestor_shared::resources::{AUTOMATION, INBOUND, QueueSpec};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HIDE: Duration = Duration::from_secs(120);

/// What the scenarios address: names for the embedded queue, URLs for SQS.
struct Names {
    fifo: String,
    fifo_dlq: String,
    fifo_max: u32,
    standard: String,
    standard_dlq: String,
    standard_max: u32,
}

struct Setup {
    queue: Arc<dyn Queue>,
    names: Names,
    _dir: Option<tempfile::TempDir>,
}

fn embedded_setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = embedded::open(&dir.path().join("gestor.redb")).unwrap();
    let names = Names {
        fifo: INBOUND.queue_name(""),
        fifo_dlq: INBOUND.dlq_name(""),
        fifo_max: INBOUND.max_receive_count,
        standard: AUTOMATION.queue_name(""),
        standard_dlq: AUTOMATION.dlq_name(""),
        standard_max: AUTOMATION.max_receive_count,
    };
    Setup { queue: Arc::new(EmbeddedQueue::new(db).unwrap()), names, _dir: Some(dir) }
}

async fn aws_setup() -> Option<Setup> {
    let config = crate::aws_env::config().await?;
    let client = aws::sqs_client(&config);
    let prefix = format!("{}-", crate::aws_env::unique_name("q"));
    let urls = sqs::create_queues(&client, &prefix).await.unwrap();
    let dlq = |spec: QueueSpec| {
        let client = client.clone();
        let name = spec.dlq_name(&prefix);
        async move { sqs::queue_url(&client, &name).await.unwrap() }
    };
    let names = Names {
        fifo: urls[INBOUND.name].clone(),
        fifo_dlq: dlq(INBOUND).await,
        fifo_max: INBOUND.max_receive_count,
        standard: urls[AUTOMATION.name].clone(),
        standard_dlq: dlq(AUTOMATION).await,
        standard_max: AUTOMATION.max_receive_count,
    };
    Some(Setup { queue: Arc::new(SqsQueue::new(client)), names, _dir: None })
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let setup = super::embedded_setup();
                    super::$scenario(setup.queue.clone(), &setup.names).await;
                }
            )*
        }
        mod on_aws {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let Some(setup) = super::aws_setup().await else { return };
                    super::$scenario(setup.queue.clone(), &setup.names).await;
                }
            )*
        }
    };
}

contract!(
    batch_of_ten_is_received_whole,
    oversized_batches_are_refused,
    refused_entries_are_reported_by_id,
    ack_removes_the_message,
    unacked_messages_come_back_counted,
    fifo_keeps_group_order_and_drops_duplicates,
    dead_letters_then_redrive,
);

fn fifo_message(id: &str, group: &str) -> OutgoingMessage {
    OutgoingMessage::new(id, id).group(group).dedup(id)
}

/// Receives until `want` messages came or the queue answers nothing.
async fn receive_up_to(
    q: &dyn Queue,
    queue: &str,
    want: usize,
    visibility: Duration,
) -> Vec<ReceivedMessage> {
    let mut got = Vec::new();
    while got.len() < want {
        let batch = q.receive(queue, (want - got.len()).min(10), visibility).await.unwrap();
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    got
}

/// The emulator counts visibility in milliseconds and shows a message only after its
/// visibility instant has passed, so a message made visible "now" may need another try.
async fn receive_soon(q: &dyn Queue, queue: &str, visibility: Duration) -> Vec<ReceivedMessage> {
    for _ in 0..200 {
        let got = q.receive(queue, 10, visibility).await.unwrap();
        if !got.is_empty() {
            return got;
        }
        tokio::task::yield_now().await;
    }
    Vec::new()
}

fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

async fn batch_of_ten_is_received_whole(q: Arc<dyn Queue>, n: &Names) {
    let batch = (0..10).map(|i| OutgoingMessage::new(format!("m{i}"), format!("body {i}"))).collect();
    let outcome = q.send_batch(&n.standard, batch).await.unwrap();
    assert!(outcome.failed.is_empty(), "{outcome:?}");

    let got = receive_up_to(&*q, &n.standard, 10, HIDE).await;
    let mut received = bodies(&got);
    received.sort_unstable();
    let expected: Vec<String> = (0..10).map(|i| format!("body {i}")).collect();
    assert_eq!(received, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(got.iter().all(|m| m.receive_count == 1 && m.group_id.is_none()));
    let mut ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);

    // Hidden, not gone: nothing more until the visibility ends.
    assert!(q.receive(&n.standard, 10, HIDE).await.unwrap().is_empty());
}

async fn oversized_batches_are_refused(q: Arc<dyn Queue>, n: &Names) {
    let eleven = (0..11).map(|i| OutgoingMessage::new(format!("m{i}"), "x")).collect();
    assert!(matches!(q.send_batch(&n.standard, eleven).await, Err(QueueError::Invalid(_))));

    let half = "x".repeat(MESSAGE_SIZE_LIMIT / 2 + 1);
    let heavy = vec![OutgoingMessage::new("a", half.clone()), OutgoingMessage::new("b", half)];
    assert!(matches!(q.send_batch(&n.standard, heavy).await, Err(QueueError::Invalid(_))));

    let twins = vec![OutgoingMessage::new("same", "1"), OutgoingMessage::new("same", "2")];
    assert!(matches!(q.send_batch(&n.standard, twins).await, Err(QueueError::Invalid(_))));
    assert!(matches!(q.send_batch(&n.standard, Vec::new()).await, Err(QueueError::Invalid(_))));

    assert!(matches!(q.receive(&n.standard, 0, HIDE).await, Err(QueueError::Invalid(_))));
    assert!(matches!(q.receive(&n.standard, 11, HIDE).await, Err(QueueError::Invalid(_))));

    // A FIFO message needs its group.
    let groupless = vec![OutgoingMessage::new("a", "a").dedup("a")];
    assert!(matches!(q.send_batch(&n.fifo, groupless).await, Err(QueueError::Invalid(_))));

    assert!(q.receive(&n.standard, 10, HIDE).await.unwrap().is_empty());
    assert!(q.receive(&n.fifo, 10, HIDE).await.unwrap().is_empty());
}

async fn refused_entries_are_reported_by_id(q: Arc<dyn Queue>, n: &Names) {
    let batch = vec![
        OutgoingMessage::new("first", "first"),
        OutgoingMessage::new("late", "late").delay(Duration::from_secs(16 * 60)),
        OutgoingMessage::new("last", "last"),
    ];
    let outcome = q.send_batch(&n.standard, batch).await.unwrap();
    assert_eq!(outcome.failed, vec!["late".to_owned()]);

    let got = receive_up_to(&*q, &n.standard, 2, HIDE).await;
    let mut received = bodies(&got);
    received.sort_unstable();
    assert_eq!(received, ["first", "last"]);
}

async fn ack_removes_the_message(q: Arc<dyn Queue>, n: &Names) {
    q.send_batch(&n.standard, vec![OutgoingMessage::new("m", "done soon")]).await.unwrap();
    let got = q.receive(&n.standard, 10, Duration::ZERO).await.unwrap();
    assert_eq!(bodies(&got), ["done soon"]);
    q.ack(&n.standard, &got[0].receipt).await.unwrap();
    assert!(q.receive(&n.standard, 10, Duration::ZERO).await.unwrap().is_empty());
}

async fn unacked_messages_come_back_counted(q: Arc<dyn Queue>, n: &Names) {
    q.send_batch(&n.standard, vec![OutgoingMessage::new("m", "again")]).await.unwrap();

    let first = q.receive(&n.standard, 10, Duration::ZERO).await.unwrap();
    assert_eq!((first.len(), first[0].receive_count), (1, 1));
    let second = q.receive(&n.standard, 10, HIDE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt, first[0].receipt);

    assert!(q.receive(&n.standard, 10, HIDE).await.unwrap().is_empty());
    q.set_visibility(&n.standard, &second[0].receipt, Duration::ZERO).await.unwrap();
    let third = receive_soon(&*q, &n.standard, HIDE).await;
    assert_eq!(third.len(), 1);
    assert_eq!((third[0].message_id.as_str(), third[0].receive_count), (first[0].message_id.as_str(), 3));

    q.ack(&n.standard, &third[0].receipt).await.unwrap();
    assert!(q.receive(&n.standard, 10, Duration::ZERO).await.unwrap().is_empty());
}

async fn fifo_keeps_group_order_and_drops_duplicates(q: Arc<dyn Queue>, n: &Names) {
    let batch = vec![
        fifo_message("a1", "ga"),
        fifo_message("b1", "gb"),
        fifo_message("a2", "ga"),
        fifo_message("b2", "gb"),
        fifo_message("a3", "ga"),
    ];
    assert!(q.send_batch(&n.fifo, batch).await.unwrap().failed.is_empty());
    let again = vec![OutgoingMessage::new("dup", "a1 again").group("ga").dedup("a1")];
    assert!(q.send_batch(&n.fifo, again).await.unwrap().failed.is_empty());

    let head = q.receive(&n.fifo, 1, HIDE).await.unwrap();
    assert_eq!(bodies(&head), ["a1"]);
    assert_eq!(head[0].group_id.as_deref(), Some("ga"));

    // Group ga waits for a1; gb goes on, in order.
    let others = receive_up_to(&*q, &n.fifo, 10, HIDE).await;
    assert_eq!(bodies(&others), ["b1", "b2"]);

    q.ack(&n.fifo, &head[0].receipt).await.unwrap();
    let rest = receive_up_to(&*q, &n.fifo, 10, HIDE).await;
    assert_eq!(bodies(&rest), ["a2", "a3"]);
    assert!(rest.iter().all(|m| m.group_id.as_deref() == Some("ga")));

    for m in others.iter().chain(&rest) {
        q.ack(&n.fifo, &m.receipt).await.unwrap();
    }
    assert!(q.receive(&n.fifo, 10, Duration::ZERO).await.unwrap().is_empty());
}

async fn dead_letters_then_redrive(q: Arc<dyn Queue>, n: &Names) {
    let cases = [
        (&n.standard, &n.standard_dlq, n.standard_max, OutgoingMessage::new("m", "doomed")),
        (&n.fifo, &n.fifo_dlq, n.fifo_max, fifo_message("f", "gf")),
    ];
    for (queue, dlq, max, message) in cases {
        let body = message.body.clone();
        q.send_batch(queue, vec![message]).await.unwrap();
        for count in 1..=max {
            let got = q.receive(queue, 10, Duration::ZERO).await.unwrap();
            assert_eq!(got.len(), 1, "receive {count} of {queue}");
            assert_eq!(got[0].receive_count, count);
        }
        // The next receive would exceed the count: the message moves instead.
        assert!(q.receive(queue, 10, Duration::ZERO).await.unwrap().is_empty());
        let dead = q.receive(dlq, 10, Duration::ZERO).await.unwrap();
        assert_eq!(bodies(&dead), [body.as_str()]);

        assert_eq!(q.redrive(dlq, queue).await.unwrap(), 1);
        let back = q.receive(queue, 10, HIDE).await.unwrap();
        assert_eq!(bodies(&back), [body.as_str()]);
        assert_eq!(back[0].receive_count, 1);
        if queue == &n.fifo {
            assert_eq!(back[0].group_id.as_deref(), Some("gf"));
        }
        q.ack(queue, &back[0].receipt).await.unwrap();
        assert!(q.receive(dlq, 10, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(q.redrive(dlq, queue).await.unwrap(), 0);
    }
}

// What only the embedded queue can show without waiting: time moved by hand, and restarts.

/// A clock standing still until the test moves it.
fn manual_clock() -> (Clock, Arc<AtomicU64>) {
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let millis = Arc::new(AtomicU64::new(start));
    let read = Arc::clone(&millis);
    let clock: Clock = Arc::new(move || UNIX_EPOCH + Duration::from_millis(read.load(Ordering::SeqCst)));
    (clock, millis)
}

fn advance(millis: &AtomicU64, by: Duration) {
    millis.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
}

fn embedded_with_clock() -> (EmbeddedQueue, Arc<AtomicU64>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = embedded::open(&dir.path().join("gestor.redb")).unwrap();
    let (clock, millis) = manual_clock();
    (EmbeddedQueue::with_clock(db, clock).unwrap(), millis, dir)
}

#[tokio::test]
async fn embedded_visibility_timeout_redelivers_and_old_receipts_do_nothing() {
    let (q, now, _dir) = embedded_with_clock();
    q.send_batch("outbound", vec![OutgoingMessage::new("m", "slow")]).await.unwrap();
    let first = q.receive("outbound", 1, Duration::from_secs(30)).await.unwrap();
    advance(&now, Duration::from_secs(29));
    assert!(q.receive("outbound", 1, HIDE).await.unwrap().is_empty());
    advance(&now, Duration::from_secs(1));
    let second = q.receive("outbound", 1, HIDE).await.unwrap();
    assert_eq!((second[0].message_id.as_str(), second[0].receive_count), (first[0].message_id.as_str(), 2));

    // The first receipt is stale: acking with it is accepted and changes nothing.
    q.ack("outbound", &first[0].receipt).await.unwrap();
    let stale = q.set_visibility("outbound", &first[0].receipt, Duration::ZERO).await;
    assert!(matches!(stale, Err(QueueError::Invalid(_))));
    assert!(matches!(q.ack("outbound", "not a receipt").await, Err(QueueError::Invalid(_))));
    advance(&now, HIDE);
    let third = q.receive("outbound", 1, HIDE).await.unwrap();
    assert_eq!(third[0].receive_count, 3);
    q.ack("outbound", &third[0].receipt).await.unwrap();
    advance(&now, HIDE);
    assert!(q.receive("outbound", 1, HIDE).await.unwrap().is_empty());
}

#[tokio::test]
async fn embedded_delays_and_dedup_window_follow_the_clock() {
    let (q, now, _dir) = embedded_with_clock();
    let delayed = OutgoingMessage::new("d", "later").delay(Duration::from_secs(60));
    q.send_batch("automation", vec![delayed]).await.unwrap();
    assert!(q.receive("automation", 10, HIDE).await.unwrap().is_empty());
    advance(&now, Duration::from_secs(60));
    assert_eq!(bodies(&q.receive("automation", 10, HIDE).await.unwrap()), ["later"]);

    let send = |body: &str| vec![OutgoingMessage::new("x", body).group("g").dedup("same")];
    q.send_batch("inbound.fifo", send("one")).await.unwrap();
    advance(&now, Duration::from_secs(299));
    q.send_batch("inbound.fifo", send("dropped")).await.unwrap();
    advance(&now, Duration::from_secs(1));
    q.send_batch("inbound.fifo", send("two")).await.unwrap();
    let got = receive_up_to(&q, "inbound.fifo", 10, HIDE).await;
    assert_eq!(bodies(&got), ["one", "two"]);

    let delayed_fifo = vec![fifo_message("z", "g").delay(Duration::from_secs(1))];
    assert!(matches!(q.send_batch("inbound.fifo", delayed_fifo).await, Err(QueueError::Invalid(_))));
}

#[tokio::test]
async fn embedded_fifo_redelivers_an_expired_head_before_the_rest() {
    let (q, now, _dir) = embedded_with_clock();
    let batch = vec![fifo_message("a1", "g"), fifo_message("a2", "g")];
    q.send_batch("inbound.fifo", batch).await.unwrap();
    let head = q.receive("inbound.fifo", 1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(bodies(&head), ["a1"]);
    assert!(q.receive("inbound.fifo", 10, HIDE).await.unwrap().is_empty());
    advance(&now, Duration::from_secs(10));
    let again = q.receive("inbound.fifo", 10, HIDE).await.unwrap();
    assert_eq!(bodies(&again), ["a1", "a2"]);
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn embedded_messages_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gestor.redb");
    let (clock, now) = manual_clock();
    let in_flight = {
        let q = EmbeddedQueue::with_clock(embedded::open(&path).unwrap(), clock.clone()).unwrap();
        let batch = vec![OutgoingMessage::new("a", "kept"), OutgoingMessage::new("b", "in flight")];
        q.send_batch("privacy", batch).await.unwrap();
        let got = q.receive("privacy", 10, HIDE).await.unwrap();
        q.set_visibility("privacy", &got[0].receipt, Duration::ZERO).await.unwrap();
        got[1].message_id.clone()
    };
    let q = EmbeddedQueue::with_clock(embedded::open(&path).unwrap(), clock).unwrap();
    let kept = q.receive("privacy", 10, HIDE).await.unwrap();
    assert_eq!(bodies(&kept), ["kept"]);
    q.ack("privacy", &kept[0].receipt).await.unwrap();
    advance(&now, HIDE);
    let later = q.receive("privacy", 10, HIDE).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].message_id.as_str(), later[0].receive_count), (in_flight.as_str(), 2));
}

#[tokio::test]
async fn aws_unknown_queues_are_reported() {
    let Some(setup) = aws_setup().await else {
        return;
    };
    let missing = setup.names.standard.replace("automation", "nowhere");
    let got = setup.queue.receive(&missing, 1, HIDE).await;
    assert!(matches!(got, Err(QueueError::NoSuchQueue(_))), "{got:?}");
}
