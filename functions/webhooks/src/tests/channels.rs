//! Each channel's deliveries, through the handler, onto the embedded FIFO queue.

use gestor_shared::inbound::{Channel, ENVELOPE_VERSION, UpdateKind};
use serde_json::{Value, json};

use super::fixtures::*;
use super::{META_SECRET, post, world};
use crate::sign_meta;

#[tokio::test]
async fn a_whatsapp_text_becomes_one_envelope_routed_by_phone_number_and_customer() {
    let w = world();
    let message =
        wa_text("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDNzk5", CUSTOMER, "Hola, ¿tienen envíos?");
    let delivery = wa_delivery(vec![(
        WABA_ID,
        vec![wa_change(vec![wa_contact(CUSTOMER, "María Núñez")], vec![message.clone()], vec![])],
    )]);
    let (status, body) = w.deliver("whatsapp", &meta_bytes(&delivery)).await;
    assert_eq!((status, body), (200, json!({"received": 1})));

    let queued = w.drain().await;
    assert_eq!(queued.len(), 1);
    let (group, envelope) = &queued[0];
    assert_eq!(group, &format!("whatsapp:{PHONE_NUMBER_ID}:{CUSTOMER}"));
    assert_eq!(envelope.v, ENVELOPE_VERSION);
    assert_eq!(envelope.channel, Channel::Whatsapp);
    assert_eq!(envelope.account_id, PHONE_NUMBER_ID);
    assert_eq!(envelope.sender_id.as_deref(), Some(CUSTOMER));
    assert_eq!(envelope.kind, UpdateKind::Message);
    assert_eq!(envelope.field, "messages");
    assert_eq!(envelope.entry_id.as_deref(), Some(WABA_ID));
    assert_eq!(envelope.update_id.as_deref(), Some("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDNzk5"));
    assert_eq!(envelope.received_at.unix_timestamp(), super::NOW_SECS as i64);
    assert_eq!(envelope.profile, Some(wa_contact(CUSTOMER, "María Núñez")));
    assert_eq!(envelope.payload, Some(message), "the update as sent, its escapes decoded");
    assert!(envelope.payload_ref.is_none());
    assert!(w.stored().await.is_empty(), "nothing in the bucket");
    assert!(w.metrics.lines().is_empty());
}

#[tokio::test]
async fn the_signature_covers_metas_escaped_bytes_not_a_re_serialization() {
    let w = world();
    let delivery = wa_single_text("wamid.ESCAPES", "¿Cuánto cuesta el envío a Mérida? 🙏");
    let as_sent = meta_bytes(&delivery);
    assert!(as_sent.contains(r"\u00bfCu\u00e1nto") && as_sent.contains(r"\ud83d\ude4f"), "{as_sent}");
    assert!(as_sent.is_ascii());
    // Signed over the bytes as sent: accepted.
    assert_eq!(w.deliver("whatsapp", &as_sent).await.0, 200);
    let queued = w.drain().await;
    assert_eq!(
        queued[0].1.payload.as_ref().map(|p| p["text"]["body"].clone()),
        Some(json!("¿Cuánto cuesta el envío a Mérida? 🙏"))
    );

    // The same delivery re-serialized (UTF-8, unescaped) under the original signature: refused.
    let reserialized = delivery.to_string();
    assert_ne!(reserialized, as_sent);
    let signature = sign_meta(META_SECRET, as_sent.as_bytes());
    let request = post("whatsapp", &reserialized).header("x-hub-signature-256", &signature);
    assert_eq!(super::answer(w.send(request).await).0, 401);
    assert!(w.drain().await.is_empty());
}

#[tokio::test]
async fn whatsapp_entries_changes_messages_and_statuses_each_become_an_update() {
    let w = world();
    let other = "5218112345678";
    let delivery = wa_delivery(vec![
        (
            WABA_ID,
            vec![
                wa_change(
                    vec![wa_contact(CUSTOMER, "María Núñez"), wa_contact(other, "Beto")],
                    vec![wa_image("wamid.IMG1", other), wa_text("wamid.TXT1", CUSTOMER, "¿y en rojo?")],
                    vec![],
                ),
                wa_change(
                    vec![],
                    vec![],
                    vec![
                        wa_status("wamid.OUT1", "delivered", CUSTOMER),
                        wa_status("wamid.OUT2", "failed", other),
                    ],
                ),
                wa_template_update(),
            ],
        ),
        ("102290129340399", vec![wa_change(vec![], vec![], vec![wa_status("wamid.OUT1", "read", CUSTOMER)])]),
    ]);
    let (status, body) = w.deliver("whatsapp", &meta_bytes(&delivery)).await;
    assert_eq!((status, body), (200, json!({"received": 6})));

    let mut queued = w.drain().await;
    queued.sort_by_key(|(_, e)| (e.update_id.clone(), e.dedup_key()));
    let summary: Vec<(Option<&str>, UpdateKind, Option<&str>, &str)> = queued
        .iter()
        .map(|(_, e)| (e.update_id.as_deref(), e.kind, e.sender_id.as_deref(), e.account_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (None, UpdateKind::Event, None, WABA_ID),
            (Some("wamid.IMG1"), UpdateKind::Message, Some(other), PHONE_NUMBER_ID),
            (Some("wamid.OUT1"), UpdateKind::Status, Some(CUSTOMER), PHONE_NUMBER_ID),
            (Some("wamid.OUT1"), UpdateKind::Status, Some(CUSTOMER), PHONE_NUMBER_ID),
            (Some("wamid.OUT2"), UpdateKind::Status, Some(other), PHONE_NUMBER_ID),
            (Some("wamid.TXT1"), UpdateKind::Message, Some(CUSTOMER), PHONE_NUMBER_ID),
        ]
    );
    let image = &queued[1].1;
    assert_eq!(image.profile.as_ref().map(|p| p["profile"]["name"].clone()), Some(json!("Beto")));
    assert_eq!(image.payload.as_ref().map(|p| p["image"]["id"].clone()), Some(json!("1003383421387256")));
    let template = &queued[0].1;
    assert_eq!(template.field, "message_template_status_update");
    assert_eq!(template.payload.as_ref().map(|p| p["event"].clone()), Some(json!("APPROVED")));
    let failed = &queued[4].1;
    assert_eq!(failed.payload.as_ref().map(|p| p["errors"][0]["code"].clone()), Some(json!(131047)));
    // A customer's messages and statuses share a group; the template update has its own.
    assert_eq!(queued[2].0, format!("whatsapp:{PHONE_NUMBER_ID}:{CUSTOMER}"));
    assert_eq!(queued[0].0, format!("whatsapp:{WABA_ID}:-"));
}

#[tokio::test]
async fn a_messages_change_with_only_errors_is_an_event_of_the_phone_number() {
    let w = world();
    let mut change = wa_change(vec![], vec![], vec![]);
    change["value"]["errors"] = json!([{"code": 131051, "title": "Message type unknown"}]);
    assert_eq!(w.deliver("whatsapp", &meta_bytes(&wa_delivery(vec![(WABA_ID, vec![change])]))).await.0, 200);
    let queued = w.drain().await;
    assert_eq!(queued.len(), 1);
    let envelope = &queued[0].1;
    assert_eq!((envelope.kind, envelope.field.as_str()), (UpdateKind::Event, "messages"));
    assert_eq!(envelope.account_id, PHONE_NUMBER_ID);
    assert_eq!(envelope.payload.as_ref().map(|p| p["errors"][0]["code"].clone()), Some(json!(131051)));
}

#[tokio::test]
async fn a_redelivered_webhook_is_dropped_by_the_queue() {
    let w = world();
    let body = meta_bytes(&wa_delivery(vec![(
        WABA_ID,
        vec![wa_change(
            vec![wa_contact(CUSTOMER, "Ana")],
            vec![wa_text("wamid.ONCE", CUSTOMER, "hola")],
            vec![wa_status("wamid.OUT9", "sent", CUSTOMER)],
        )],
    )]));
    assert_eq!(w.deliver("whatsapp", &body).await.0, 200);
    assert_eq!(w.deliver("whatsapp", &body).await.0, 200);
    assert_eq!(w.drain().await.len(), 2);
    // The same message in another delivery (another batch, another entry) is the same update.
    let again = meta_bytes(&wa_single_text("wamid.ONCE", "hola"));
    assert_eq!(w.deliver("whatsapp", &again).await, (200, json!({"received": 1})));
    assert!(w.drain().await.is_empty());
}

/// Group, update id, kind, customer, field.
type Row<'a> = (&'a str, Option<&'a str>, UpdateKind, Option<&'a str>, &'a str);

#[tokio::test]
async fn messenger_messages_postbacks_echoes_reads_and_standby_events() {
    let w = world();
    let entry = json!({"id": PAGE_ID, "time": 1795000004000_u64,
        "messaging": [messenger_message("m_MSG1", "Hola, ¿precio?"), messenger_postback("m_PB1"),
                      messenger_echo("m_ECHO1"), messenger_read()],
        "standby": [messenger_message("m_STBY1", "sigo aquí")]});
    let (status, body) = w.deliver("messenger", &meta_bytes(&page_delivery("page", vec![entry]))).await;
    assert_eq!((status, body), (200, json!({"received": 5})));
    let queued = w.drain().await;
    let rows: Vec<Row<'_>> = queued
        .iter()
        .map(|(g, e)| (g.as_str(), e.update_id.as_deref(), e.kind, e.sender_id.as_deref(), e.field.as_str()))
        .collect();
    let group = format!("messenger:{PAGE_ID}:{PSID}");
    assert_eq!(
        rows,
        [
            (&*group, Some("m_MSG1"), UpdateKind::Message, Some(PSID), "messaging"),
            (&*group, Some("m_PB1"), UpdateKind::Message, Some(PSID), "messaging"),
            (&*group, Some("m_ECHO1"), UpdateKind::Message, Some(PSID), "messaging"),
            (&*group, None, UpdateKind::Status, Some(PSID), "messaging"),
            (&*group, Some("m_STBY1"), UpdateKind::Message, Some(PSID), "standby"),
        ],
        "one customer's events in delivery order, the echo's customer being its recipient"
    );
    assert!(queued.iter().all(|(_, e)| e.account_id == PAGE_ID && e.channel == Channel::Messenger));
    assert_eq!(
        queued[1].1.payload.as_ref().map(|p| p["postback"]["payload"].clone()),
        Some(json!("VER_CATALOGO"))
    );
    assert_eq!(queued[2].1.payload.as_ref().map(|p| p["message"]["is_echo"].clone()), Some(json!(true)));
}

#[tokio::test]
async fn an_instagram_story_mention_is_a_message_of_the_instagram_account() {
    let w = world();
    let entry = json!({"id": IG_ACCOUNT, "time": 1795000004500_u64, "messaging": [ig_story_mention("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3")]});
    let (status, _) = w.deliver("instagram", &meta_bytes(&page_delivery("instagram", vec![entry]))).await;
    assert_eq!(status, 200);
    let queued = w.drain().await;
    assert_eq!(queued.len(), 1);
    let (group, envelope) = &queued[0];
    assert_eq!(group, &format!("instagram:{IG_ACCOUNT}:{IGSID}"));
    assert_eq!((envelope.channel, envelope.kind), (Channel::Instagram, UpdateKind::Message));
    let attachment =
        envelope.payload.as_ref().map(|p| p["message"]["attachments"][0].clone()).unwrap_or_default();
    assert_eq!(attachment["type"], "story_mention");
    assert!(
        attachment["payload"]["url"].as_str().is_some_and(|u| u.starts_with("https://lookaside.fbsbx.com/"))
    );
}

#[tokio::test]
async fn metas_object_decides_the_channel_when_one_url_serves_several_products() {
    let w = world();
    let entry = json!({"id": PAGE_ID, "time": 1, "messaging": [messenger_message("m_X", "hola")]});
    assert_eq!(w.deliver("whatsapp", &meta_bytes(&page_delivery("page", vec![entry]))).await.0, 200);
    let queued = w.drain().await;
    assert_eq!(queued[0].1.channel, Channel::Messenger);
    assert_eq!(queued[0].0, format!("messenger:{PAGE_ID}:{PSID}"));
}

#[tokio::test]
async fn tiktok_deliveries_read_the_customer_from_the_content_string() {
    let w = world();
    let inbound = tiktok_delivery(
        "im_receive_msg",
        "7311111111111111111",
        TIKTOK_CUSTOMER,
        TIKTOK_BUSINESS,
        "¿Hacen envíos?",
    );
    let (status, body) = w.deliver("tiktok", &inbound).await;
    assert_eq!((status, body), (200, json!({"received": 1})));
    let echo = tiktok_delivery(
        "im_send_msg",
        "7311111111111111112",
        TIKTOK_BUSINESS,
        TIKTOK_CUSTOMER,
        "¡Sí, a todo México!",
    );
    assert_eq!(w.deliver("tiktok", &echo).await.0, 200);
    let queued = w.drain().await;
    assert_eq!(queued.len(), 2);
    for (group, envelope) in &queued {
        assert_eq!(group, &format!("tiktok:{TIKTOK_BUSINESS}:{TIKTOK_CUSTOMER}"));
        assert_eq!(envelope.account_id, TIKTOK_BUSINESS);
        assert_eq!(envelope.sender_id.as_deref(), Some(TIKTOK_CUSTOMER));
        assert_eq!(envelope.kind, UpdateKind::Message);
    }
    assert_eq!(queued[0].1.field, "im_receive_msg");
    assert_eq!(queued[0].1.update_id.as_deref(), Some("7311111111111111111"));
    let payload = queued[0].1.payload.clone().unwrap_or_default();
    let content: Value =
        serde_json::from_str(payload["content"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(content["text"]["body"], "¿Hacen envíos?");
}

#[tokio::test]
async fn tiktok_events_with_unexpected_content_are_still_forwarded() {
    let w = world();
    let ping = json!({"client_key": "awjzux1u41cywjgt", "event": "tiktok.ping", "create_time": 1795000000123_u64,
                      "user_openid": TIKTOK_BUSINESS, "content": "{\"reason\":\"testing Webhook\"}"});
    let odd = json!({"event": "im_receive_msg", "user_openid": TIKTOK_BUSINESS, "content": {"message_id": 42, "from_user": {"id": 7}}});
    assert_eq!(w.deliver("tiktok", &ping.to_string()).await, (200, json!({"received": 1})));
    assert_eq!(w.deliver("tiktok", &odd.to_string()).await, (200, json!({"received": 1})));
    let queued = w.drain().await;
    assert_eq!((queued[0].1.kind, queued[0].1.sender_id.as_deref()), (UpdateKind::Event, None));
    assert_eq!(queued[0].0, format!("tiktok:{TIKTOK_BUSINESS}:-"));
    assert_eq!((queued[1].1.update_id.as_deref(), queued[1].1.sender_id.as_deref()), (Some("42"), Some("7")));
}

trait DedupKey {
    fn dedup_key(&self) -> String;
}

impl DedupKey for gestor_shared::inbound::InboundEnvelope {
    /// Orders statuses of one message by their state, for stable assertions.
    fn dedup_key(&self) -> String {
        self.payload.as_ref().and_then(|p| p["status"].as_str()).unwrap_or_default().to_owned()
    }
}
