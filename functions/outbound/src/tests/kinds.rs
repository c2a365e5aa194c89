//! Message kinds beyond text: WhatsApp's interactive buttons and lists.

use super::*;
use gestor_shared::repo::scope::RowScope;

#[tokio::test]
async fn buttons_and_lists_go_out_as_the_cloud_api_documents() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.INT")).mount(&w.graph).await;
    let (conversation, contact) = w.conversation(Channel::Whatsapp, WA_ID).await;
    let mut jobs = Vec::new();
    for interactive in [
        json!({"type": "buttons", "body": "¿Pago?", "buttons": [{"id": "card", "title": "Tarjeta"}]}),
        json!({"type": "list", "body": "Sucursal", "button": "Ver", "sections": [{"title": "CDMX", "rows": [{"id": "roma", "title": "Roma", "description": "Orizaba 101"}]}]}),
    ] {
        let mut message =
            text_message(&conversation, &contact, Direction::Out, "unused", OffsetDateTime::now_utc());
        message.channel_message_id = None;
        message.kind = MessageKind::Interactive;
        message.text = interactive["body"].as_str().map(str::to_owned);
        message.details = Some(json!({"interactive": interactive}));
        let job = SendJob::of(&w.tenant, &w.whatsapp, &message, Delivery::Response);
        let queued = ReplyRepo::new(w.backend.table.clone())
            .queue(&w.tenant, &conversation, &RowScope::Business, |_| {
                Ok::<_, std::convert::Infallible>((message.clone(), job.clone()))
            })
            .await;
        jobs.push(queued.unwrap_or_else(|e| panic!("{e}")).1);
    }
    for job in &jobs {
        assert!(w.deliver(&[job], 1).await.is_empty());
    }
    let sent: Vec<Value> = w.bodies().await.into_iter().map(|b| b["interactive"].clone()).collect();
    assert_eq!(
        sent,
        vec![
            json!({"type": "button", "body": {"text": "¿Pago?"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "card", "title": "Tarjeta"}}]}}),
            json!({"type": "list", "body": {"text": "Sucursal"},
                   "action": {"button": "Ver", "sections": [{"title": "CDMX", "rows": [{"id": "roma", "title": "Roma", "description": "Orizaba 101"}]}]}}),
        ]
    );
}
