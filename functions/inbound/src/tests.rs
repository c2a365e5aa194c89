//! The worker on the embedded table, queue and files: SQS events built by hand, as the
//! Lambda event source delivers them.

use aws_lambda_events::event::sqs::SqsMessage;
use gestor_shared::backend::Backend;
use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::domain::TenantId;
use gestor_shared::inbound::{Channel, ENVELOPE_VERSION, InboundEnvelope, UpdateKind};
use gestor_shared::metrics::{Metrics, Recorder};
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::repo::contacts::{ContactFilter, ContactRepo};
use gestor_shared::repo::conversations::{ConversationFilter, ConversationRepo};
use gestor_shared::repo::messages::{MessageOrder, MessageRepo, MessageStatus};
use gestor_shared::repo::scope::RowScope;
use gestor_shared::settings::Settings;
use gestor_shared::testing::events::{sqs_event, sqs_record};
use gestor_shared::worker::Consumer;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::Inbound;

const PHONE_NUMBER_ID: &str = "106540352242922";

struct World {
    inbound: Inbound,
    deferred: crate::Deferred,
    backend: Backend,
    tenant: TenantId,
    now: Arc<Mutex<OffsetDateTime>>,
    metrics: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    world_with(Settings::local_with(|_| None)).await
}

async fn world_with(settings: Settings) -> World {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let now = Arc::new(Mutex::new(datetime!(2026-11-28 10:00:05 UTC)));
    let mut backend =
        Backend::embedded(dir.path(), "http://127.0.0.1:0", b"k").unwrap_or_else(|e| panic!("{e}"));
    // The queue reads the tests' clock too, so a delayed message shows when the test says.
    let queue_db = gestor_shared::adapters::embedded::open(&dir.path().join("queue-clock.redb"))
        .unwrap_or_else(|e| panic!("{e}"));
    let queue_now = now.clone();
    let queue_clock = Arc::new(move || {
        let t = queue_now.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        std::time::SystemTime::from(t)
    });
    backend.queue = Arc::new(
        gestor_shared::adapters::embedded_queue::EmbeddedQueue::with_clock(queue_db, queue_clock)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let tenant = TenantId::parse("tienda-1").unwrap_or_else(|e| panic!("{e}"));
    let cipher = TokenCipher::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(backend.table.clone())
        .connect(&tenant, Channel::Whatsapp, PHONE_NUMBER_ID, "Tienda", &Secret::new("token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let clock_now = now.clone();
    let clock: crate::Clock =
        Arc::new(move || clock_now.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH));
    let metrics = Arc::new(Recorder::default());
    let inbound = Inbound::new(&backend, &settings)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_clock(clock.clone())
        .with_metrics(Metrics::with_sink(metrics.clone()));
    let deferred = crate::Deferred::new(&backend, &settings)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_clock(clock)
        .with_metrics(Metrics::with_sink(metrics.clone()));
    World { inbound, deferred, backend, tenant, now, metrics, _dir: dir }
}

fn whatsapp_message(id: &str, from: &str, ts: i64, body: Value) -> InboundEnvelope {
    let mut message = json!({"from": from, "id": id, "timestamp": ts.to_string()});
    if let (Some(m), Some(b)) = (message.as_object_mut(), body.as_object()) {
        m.extend(b.clone());
    }
    InboundEnvelope {
        v: ENVELOPE_VERSION,
        channel: Channel::Whatsapp,
        account_id: PHONE_NUMBER_ID.into(),
        sender_id: Some(from.into()),
        kind: UpdateKind::Message,
        field: "messages".into(),
        entry_id: Some("102290129340398".into()),
        update_id: Some(id.into()),
        received_at: datetime!(2026-11-28 10:00:00 UTC),
        profile: Some(json!({"profile": {"name": "María Núñez"}, "wa_id": from})),
        payload: Some(message),
        payload_ref: None,
    }
}

fn whatsapp_status(id: &str, status: &str, ts: i64, recipient: &str) -> InboundEnvelope {
    let mut payload =
        json!({"id": id, "status": status, "timestamp": ts.to_string(), "recipient_id": recipient});
    if status == "failed" {
        payload["errors"] = json!([{"code": 131047, "title": "Re-engagement message"}]);
    }
    InboundEnvelope {
        kind: UpdateKind::Status,
        field: "messages".into(),
        profile: None,
        payload: Some(payload),
        ..whatsapp_message(id, recipient, ts, json!({}))
    }
}

/// The business's own reply `id`, sent from the WhatsApp Business app: its echo.
fn echo(id: &str) -> InboundEnvelope {
    let mut echo = whatsapp_message(
        id,
        "5215512345678",
        1_795_860_000,
        json!({"type": "text", "text": {"body": "¡Sí!"}}),
    );
    echo.field = "smb_message_echoes".into();
    echo.kind = UpdateKind::Event;
    echo.payload = Some(
        json!({"messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID},
        "message_echoes": [{"from": "525500000000", "to": "5215512345678", "id": id, "timestamp": "1795860000",
        "type": "text", "text": {"body": "¡Sí!"}}]}),
    );
    echo
}

/// The SQS record Lambda would deliver for this envelope from the inbound FIFO queue.
fn record(n: usize, envelope: &InboundEnvelope) -> SqsMessage {
    let group =
        format!("whatsapp:{}:{}", envelope.account_id, envelope.sender_id.clone().unwrap_or_default());
    sqs_record(&format!("m{n}"), &serde_json::to_string(envelope).unwrap_or_default(), Some(&group), 1)
}

impl World {
    async fn deliver(&self, envelopes: &[InboundEnvelope]) -> Vec<String> {
        let event = sqs_event(envelopes.iter().enumerate().map(|(n, e)| record(n, e)).collect());
        self.inbound.handle(event).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    async fn conversations(&self) -> Vec<gestor_shared::repo::conversations::Conversation> {
        ConversationRepo::new(self.backend.table.clone())
            .list(&self.tenant, &ConversationFilter::default(), &RowScope::Business, 50, None)
            .await
            .map(|(c, _)| c)
            .unwrap_or_default()
    }

    async fn messages(&self) -> Vec<gestor_shared::repo::messages::Message> {
        let mut all = Vec::new();
        for conversation in self.conversations().await {
            let repo = MessageRepo::new(self.backend.table.clone());
            let (page, _) = repo
                .list(&self.tenant, &conversation.id, MessageOrder::OldestFirst, 200, None)
                .await
                .unwrap_or_default();
            all.extend(page);
        }
        all
    }

    /// Runs the deferred consumer over what its queue shows now; answers how many jobs it took.
    async fn run_deferred(&self) -> usize {
        let visibility = std::time::Duration::from_secs(720);
        gestor_shared::worker::poll_once(
            self.backend.queue.as_ref(),
            "deferred",
            &self.deferred,
            visibility,
            std::time::Duration::ZERO,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn advance(&self, by: time::Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }

    async fn events(&self) -> Vec<String> {
        let received = self.backend.queue.receive("automation", 10, std::time::Duration::from_secs(60)).await;
        received
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| serde_json::from_str::<Value>(&m.body).ok())
            .filter_map(|v| v["type"].as_str().map(str::to_owned))
            .collect()
    }
}

#[tokio::test]
async fn a_message_lands_once_with_its_contact_conversation_and_events() {
    let w = world().await;
    let text = whatsapp_message(
        "wamid.A1",
        "5215512345678",
        1_795_860_000,
        json!({"type": "text", "text": {"body": "¿Tienen talla M?"}}),
    );
    assert_eq!(w.deliver(std::slice::from_ref(&text)).await, Vec::<String>::new());
    // Redelivered, in one batch and again later: still one message.
    assert_eq!(w.deliver(&[text.clone(), text.clone()]).await, Vec::<String>::new());

    let contacts = ContactRepo::new(w.backend.table.clone())
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .map(|(c, _)| c)
        .unwrap_or_default();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].name.as_deref(), Some("María Núñez"));
    assert_eq!(
        contacts[0].phones.iter().map(|p| p.as_str().to_owned()).collect::<Vec<_>>(),
        vec!["+525512345678"]
    );
    assert_eq!(contacts[0].identities.len(), 1);

    let conversations = w.conversations().await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].unread_count, 1);
    let messages = w.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text.as_deref(), Some("¿Tienen talla M?"));
    assert_eq!(messages[0].status, MessageStatus::Received);

    let mut events = w.events().await;
    events.sort();
    assert_eq!(events, vec!["contact.created", "conversation.created", "message.received"]);

    // The business's log says the channel made the contact and the conversation, once, with
    // field names and no values.
    let audit = gestor_shared::repo::audit::AuditRepo::new(w.backend.table.clone());
    let (entries, _) = audit.list(&w.tenant, &Default::default(), 50, None).await.unwrap_or_default();
    let mut actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    actions.sort();
    assert_eq!(actions, vec!["contact.create", "conversation.create", "message.create"]);
    let created = entries.iter().find(|e| e.action == "message.create");
    let fields = created.map(|e| e.changed_fields.clone()).unwrap_or_default();
    assert!(fields.contains(&"text".to_owned()) && fields.contains(&"contact_id".to_owned()), "{fields:?}");
    assert_eq!(created.and_then(|e| e.resource.id.clone()), Some(messages[0].id.to_string()));
    assert!(entries.iter().all(|e| e.actor.kind == gestor_shared::repo::audit::ActorType::Channel));
    let logged = serde_json::to_string(&entries).unwrap_or_default();
    assert!(!logged.contains("María") && !logged.contains("talla"), "{logged}");
}

#[tokio::test]
async fn a_typed_in_contact_is_matched_by_phone() {
    let w = world().await;
    let contacts = ContactRepo::new(w.backend.table.clone());
    let phone = gestor_shared::domain::Phone::parse("+52 55 1234 5678").unwrap_or_else(|e| panic!("{e}"));
    let identity =
        gestor_shared::repo::contacts::Identity { channel: "manual".into(), external_id: "x".into() };
    let (typed, _) = contacts
        .upsert_from_channel(
            &w.tenant,
            &gestor_shared::repo::audit::Actor::channel("ca_test"),
            &identity,
            Some(&phone),
            Some("Mari"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.deliver(&[whatsapp_message(
        "wamid.B1",
        "5215512345678",
        1_795_860_000,
        json!({"type": "text", "text": {"body": "hola"}}),
    )])
    .await;
    let (all, _) = contacts
        .list(&w.tenant, &ContactFilter::default(), &RowScope::Business, 10, None)
        .await
        .unwrap_or_default();
    assert_eq!(all.len(), 1, "the WhatsApp user is the contact typed in with +52 55");
    assert_eq!(all[0].id, typed.id);
    assert_eq!(all[0].name.as_deref(), Some("Mari"), "a name the business typed is kept");
}

#[tokio::test]
async fn messages_are_ordered_by_the_channels_time_not_arrival() {
    let w = world().await;
    let late = whatsapp_message(
        "wamid.C2",
        "5215512345678",
        1_795_860_100,
        json!({"type": "text", "text": {"body": "segundo"}}),
    );
    let early = whatsapp_message(
        "wamid.C1",
        "5215512345678",
        1_795_860_000,
        json!({"type": "text", "text": {"body": "primero"}}),
    );
    w.deliver(&[late]).await;
    w.deliver(&[early]).await;
    let texts: Vec<_> = w.messages().await.into_iter().filter_map(|m| m.text).collect();
    assert_eq!(texts, vec!["primero", "segundo"]);
}

#[tokio::test]
async fn statuses_only_move_forward_and_an_early_one_waits_parked_a_bounded_time() {
    let w = world().await;
    // An echo from the business app gives an outbound message to follow.
    let echo = echo("wamid.OUT1");
    assert_eq!(w.deliver(&[echo]).await, Vec::<String>::new());
    let events = w.events().await;
    assert!(events.is_empty(), "echoes trigger no automation: {events:?}");

    let read = whatsapp_status("wamid.OUT1", "read", 1_795_860_020, "5215512345678");
    let delivered = whatsapp_status("wamid.OUT1", "delivered", 1_795_860_010, "5215512345678");
    assert!(w.deliver(&[read, delivered]).await.is_empty());
    let out: Vec<_> = w
        .messages()
        .await
        .into_iter()
        .filter(|m| m.channel_message_id.as_deref() == Some("wamid.OUT1"))
        .collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, MessageStatus::Read);

    // A status for a message never stored (sent from another tool) is parked, not retried in
    // its record, so the customer's next message is not held back...
    let early = whatsapp_status("wamid.NOT_YET", "delivered", 1_795_860_030, "5215512345678");
    let next = whatsapp_message(
        "wamid.IN2",
        "5215512345678",
        1_795_860_040,
        json!({"type": "text", "text": {"body": "ok"}}),
    );
    assert!(w.deliver(&[early, next]).await.is_empty());
    assert_eq!(w.messages().await.len(), 2);
    // ...and dropped once the window is over, creating nothing.
    for _ in 0..4 {
        w.advance(time::Duration::minutes(15));
        assert_eq!(w.run_deferred().await, 1, "checked again every 15 minutes");
    }
    w.advance(time::Duration::minutes(15));
    assert_eq!(w.run_deferred().await, 0, "dropped: no more checks");
    assert_eq!(w.metrics.points("InboundParkedDropped").len(), 1);
    assert_eq!(w.messages().await.len(), 2);
}

#[tokio::test]
async fn a_failure_holds_back_its_group_only_and_unknown_accounts_are_dropped() {
    let w = world().await;
    let poison = sqs_record("poison", "{not json", Some("g1"), 1);
    let mut after_poison = record(
        1,
        &whatsapp_message(
            "wamid.D1",
            "5215500000001",
            1_795_860_000,
            json!({"type": "text", "text": {"body": "a"}}),
        ),
    );
    after_poison.message_id = Some("same-group".into());
    after_poison.attributes.insert("MessageGroupId".into(), "g1".into());
    let other_group = record(
        2,
        &whatsapp_message(
            "wamid.D2",
            "5215500000002",
            1_795_860_000,
            json!({"type": "text", "text": {"body": "b"}}),
        ),
    );
    let mut stranger = whatsapp_message(
        "wamid.D3",
        "5215500000003",
        1_795_860_000,
        json!({"type": "text", "text": {"body": "c"}}),
    );
    stranger.account_id = "999".into();
    let stranger = record(3, &stranger);

    let event = sqs_event(vec![poison, after_poison, other_group, stranger]);
    let failed: Vec<String> =
        w.inbound.handle(event).await.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    assert_eq!(failed, vec!["poison", "same-group"]);
    assert_eq!(w.messages().await.len(), 1, "the other group's message is stored");
    assert_eq!(w.metrics.points("InboundUnroutable").len(), 1);
}

#[tokio::test]
async fn every_kind_is_kept_and_reactions_land_on_their_message() {
    let w = world().await;
    let from = "5215512345678";
    let kinds = [
        json!({"type": "image", "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "foto"}}),
        json!({"type": "location", "location": {"latitude": 19.43, "longitude": -99.13, "name": "Zócalo"}}),
        json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sí"}}}),
        json!({"type": "sticker_pack_v9", "sticker_pack_v9": {}}),
    ];
    let envelopes: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(n, k)| whatsapp_message(&format!("wamid.K{n}"), from, 1_795_860_000 + n as i64, k.clone()))
        .collect();
    assert!(w.deliver(&envelopes).await.is_empty());
    let reaction = whatsapp_message(
        "wamid.R1",
        from,
        1_795_860_100,
        json!({"type": "reaction", "reaction": {"message_id": "wamid.K0", "emoji": "👍"}}),
    );
    assert!(w.deliver(&[reaction]).await.is_empty());

    let messages = w.messages().await;
    let kinds: Vec<String> = messages
        .iter()
        .map(|m| {
            serde_json::to_value(m.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        })
        .collect();
    assert_eq!(kinds, vec!["image", "location", "interactive", "unsupported"]);
    assert_eq!(messages[0].media.as_ref().and_then(|m| m.channel_media_id.as_deref()), Some("MEDIA1"));
    assert_eq!(messages[0].reactions.len(), 1, "a reaction is recorded on its message, not as one");
    assert_eq!(messages[3].raw_kind.as_deref(), Some("sticker_pack_v9"));
}

fn messenger(kind: UpdateKind, customer: &str, payload: Value) -> InboundEnvelope {
    InboundEnvelope {
        v: ENVELOPE_VERSION,
        channel: Channel::Messenger,
        account_id: "PAGE1".into(),
        sender_id: Some(customer.into()),
        kind,
        field: "messaging".into(),
        entry_id: Some("PAGE1".into()),
        update_id: None,
        received_at: datetime!(2026-11-28 10:00:00 UTC),
        profile: None,
        payload: Some(payload),
        payload_ref: None,
    }
}

#[tokio::test]
async fn a_read_watermark_marks_what_the_business_sent_before_it() {
    let w = world().await;
    let settings = Settings::local_with(|_| None);
    let cipher = TokenCipher::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(w.backend.table.clone())
        .connect(&w.tenant, Channel::Messenger, "PAGE1", "Página", &Secret::new("token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let question = messenger(
        UpdateKind::Message,
        "PSID1",
        json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"},
        "timestamp": 1_795_860_000_000_i64, "message": {"mid": "m_in", "text": "¿Precio?"}}),
    );
    let answer = |mid: &str, ts: i64| {
        messenger(
            UpdateKind::Message,
            "PSID1",
            json!({"sender": {"id": "PAGE1"}, "recipient": {"id": "PSID1"},
        "timestamp": ts, "message": {"mid": mid, "text": "$250", "is_echo": true, "app_id": 1}}),
        )
    };
    let read = messenger(
        UpdateKind::Status,
        "PSID1",
        json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"},
        "timestamp": 1_795_860_060_000_i64, "read": {"watermark": 1_795_860_050_000_i64}}),
    );
    assert!(
        w.deliver(&[question, answer("m_out1", 1_795_860_010_000), answer("m_out2", 1_795_860_055_000)])
            .await
            .is_empty()
    );
    assert!(w.deliver(&[read]).await.is_empty());
    let status = |mid: &str, messages: &[gestor_shared::repo::messages::Message]| {
        messages.iter().find(|m| m.channel_message_id.as_deref() == Some(mid)).map(|m| m.status)
    };
    let messages = w.messages().await;
    assert_eq!(status("m_out1", &messages), Some(MessageStatus::Read));
    assert_eq!(status("m_out2", &messages), Some(MessageStatus::Sent), "sent after the watermark");
    assert_eq!(status("m_in", &messages), Some(MessageStatus::Received));
}

mod audit;
mod erased;
mod media;
mod owed;
mod parking;
mod requests;
mod templates;

/// Messenger echoes what our own app sent with our app id: the sender stores those replies
/// itself, so an echo that lands first must not make a second bubble. Echoes of other apps
/// (or of the Page's own inbox) are stored.
#[tokio::test]
async fn echoes_of_our_own_apps_replies_are_left_to_the_sender() {
    let w = world_with(Settings::local_with(|name| {
        (name == "META_APP_ID").then(|| "1517000000000000".to_owned())
    }))
    .await;
    let cipher =
        TokenCipher::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(w.backend.table.clone())
        .connect(&w.tenant, Channel::Messenger, "PAGE1", "Página", &Secret::new("token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let echo = |mid: &str, app: u64| {
        messenger(
            UpdateKind::Message,
            "PSID1",
            json!({"sender": {"id": "PAGE1"}, "recipient": {"id": "PSID1"}, "timestamp": 1_795_860_010_000_i64,
                   "message": {"mid": mid, "text": "Hola", "is_echo": true, "app_id": app}}),
        )
    };
    assert!(
        w.deliver(&[echo("m_ours", 1_517_000_000_000_000), echo("m_other", 263_902_037_430_900)])
            .await
            .is_empty()
    );
    let stored: Vec<_> = w.messages().await.into_iter().filter_map(|m| m.channel_message_id).collect();
    assert_eq!(stored, ["m_other"]);
}
