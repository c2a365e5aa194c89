//! The agents' side: replies checked against each channel's window, stored `queued` and put
//! on the outbound queue once; notes kept and never sent; status, snooze and assignment with
//! who may change what; marking read.

use super::*;
use gestor_shared::ids::MessageId;
use gestor_shared::outbound::{OutboundJob, SendJob};
use gestor_shared::ports::Queue;
use gestor_shared::testing::text_message;
use serde_json::json;
use std::time::Duration;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl World {
    /// A conversation on `channel` whose customer last wrote `hours` ago (`None`: never).
    pub(super) async fn customer_wrote(
        &self,
        channel: Channel,
        hours: Option<i64>,
    ) -> (ConversationId, ContactId) {
        let first = now() - time::Duration::hours(hours.unwrap_or(24 * 30));
        let contact = ContactId::new();
        let opened =
            self.repo().open_for(&tenant("acme"), &contact, channel, &ChannelAccountId::new(), first).await;
        let conversation = opened.map(|(c, _)| c.id).unwrap_or_else(|e| panic!("{e}"));
        if hours.is_some() {
            let mut message = text_message(
                &conversation,
                &contact,
                Direction::In,
                &format!("wamid.{}", MessageId::new()),
                first,
            );
            message.channel = channel;
            if let Err(e) =
                MessageRepo::new(self.app.core.table.clone()).insert_once(&tenant("acme"), &message).await
            {
                panic!("{e}");
            }
        }
        (conversation, contact)
    }

    pub(super) async fn write(&self, sub: &str, conversation: &ConversationId, body: Value) -> (u16, Value) {
        let request = ApiRequest::new("POST /v1/conversations/{id}/messages")
            .param("id", conversation.as_str())
            .as_user(sub)
            .json(body);
        self.send(request).await
    }

    pub(super) async fn patch(&self, sub: &str, conversation: &ConversationId, body: Value) -> (u16, Value) {
        let request = ApiRequest::new("PATCH /v1/conversations/{id}")
            .param("id", conversation.as_str())
            .as_user(sub)
            .json(body);
        self.send(request).await
    }

    /// The jobs waiting on the outbound queue (received and hidden: each is seen once).
    pub(super) async fn jobs(&self) -> Vec<(SendJob, Option<String>)> {
        let received = self.queue.receive("outbound.fifo", 10, Duration::from_secs(60)).await;
        received
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter_map(|m| match serde_json::from_str(&m.body) {
                Ok(OutboundJob::Send(job)) => Some((job, m.group_id)),
                Ok(OutboundJob::Receipt(_)) => None,
                Err(e) => panic!("{e}"),
            })
            .collect()
    }

    pub(super) async fn thread_messages(&self, conversation: &ConversationId) -> Vec<Value> {
        let request = ApiRequest::new("GET /v1/conversations/{id}/messages")
            .param("id", conversation.as_str())
            .as_user(&self.owner);
        let (_, page) = self.send(request).await;
        page["items"].as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test]
async fn a_reply_in_the_window_is_stored_queued_and_put_on_the_queue_once() {
    let w = world().await;
    let (conversation, contact) = w.customer_wrote(Channel::Whatsapp, Some(2)).await;
    let request = || {
        ApiRequest::new("POST /v1/conversations/{id}/messages")
            .param("id", conversation.as_str())
            .as_user(&w.owner)
            .header("idempotency-key", "reply-1")
            .json(json!({"text": "  Sí, enviamos a todo México  "}))
    };
    let (status, reply) = w.send(request()).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(
        (&reply["status"], &reply["kind"], &reply["direction"], &reply["text"]),
        (&json!("queued"), &json!("text"), &json!("out"), &json!("Sí, enviamos a todo México"))
    );
    assert_eq!(reply["sent_by"], w.member_id(&w.owner).await.as_str());
    assert_eq!(reply["contact_id"], contact.as_str());
    assert!(reply["channel_message_id"].is_null());
    // The retried request answers the first answer and queues nothing more.
    let (status, again) = w.send(request()).await;
    assert_eq!((status, &again["id"]), (202, &reply["id"]));

    let jobs = w.jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0.message_id.as_str(), reply["id"].as_str().unwrap_or_default());
    assert_eq!(jobs[0].1.as_deref(), Some(conversation.as_str()), "grouped by conversation");
    let thread = w.thread_messages(&conversation).await;
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1]["id"], reply["id"]);
    let stored = w.repo().get(&tenant("acme"), &conversation).await.ok().flatten();
    assert_eq!(stored.map(|c| c.replies_since_inbound), Some(1));
}

#[tokio::test]
async fn whatsapp_takes_only_a_template_after_24_hours() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(25)).await;
    let (status, refused) = w.write(&w.owner, &conversation, json!({"text": "¿Sigue interesado?"})).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["detail"].as_str().unwrap_or_default().contains("template"), "{refused}");
    let template =
        json!({"template": {"name": "seguimiento_pedido", "language": "es_MX", "parameters": ["Ana"]}});
    let (status, sent) = w.write(&w.owner, &conversation, template).await;
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["kind"], "template");
    assert_eq!(sent["details"]["template"]["parameters"], json!(["Ana"]));
    assert_eq!(w.jobs().await.len(), 1, "only the template was queued");
    assert_eq!(w.thread_messages(&conversation).await.len(), 2, "the refused reply was not stored");
}

#[tokio::test]
async fn messenger_and_instagram_need_the_approved_human_agent_tag_after_24_hours() {
    let refusing = world().await;
    let approved = world_with(|name| (name == "META_HUMAN_AGENT_APPROVED").then(|| "true".to_owned())).await;
    for channel in [Channel::Messenger, Channel::Instagram] {
        let (conversation, _) = refusing.customer_wrote(channel, Some(30)).await;
        let (status, body) = refusing.write(&refusing.owner, &conversation, json!({"text": "Hola"})).await;
        assert_eq!(status, 422, "{body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains("HUMAN_AGENT"), "{body}");
        let (conversation, _) = approved.customer_wrote(channel, Some(30)).await;
        let (status, body) = approved.write(&approved.owner, &conversation, json!({"text": "Hola"})).await;
        assert_eq!(status, 202, "{body}");
        let (conversation, _) = approved.customer_wrote(channel, Some(24 * 8)).await;
        let (status, _) = approved.write(&approved.owner, &conversation, json!({"text": "Hola"})).await;
        assert_eq!(status, 422, "past 7 days nothing goes");
        let (never, _) = approved.customer_wrote(channel, None).await;
        let (status, _) = approved.write(&approved.owner, &never, json!({"text": "Hola"})).await;
        assert_eq!(status, 422, "the customer starts the conversation");
        let template = json!({"template": {"name": "promo", "language": "es"}});
        let (status, _) = approved.write(&approved.owner, &never, template).await;
        assert_eq!(status, 422, "templates are WhatsApp's");
    }
}

#[tokio::test]
async fn a_tiktok_reply_waits_for_tiktok_to_name_the_conversation_and_notes_still_work() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Tiktok, Some(1)).await;
    let (status, body) = w.write(&w.owner, &conversation, json!({"text": "hola"})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("TikTok has not named"), "{body}");
    let (status, _) = w.write(&w.owner, &conversation, json!({"text": "nota", "private": true})).await;
    assert_eq!(status, 201);
    assert!(w.jobs().await.is_empty());
}

#[tokio::test]
async fn a_note_is_kept_for_the_team_and_never_sent() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(24 * 10)).await;
    let (status, note) = w
        .write(&w.owner, &conversation, json!({"text": "Cliente mayorista, ofrecer 10%", "private": true}))
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!((&note["kind"], &note["status"]), (&json!("note"), &json!("sent")));
    assert!(w.jobs().await.is_empty(), "a note is never queued");
    let stored = w.repo().get(&tenant("acme"), &conversation).await.ok().flatten();
    assert_eq!(stored.map(|c| c.replies_since_inbound), Some(0), "a note is no reply");
}

#[tokio::test]
async fn bad_messages_are_refused_with_their_field_and_store_nothing() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Instagram, Some(1)).await;
    let cases = [
        (json!({"text": "   "}), 400, Some("text")),
        (json!({"text": "a".repeat(1_001)}), 400, Some("text")),
        (json!({"text": 5}), 400, Some("text")),
        (json!({"text": "hola", "template": {"name": "x", "language": "es"}}), 400, Some("template")),
        (json!({"text": "hola", "colour": "red"}), 400, Some("colour")),
        (json!({"private": true}), 400, None),
        (json!({"template": {"name": "Promo!", "language": "e"}}), 400, Some("template.name")),
        (json!({"media": {"url": "https://example.com/lista.pdf"}}), 422, None),
        (json!({"media": {"url": "https://example.com/a.jpg"}, "text": "hola"}), 400, Some("media")),
        (json!({"text": "hola", "reply_to": "msg_1"}), 400, Some("reply_to")),
        (json!({"text": "hola", "reply_to": MessageId::new().as_str()}), 400, Some("reply_to")),
    ];
    for (body, expected, field) in cases {
        let (status, problem) = w.write(&w.owner, &conversation, body.clone()).await;
        assert_eq!(status, expected, "{body}: {problem}");
        if let Some(field) = field {
            assert!(fields(&problem).contains(&field.to_owned()), "{body}: {problem}");
        }
    }
    assert_eq!(w.thread_messages(&conversation).await.len(), 1, "only the customer's message");
    assert!(w.jobs().await.is_empty());
}

#[tokio::test]
async fn only_members_who_may_write_reach_their_own_tenants_conversations() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let viewer = member(&w.app.core, "acme", "viewer@acme.mx", Role::Viewer).await;
    let (status, _) = w.write(&viewer, &conversation, json!({"text": "hola"})).await;
    assert_eq!(status, 403);
    let (status, _) = w.patch(&viewer, &conversation, json!({"status": "resolved"})).await;
    assert_eq!(status, 403);
    let stranger = member(&w.app.core, "otra", "owner@otra.mx", Role::Owner).await;
    let (status, _) = w.write(&stranger, &conversation, json!({"text": "hola"})).await;
    assert_eq!(status, 404, "another tenant's conversation does not exist for them");
    let (status, _) = w.patch(&stranger, &conversation, json!({"status": "resolved"})).await;
    assert_eq!(status, 404);
    let read = ApiRequest::new("POST /v1/conversations/{id}/read")
        .param("id", conversation.as_str())
        .as_user(&stranger);
    assert_eq!(w.send(read).await.0, 404);
    let (status, _) = w.write(&w.owner, &ConversationId::new(), json!({"text": "hola"})).await;
    assert_eq!(status, 404);
    assert!(w.jobs().await.is_empty());
}

#[tokio::test]
async fn agents_take_unassigned_conversations_and_managers_assign_anyone() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let agent = member(&w.app.core, "acme", "ana@acme.mx", Role::Agent).await;
    let other = member(&w.app.core, "acme", "beto@acme.mx", Role::Agent).await;
    let manager = member(&w.app.core, "acme", "gerente@acme.mx", Role::Manager).await;
    let (ana, beto) = (w.member_id(&agent).await, w.member_id(&other).await);

    let (status, body) = w.patch(&agent, &conversation, json!({"assignee_id": beto.as_str()})).await;
    assert_eq!(status, 403, "an agent assigns no one else: {body}");
    let (status, taken) = w.patch(&agent, &conversation, json!({"assignee_id": "me"})).await;
    assert_eq!((status, &taken["assignee_id"]), (200, &json!(ana.as_str())), "{taken}");
    let (status, _) = w.patch(&other, &conversation, json!({"assignee_id": "me"})).await;
    assert_eq!(status, 403, "nor takes one that is someone else's");
    let (status, _) = w.patch(&other, &conversation, json!({"assignee_id": null})).await;
    assert_eq!(status, 403);
    let (status, moved) = w.patch(&manager, &conversation, json!({"assignee_id": beto.as_str()})).await;
    assert_eq!((status, &moved["assignee_id"]), (200, &json!(beto.as_str())));
    let (status, given_back) = w.patch(&other, &conversation, json!({"assignee_id": null})).await;
    assert_eq!((status, &given_back["assignee_id"]), (200, &Value::Null), "one's own can be given back");
    let (status, body) =
        w.patch(&manager, &conversation, json!({"assignee_id": MemberId::new().as_str()})).await;
    assert_eq!((status, fields(&body)), (400, vec!["assignee_id".to_owned()]));
}

#[tokio::test]
async fn managers_assign_a_conversation_to_a_team_of_the_business() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let agent = member(&w.app.core, "acme", "ana@acme.mx", Role::Agent).await;
    let manager = member(&w.app.core, "acme", "gerente@acme.mx", Role::Manager).await;
    let team = gestor_shared::repo::members::Team {
        id: gestor_shared::ids::TeamId::new(),
        name: "Soporte".into(),
        member_ids: vec![],
        version: 1,
        created_at: now(),
    };
    let saved = w.app.core.members.save_team(&tenant("acme"), None, team).await;
    let team = saved.unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = w.patch(&agent, &conversation, json!({"team_id": team.id.as_str()})).await;
    assert_eq!(status, 403, "agents do not route conversations");
    let (status, routed) = w.patch(&manager, &conversation, json!({"team_id": team.id.as_str()})).await;
    assert_eq!((status, &routed["team_id"]), (200, &json!(team.id.as_str())), "{routed}");
    let unknown = gestor_shared::ids::TeamId::new();
    let (status, body) = w.patch(&manager, &conversation, json!({"team_id": unknown.as_str()})).await;
    assert_eq!((status, fields(&body)), (400, vec!["team_id".to_owned()]));
    let (status, cleared) = w.patch(&manager, &conversation, json!({"team_id": null})).await;
    assert_eq!((status, &cleared["team_id"]), (200, &Value::Null));
}

#[tokio::test]
async fn status_and_snooze_change_with_versions() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let (status, body) = w.patch(&w.owner, &conversation, json!({"status": "snoozed"})).await;
    assert_eq!((status, fields(&body)), (400, vec!["snoozed_until".to_owned()]));
    let past = (now() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let (status, _) = w.patch(&w.owner, &conversation, json!({"snoozed_until": past})).await;
    assert_eq!(status, 400);
    let (status, _) = w.patch(&w.owner, &conversation, json!({"status": "closed"})).await;
    assert_eq!(status, 400);
    let (status, _) = w.patch(&w.owner, &conversation, json!({"unread_count": 0})).await;
    assert_eq!(status, 400, "only status, assignee and snooze change here");

    let until = (now() + time::Duration::hours(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let (status, snoozed) = w.patch(&w.owner, &conversation, json!({"snoozed_until": until})).await;
    assert_eq!((status, &snoozed["status"]), (200, &json!("snoozed")), "{snoozed}");
    assert!(snoozed["snoozed_until"].is_string());
    let version = snoozed["version"].as_u64().unwrap_or_default();
    let stale = ApiRequest::new("PATCH /v1/conversations/{id}")
        .param("id", conversation.as_str())
        .as_user(&w.owner)
        .header("if-match", &format!("\"{}\"", version - 1))
        .json(json!({"status": "resolved"}));
    assert_eq!(w.send(stale).await.0, 412);
    let (status, resolved) = w.patch(&w.owner, &conversation, json!({"status": "resolved"})).await;
    assert_eq!(
        (status, &resolved["status"], &resolved["snoozed_until"]),
        (200, &json!("resolved"), &Value::Null)
    );
    assert_eq!(resolved["version"], version + 1);
}

#[tokio::test]
async fn marking_read_zeroes_the_unread_count() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let (_, before) = w
        .send(
            ApiRequest::new("GET /v1/conversations/{id}")
                .param("id", conversation.as_str())
                .as_user(&w.owner),
        )
        .await;
    assert_eq!(before["unread_count"], 1);
    let read = ApiRequest::new("POST /v1/conversations/{id}/read")
        .param("id", conversation.as_str())
        .as_user(&w.owner);
    let (status, after) = w.send(read).await;
    assert_eq!((status, &after["unread_count"]), (200, &json!(0)), "{after}");
    // The channel is told the business read the customer's latest message.
    let received = w.queue.receive("outbound.fifo", 10, Duration::from_secs(60)).await.unwrap_or_default();
    let receipts: Vec<OutboundJob> =
        received.iter().filter_map(|m| serde_json::from_str(&m.body).ok()).collect();
    match receipts.as_slice() {
        [OutboundJob::Receipt(receipt)] => {
            assert_eq!(receipt.conversation_id, conversation);
            assert!(receipt.channel_message_id.starts_with("wamid."), "{receipt:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_business_that_turned_read_receipts_off_tells_the_channel_nothing() {
    let w = world().await;
    let off = w.app.core.tenants.change(&tenant("acme"), None, |t| t.read_receipts = false).await;
    assert!(off.is_ok(), "{off:?}");
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let read = ApiRequest::new("POST /v1/conversations/{id}/read")
        .param("id", conversation.as_str())
        .as_user(&w.owner);
    let (status, after) = w.send(read).await;
    assert_eq!((status, &after["unread_count"]), (200, &json!(0)), "{after}");
    let received = w.queue.receive("outbound.fifo", 10, Duration::from_secs(60)).await.unwrap_or_default();
    assert!(received.is_empty(), "no receipt: {received:?}");
}

#[tokio::test]
async fn a_snoozed_conversation_wakes_when_its_time_comes_unless_it_changed() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let (other, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let rfc =
        |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let until = now() + time::Duration::hours(2);
    for id in [&conversation, &other] {
        let (status, body) = w.patch(&w.owner, id, json!({"snoozed_until": rfc(until)})).await;
        assert_eq!(status, 200, "{body}");
    }
    // The other one is resolved meanwhile: its wake-up must not reopen it.
    let (status, _) = w.patch(&w.owner, &other, json!({"status": "resolved"})).await;
    assert_eq!(status, 200);
    let wake = crate::wake::Wake::new(w.app.core.table.clone());
    let run = async |at: OffsetDateTime| {
        let event = gestor_shared::testing::events::scheduled(at, "conversations-wake");
        gestor_shared::worker::Scheduled::run(&wake, event).await.unwrap_or_else(|e| panic!("{e}"));
    };
    let status_of = async |id: &ConversationId| {
        w.repo().get(&tenant("acme"), id).await.ok().flatten().map(|c| c.status.as_str().to_owned())
    };
    run(until - time::Duration::minutes(1)).await;
    assert_eq!(status_of(&conversation).await.as_deref(), Some("snoozed"), "not yet");
    run(until + time::Duration::seconds(30)).await;
    assert_eq!(status_of(&conversation).await.as_deref(), Some("open"), "back in the inbox");
    assert_eq!(status_of(&other).await.as_deref(), Some("resolved"), "left as the agent left it");
    let stored = w.repo().get(&tenant("acme"), &conversation).await.ok().flatten();
    assert_eq!(stored.and_then(|c| c.snoozed_until), None);
    // Nothing is left to wake.
    let left = gestor_shared::repo::snoozes::SnoozeRepo::new(w.app.core.table.clone())
        .due(until + time::Duration::days(1), 10)
        .await
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // The schedule's change is in the business's log, as the system's.
    let filter = gestor_shared::repo::audit::AuditFilter {
        resource: Some(conversation.to_string()),
        ..Default::default()
    };
    let (entries, _) = w.app.core.audit.list(&tenant("acme"), &filter, 50, None).await.unwrap_or_default();
    let woken = entries.iter().find(|e| e.actor.id == "conversations-wake");
    assert_eq!(woken.map(|e| e.action.as_str()), Some("conversation.update"), "{entries:?}");
}

#[tokio::test]
async fn whatsapp_buttons_and_lists_are_checked_against_whatsapps_limits() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let buttons = json!({"interactive": {"type": "buttons", "body": "¿Cómo quiere pagar?",
        "buttons": [{"id": "card", "title": "Tarjeta"}, {"id": "cash", "title": "Efectivo"}]}});
    let (status, sent) = w.write(&w.owner, &conversation, buttons).await;
    assert_eq!(status, 202, "{sent}");
    assert_eq!((&sent["kind"], &sent["text"]), (&json!("interactive"), &json!("¿Cómo quiere pagar?")));
    assert_eq!(sent["details"]["interactive"]["buttons"][1], json!({"id": "cash", "title": "Efectivo"}));
    let list = json!({"interactive": {"type": "list", "body": "Elija una sucursal", "button": "Sucursales",
        "sections": [{"title": "CDMX", "rows": [{"id": "roma", "title": "Roma Norte", "description": "Orizaba 101"}]},
                     {"title": "Monterrey", "rows": [{"id": "centro", "title": "Centro"}]}]}});
    let (status, sent) = w.write(&w.owner, &conversation, list).await;
    assert_eq!(status, 202, "{sent}");
    assert_eq!(
        sent["details"]["interactive"]["sections"][1]["rows"][0],
        json!({"id": "centro", "title": "Centro"})
    );

    let four = (0..4).map(|n| json!({"id": format!("b{n}"), "title": "Sí"})).collect::<Vec<_>>();
    let cases = [
        (json!({"interactive": {"type": "buttons", "body": "x", "buttons": four}}), "interactive.buttons"),
        (
            json!({"interactive": {"type": "buttons", "body": "x", "buttons": [{"id": "a", "title": "Un título demasiado largo"}]}}),
            "interactive.buttons.title",
        ),
        (
            json!({"interactive": {"type": "buttons", "body": "x", "buttons": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}}),
            "interactive.buttons.id",
        ),
        (
            json!({"interactive": {"type": "list", "body": "x", "button": "Ver", "sections": [{"title": "A", "rows": []}]}}),
            "interactive.sections.rows",
        ),
        (json!({"interactive": {"type": "carousel", "body": "x"}}), "interactive.type"),
        (
            json!({"interactive": {"type": "buttons", "body": "x", "buttons": [{"id": "a", "title": "A"}]}, "text": "y"}),
            "interactive",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = w.write(&w.owner, &conversation, body.clone()).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert!(fields(&problem).contains(&field.to_owned()), "{body}: {problem}");
    }
    let (messenger, _) = w.customer_wrote(Channel::Messenger, Some(1)).await;
    let (status, _) = w
        .write(
            &w.owner,
            &messenger,
            json!({"interactive": {"type": "buttons", "body": "x", "buttons": [{"id": "a", "title": "A"}]}}),
        )
        .await;
    assert_eq!(status, 422, "interactive messages are WhatsApp's");
}

#[tokio::test]
async fn a_reply_to_the_customers_message_carries_its_channel_id_for_the_sender() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let customer = w.thread_messages(&conversation).await;
    let (customer_id, channel_id) = (customer[0]["id"].clone(), customer[0]["channel_message_id"].clone());
    let (status, reply) =
        w.write(&w.owner, &conversation, json!({"text": "¡Con gusto!", "reply_to": customer_id})).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["reply_to"], customer_id);
    let jobs = w.jobs().await;
    assert_eq!(jobs[0].0.context.as_deref(), channel_id.as_str());
    // A note has no id at the channel: nothing to thread under.
    let (_, note) = w.write(&w.owner, &conversation, json!({"text": "interno", "private": true})).await;
    let (status, _) = w.write(&w.owner, &conversation, json!({"text": "x", "reply_to": note["id"]})).await;
    assert_eq!(status, 422);
}
