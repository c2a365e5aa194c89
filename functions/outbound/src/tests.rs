//! The sender against a local HTTP server standing in for the Graph API: the exact requests
//! per channel and kind, and what each of the channel's answers does to the reply.

use aws_lambda_events::event::sqs::SqsMessage;
use gestor_shared::backend::Backend;
use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::domain::reply_window::Delivery;
use gestor_shared::domain::{Channel, Direction, MessageKind, MessageStatus, TenantId};
use gestor_shared::ids::{ChannelAccountId, ConversationId};
use gestor_shared::metrics::{Metrics, Recorder};
use gestor_shared::outbound::SendJob;
use gestor_shared::repo::alerts::AlertRepo;
use gestor_shared::repo::audit::Actor;
use gestor_shared::repo::channels::{ChannelRepo, ChannelStatus, Connection};
use gestor_shared::repo::contacts::{ContactRepo, Identity};
use gestor_shared::repo::conversations::ConversationRepo;
use gestor_shared::repo::messages::{Message, MessageOrder, MessageRepo};
use gestor_shared::repo::replies::ReplyRepo;
use gestor_shared::repo::scope::RowScope;
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::testing::events::{sqs_event, sqs_record};
use gestor_shared::testing::text_message;
use gestor_shared::worker::Consumer;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::macros::datetime;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{MOST_ATTEMPTS, MOST_PACED, Outbound};

const PHONE_NUMBER_ID: &str = "106540352242922";
const PAGE_ID: &str = "104729381234567";
const WA_ID: &str = "5215512345678";
const PSID: &str = "6543210987654321";
/// The TikTok business account's open id, and the customer's TikTok conversation.
const TIKTOK_BUSINESS: &str = "-000AbCdEfGhIjKlMnOpQrStUvWxYz";
const TIKTOK_CONVERSATION: &str = "0:1:7400000000000000001:7400000000000000002";

struct World {
    outbound: Outbound,
    backend: Backend,
    graph: MockServer,
    tenant: TenantId,
    whatsapp: ChannelAccountId,
    messenger: ChannelAccountId,
    tiktok: ChannelAccountId,
    now: Arc<Mutex<OffsetDateTime>>,
    metrics: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let graph = MockServer::start().await;
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::MetaGraphUrl, graph.uri());
    settings.set(Setting::TiktokApiUrl, graph.uri());
    let backend = Backend::embedded(dir.path(), "http://127.0.0.1:0", b"k").unwrap_or_else(|e| panic!("{e}"));
    let tenant = TenantId::parse("tienda-1").unwrap_or_else(|e| panic!("{e}"));
    let cipher = TokenCipher::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
    let channels = ChannelRepo::new(backend.table.clone());
    let connect = async |kind, id: &str, token: &str| match channels
        .connect(&tenant, kind, id, "Tienda", &Secret::new(token), &cipher, None)
        .await
    {
        Ok(Connection::Connected(account)) => account.id,
        other => panic!("{other:?}"),
    };
    let whatsapp = connect(Channel::Whatsapp, PHONE_NUMBER_ID, "wa-token").await;
    let messenger = connect(Channel::Messenger, PAGE_ID, "page-token").await;
    let tiktok = connect(Channel::Tiktok, TIKTOK_BUSINESS, "tt-token").await;
    let now = Arc::new(Mutex::new(datetime!(2026-12-02 12:00 UTC)));
    let clock_now = now.clone();
    let clock: crate::Clock =
        Arc::new(move || clock_now.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH));
    let metrics = Arc::new(Recorder::default());
    let outbound =
        Outbound::new(backend.table.clone(), backend.files.clone(), backend.queue.clone(), &settings)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(clock)
            .with_metrics(Metrics::with_sink(metrics.clone()));
    World { outbound, backend, graph, tenant, whatsapp, messenger, tiktok, now, metrics, _dir: dir }
}

impl World {
    /// The fields of the sender's `message.update` entries of `reply`, oldest first.
    async fn outcomes_logged(&self, reply: &Message) -> Vec<Vec<String>> {
        let audit = gestor_shared::repo::audit::AuditRepo::new(self.backend.table.clone());
        let (log, _) = audit.list(&self.tenant, &Default::default(), 50, None).await.unwrap_or_default();
        log.iter()
            .rev()
            .filter(|e| e.action == "message.update" && e.resource.id.as_deref() == Some(reply.id.as_str()))
            .inspect(|e| assert_eq!(e.actor, Actor::system("outbound")))
            .map(|e| e.changed_fields.clone())
            .collect()
    }

    fn account(&self, channel: Channel) -> &ChannelAccountId {
        match channel {
            Channel::Whatsapp => &self.whatsapp,
            Channel::Tiktok => &self.tiktok,
            Channel::Messenger | Channel::Instagram => &self.messenger,
        }
    }

    fn advance(&self, by: time::Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }

    /// A conversation of a customer known on `channel` by `external_id`.
    async fn conversation(
        &self,
        channel: Channel,
        external_id: &str,
    ) -> (ConversationId, gestor_shared::ids::ContactId) {
        let identity = Identity { channel: channel.as_str().into(), external_id: external_id.into() };
        let contacts = ContactRepo::new(self.backend.table.clone());
        let (contact, _) = contacts
            .upsert_from_channel(&self.tenant, &Actor::channel("ca_test"), &identity, None, Some("Ana"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let account = self.account(channel);
        let opened = ConversationRepo::new(self.backend.table.clone())
            .open_for(&self.tenant, &contact.id, channel, account, datetime!(2026-12-02 11:00 UTC))
            .await;
        (opened.map(|(c, _)| c.id).unwrap_or_else(|e| panic!("{e}")), contact.id)
    }

    /// A reply stored `queued` as the conversations function stores it, and its job.
    async fn reply(
        &self,
        channel: Channel,
        external_id: &str,
        text: &str,
        delivery: Delivery,
    ) -> (Message, SendJob) {
        let (conversation, contact) = self.conversation(channel, external_id).await;
        self.reply_in(&conversation, &contact, channel, text, delivery).await
    }

    async fn reply_in(
        &self,
        conversation: &ConversationId,
        contact: &gestor_shared::ids::ContactId,
        channel: Channel,
        text: &str,
        delivery: Delivery,
    ) -> (Message, SendJob) {
        let mut message =
            text_message(conversation, contact, Direction::Out, "unused", OffsetDateTime::now_utc());
        message.channel = channel;
        message.channel_message_id = None;
        message.text = Some(text.into());
        let account = self.account(channel);
        let job = SendJob::of(&self.tenant, account, &message, delivery);
        let queued = ReplyRepo::new(self.backend.table.clone())
            .queue(&self.tenant, conversation, &RowScope::Business, |_| {
                Ok::<_, std::convert::Infallible>((message.clone(), job.clone()))
            })
            .await;
        queued.unwrap_or_else(|e| panic!("{e}"))
    }

    fn record(job: &SendJob, receive: u32) -> SqsMessage {
        let body = serde_json::to_string(&gestor_shared::outbound::OutboundJob::Send(job.clone()))
            .unwrap_or_default();
        sqs_record(job.message_id.as_str(), &body, Some(job.conversation_id.as_str()), receive)
    }

    /// Delivers the jobs as one batch: the ids the worker wants back.
    async fn deliver(&self, jobs: &[&SendJob], receive: u32) -> Vec<String> {
        let event = sqs_event(jobs.iter().map(|j| Self::record(j, receive)).collect());
        self.outbound.handle(event).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    async fn stored(&self, message: &Message) -> Message {
        let list = MessageRepo::new(self.backend.table.clone())
            .list(&self.tenant, &message.conversation_id, MessageOrder::OldestFirst, 50, None)
            .await;
        let (messages, _) = list.unwrap_or_else(|e| panic!("{e}"));
        messages.into_iter().find(|m| m.id == message.id).unwrap_or_else(|| panic!("{} is gone", message.id))
    }

    async fn bodies(&self) -> Vec<Value> {
        let requests = self.graph.received_requests().await.unwrap_or_default();
        requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null)).collect()
    }
}

fn accepted(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
        "messages": [{"id": id, "message_status": "accepted"}],
    }))
}

fn graph_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": "OAuthException", "code": code,
                  "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "AbC123"},
    }))
}

#[tokio::test]
async fn a_whatsapp_text_goes_out_as_the_cloud_api_documents_and_statuses_find_it() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", "Bearer wa-token"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
            "type": "text", "text": {"preview_url": false, "body": "Sí, enviamos a todo México"},
        })))
        .respond_with(accepted("wamid.OUT1"))
        .expect(1)
        .mount(&w.graph)
        .await;
    let (reply, job) =
        w.reply(Channel::Whatsapp, WA_ID, "Sí, enviamos a todo México", Delivery::Response).await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let sent = w.stored(&reply).await;
    assert_eq!((sent.status, sent.channel_message_id.as_deref()), (MessageStatus::Sent, Some("wamid.OUT1")));
    assert_eq!(w.outcomes_logged(&reply).await, vec![vec!["channel_message_id", "status", "status_at"]]);
    // A redelivery of the job (the delete was lost) sends nothing more.
    assert!(w.deliver(&[&job], 2).await.is_empty());
    // The channel's statuses now find it by its id.
    let messages = MessageRepo::new(w.backend.table.clone());
    let moved = messages
        .advance_status(
            &w.tenant,
            &Actor::channel("ca_test"),
            Channel::Whatsapp,
            "wamid.OUT1",
            MessageStatus::Delivered,
            None,
            datetime!(2026-12-02 12:00:05 UTC),
        )
        .await;
    assert!(matches!(moved, Ok(gestor_shared::repo::messages::StatusChange::Moved(_))), "{moved:?}");
    assert_eq!(w.metrics.points("OutboundSent").len(), 1);
}

#[tokio::test]
async fn a_template_goes_out_with_its_language_and_body_parameters() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID, "type": "template",
            "template": {"name": "seguimiento_pedido", "language": {"code": "es_MX"},
                         "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#123"}]}]},
        })))
        .respond_with(accepted("wamid.TPL1"))
        .expect(1)
        .mount(&w.graph)
        .await;
    let (conversation, contact) = w.conversation(Channel::Whatsapp, WA_ID).await;
    let mut message =
        text_message(&conversation, &contact, Direction::Out, "unused", OffsetDateTime::now_utc());
    message.channel_message_id = None;
    message.kind = MessageKind::Template;
    message.text = None;
    message.details = Some(
        json!({"template": {"name": "seguimiento_pedido", "language": "es_MX", "parameters": ["Ana", "#123"]}}),
    );
    let job = SendJob::of(&w.tenant, &w.whatsapp, &message, Delivery::Template);
    let (stored, job) = ReplyRepo::new(w.backend.table.clone())
        .queue(&w.tenant, &conversation, &RowScope::Business, |_| {
            Ok::<_, std::convert::Infallible>((message.clone(), job.clone()))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&stored).await.status, MessageStatus::Sent);
}

#[tokio::test]
async fn messenger_replies_say_response_or_the_human_agent_tag() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path("/me/messages"))
        .and(header("authorization", "Bearer page-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"recipient_id": PSID, "message_id": "m_OUT1"})),
        )
        .mount(&w.graph)
        .await;
    let (inside, job) = w.reply(Channel::Messenger, PSID, "Hola", Delivery::Response).await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let (conversation, contact) = (inside.conversation_id.clone(), inside.contact_id.clone());
    let (late, late_job) =
        w.reply_in(&conversation, &contact, Channel::Messenger, "Seguimos aquí", Delivery::HumanAgent).await;
    assert!(w.deliver(&[&late_job], 1).await.is_empty());
    assert_eq!(
        w.bodies().await,
        vec![
            json!({"recipient": {"id": PSID}, "message": {"text": "Hola"}, "messaging_type": "RESPONSE"}),
            json!({"recipient": {"id": PSID}, "message": {"text": "Seguimos aquí"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}),
        ]
    );
    assert_eq!(w.stored(&late).await.channel_message_id.as_deref(), Some("m_OUT1"));
}

#[tokio::test]
async fn rate_limits_and_outages_are_retried_with_growing_waits_then_it_goes() {
    let w = world().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "Too many requests"}})),
        )
        .up_to_n_times(2)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST")).respond_with(accepted("wamid.LATE")).mount(&w.graph).await;
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    assert_eq!(w.deliver(&[&job], 1).await, vec![job.message_id.to_string()]);
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Queued, "back in line, not failed");
    assert_eq!(w.deliver(&[&job], 2).await.len(), 1);
    assert!(w.deliver(&[&job], 3).await.is_empty());
    assert_eq!(w.stored(&reply).await.channel_message_id.as_deref(), Some("wamid.LATE"));
    assert_eq!(w.graph.received_requests().await.map(|r| r.len()), Some(3));
    // The waits double (2 s, 4 s ...) with a spread, and stay bounded.
    let (first, second) = (crate::backoff(1, reply.id.as_str()), crate::backoff(2, reply.id.as_str()));
    assert!(
        first >= std::time::Duration::from_secs(2) && first < std::time::Duration::from_secs(3),
        "{first:?}"
    );
    assert!(
        second >= std::time::Duration::from_secs(4) && second < std::time::Duration::from_secs(5),
        "{second:?}"
    );
    assert!(crate::backoff(40, reply.id.as_str()) <= std::time::Duration::from_secs(360));
}

#[tokio::test]
async fn a_server_that_keeps_failing_fails_the_reply_after_a_bounded_number_of_tries() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&w.graph).await;
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    for receive in 1..MOST_ATTEMPTS {
        assert_eq!(w.deliver(&[&job], receive).await.len(), 1, "try {receive}");
    }
    assert!(w.deliver(&[&job], MOST_ATTEMPTS).await.is_empty(), "given up");
    let failed = w.stored(&reply).await;
    assert_eq!(failed.status, MessageStatus::Failed);
    assert_eq!(failed.error.map(|e| e.code), Some("retries_exhausted".to_owned()));
    assert_eq!(w.graph.received_requests().await.map(|r| r.len()), Some(MOST_ATTEMPTS as usize));
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_reply_at_once_with_the_channels_code_and_reason() {
    let w = world().await;
    let details = "Message failed to send because more than 24 hours have passed since the customer last replied to this number.";
    Mock::given(method("POST"))
        .respond_with(graph_error(400, 131047, details))
        .expect(1)
        .mount(&w.graph)
        .await;
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let failed = w.stored(&reply).await;
    assert_eq!(failed.status, MessageStatus::Failed);
    let error = failed.error.unwrap_or_else(|| panic!("no reason"));
    assert_eq!(error.code, "131047");
    assert!(error.title.contains("template"), "{}", error.title);
    assert!(w.deliver(&[&job], 2).await.is_empty(), "a redelivery sends nothing");
    assert_eq!(w.outcomes_logged(&reply).await, vec![vec!["error", "status", "status_at"]], "once");
}

#[tokio::test]
async fn a_refused_token_stops_the_channel_and_raises_one_alert() {
    let w = world().await;
    Mock::given(method("POST"))
        .respond_with(graph_error(401, 190, "Error validating access token: Session has expired"))
        .expect(1)
        .mount(&w.graph)
        .await;
    let (first, job) = w.reply(Channel::Whatsapp, WA_ID, "uno", Delivery::Response).await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&first).await.error.map(|e| e.code), Some("190".to_owned()));
    let account = ChannelRepo::new(w.backend.table.clone()).get(&w.tenant, &w.whatsapp).await.ok().flatten();
    assert_eq!(account.map(|a| a.status), Some(ChannelStatus::NeedsReconnect));
    // The next reply does not reach the channel at all.
    let (second, job) = w
        .reply_in(&first.conversation_id, &first.contact_id, Channel::Whatsapp, "dos", Delivery::Response)
        .await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&second).await.error.map(|e| e.code), Some("channel_inactive".to_owned()));
    let alerts = AlertRepo::new(w.backend.table.clone()).list(&w.tenant, 10).await.unwrap_or_default();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].resource_id, w.whatsapp.as_str());
}

#[tokio::test]
async fn a_conversations_replies_leave_in_order_when_the_first_must_wait() {
    let w = world().await;
    let uno = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
                     "type": "text", "text": {"preview_url": false, "body": "uno"}});
    Mock::given(method("POST"))
        .and(body_json(uno.clone()))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST")).and(body_json(uno)).respond_with(accepted("wamid.1")).mount(&w.graph).await;
    Mock::given(method("POST")).respond_with(accepted("wamid.2")).mount(&w.graph).await;
    let (first, job1) = w.reply(Channel::Whatsapp, WA_ID, "uno", Delivery::Response).await;
    let (second, job2) = w
        .reply_in(&first.conversation_id, &first.contact_id, Channel::Whatsapp, "dos", Delivery::Response)
        .await;
    let waiting = w.deliver(&[&job1, &job2], 1).await;
    assert_eq!(
        waiting,
        vec![job1.message_id.to_string(), job2.message_id.to_string()],
        "the second waits behind the first"
    );
    assert_eq!(w.stored(&second).await.status, MessageStatus::Queued);
    assert!(w.deliver(&[&job1, &job2], 2).await.is_empty());
    let texts: Vec<Value> = w.bodies().await.iter().map(|b| b["text"]["body"].clone()).collect();
    assert_eq!(texts, vec![json!("uno"), json!("uno"), json!("dos")]);
}

#[tokio::test]
async fn pacing_waits_without_counting_as_failure_and_never_reaches_the_dead_letter_queue() {
    let w = world().await;
    Mock::given(method("POST"))
        .respond_with(graph_error(
            400,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        ))
        .up_to_n_times(MOST_ATTEMPTS as u64 + 2)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST")).respond_with(accepted("wamid.PACED")).mount(&w.graph).await;
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    for receive in 1..=MOST_ATTEMPTS + 2 {
        assert_eq!(w.deliver(&[&job], receive).await.len(), 1, "paced {receive}");
    }
    assert!(w.deliver(&[&job], MOST_ATTEMPTS + 3).await.is_empty());
    assert_eq!(w.stored(&reply).await.channel_message_id.as_deref(), Some("wamid.PACED"));
    // The queue dead-letters only past every wait the sender allows itself.
    let receives = gestor_shared::resources::OUTBOUND.max_receive_count;
    assert!(receives > MOST_ATTEMPTS + MOST_PACED, "maxReceiveCount {receives}");
}

#[tokio::test]
async fn a_send_held_by_another_sender_waits_and_an_abandoned_one_is_taken_over() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.TAKEN")).expect(1).mount(&w.graph).await;
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    // Another sender took it and has not answered yet.
    let key = gestor_shared::repo::sending::SendingRepo::key(
        &w.tenant,
        &job.conversation_id,
        job.created_at,
        &job.message_id,
    );
    let sending = gestor_shared::repo::sending::SendingRepo::new(w.backend.table.clone());
    let at = w.now.lock().map(|t| *t).unwrap_or_else(|e| panic!("{e}"));
    let taken = sending.take(&key, at).await;
    assert!(matches!(taken, Ok(gestor_shared::repo::sending::Take::Send { .. })));
    assert_eq!(w.deliver(&[&job], 2).await.len(), 1, "held: look again later");
    w.advance(gestor_shared::repo::sending::ABANDONED_AFTER);
    assert!(w.deliver(&[&job], 3).await.is_empty(), "taken over");
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Sent);
    assert_eq!(w.metrics.points("OutboundResumed").len(), 1);
}

#[tokio::test]
async fn a_job_that_does_not_parse_is_dropped_and_a_missing_message_is_done() {
    let w = world().await;
    let event = sqs_event(vec![sqs_record("bad", "{not json", Some("g"), 1)]);
    assert!(w.outbound.handle(event).await.batch_item_failures.is_empty());
    assert_eq!(w.metrics.points("OutboundMalformed").len(), 1);
    let (reply, mut job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    job.message_id = gestor_shared::ids::MessageId::new();
    assert!(w.deliver(&[&job], 1).await.is_empty(), "an erased message is not sent");
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Queued);
    assert_eq!(w.graph.received_requests().await.map(|r| r.len()), Some(0));
}

mod kinds;
mod media;
mod receipts;
mod refusals;
mod sweep;
mod tiktok;

#[tokio::test]
async fn a_send_the_channel_accepted_is_recorded_through_passing_storage_failures_and_never_resent() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.KEPT")).expect(1).mount(&w.graph).await;
    let failing = Arc::new(gestor_shared::testing::doubles::FailingTable {
        writing: "#CHANNEL_MESSAGE#",
        fail_transactions: 2.into(),
        ..gestor_shared::testing::doubles::FailingTable::new(w.backend.table.clone())
    });
    let mut settings = Settings::local_with(|_| None);
    settings.set(Setting::MetaGraphUrl, w.graph.uri());
    let outbound = Outbound::new(failing, w.backend.files.clone(), w.backend.queue.clone(), &settings)
        .unwrap_or_else(|e| panic!("{e}"));
    let (reply, job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    let handled = outbound.handle(sqs_event(vec![World::record(&job, 1)])).await;
    assert!(handled.batch_item_failures.is_empty());
    assert_eq!(w.stored(&reply).await.channel_message_id.as_deref(), Some("wamid.KEPT"));
}

#[tokio::test]
async fn a_whatsapp_reply_to_a_message_is_threaded_under_it() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
            "type": "text", "text": {"preview_url": false, "body": "¡Con gusto!"},
            "context": {"message_id": "wamid.CUSTOMER"},
        })))
        .respond_with(accepted("wamid.THREADED"))
        .expect(1)
        .mount(&w.graph)
        .await;
    let (reply, mut job) = w.reply(Channel::Whatsapp, WA_ID, "¡Con gusto!", Delivery::Response).await;
    job.context = Some("wamid.CUSTOMER".into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&reply).await.channel_message_id.as_deref(), Some("wamid.THREADED"));
}

#[tokio::test]
async fn the_reply_goes_to_the_customer_the_conversation_knows_not_just_any_identity() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.TO")).mount(&w.graph).await;
    // The conversation knows the customer by this id: the contact's identities are not read.
    let (reply, mut job) = w.reply(Channel::Whatsapp, WA_ID, "hola", Delivery::Response).await;
    job.recipient = Some("5215599999999".into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.bodies().await[0]["to"], "5215599999999");
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Sent);
}

#[tokio::test]
async fn a_numbers_throughput_limit_holds_back_its_other_conversations_not_other_accounts() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .respond_with(graph_error(400, 130429, "(#130429) Rate limit hit"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .respond_with(accepted("wamid.LATER"))
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/me/messages"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"recipient_id": PSID, "message_id": "m_PAGE"})),
        )
        .mount(&w.graph)
        .await;
    let (first, job1) = w.reply(Channel::Whatsapp, WA_ID, "uno", Delivery::Response).await;
    let (other, job2) = w.reply(Channel::Whatsapp, "5215598765432", "dos", Delivery::Response).await;
    let (page, job3) = w.reply(Channel::Messenger, PSID, "tres", Delivery::Response).await;
    let waiting = w.deliver(&[&job1, &job2, &job3], 1).await;
    assert_eq!(waiting, vec![job1.message_id.to_string(), job2.message_id.to_string()], "the number waits");
    assert_eq!(w.graph.received_requests().await.map(|r| r.len()), Some(2), "the second never met the limit");
    assert_eq!(w.stored(&page).await.status, MessageStatus::Sent, "the Page is another account");
    assert_eq!(w.stored(&other).await.status, MessageStatus::Queued);
    w.advance(time::Duration::seconds(3));
    assert!(w.deliver(&[&job1, &job2], 2).await.is_empty());
    assert_eq!(w.stored(&first).await.status, MessageStatus::Sent);
    assert_eq!(w.stored(&other).await.status, MessageStatus::Sent);
}
