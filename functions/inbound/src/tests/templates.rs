//! A WhatsApp Business Account's `message_template_status_update`: routed by the business
//! account (it names no number) to the tenant whose number learned it, and applied to the
//! synced template.

use super::*;
use gestor_shared::repo::templates::{Template, TemplateRepo};

const WABA: &str = "102290129340398";

fn template_update(event: &str, name: &str) -> InboundEnvelope {
    InboundEnvelope {
        kind: UpdateKind::Event,
        field: "message_template_status_update".into(),
        account_id: WABA.into(),
        sender_id: None,
        update_id: None,
        profile: None,
        payload: Some(json!({"event": event, "message_template_id": 594425479261596_u64,
            "message_template_name": name, "message_template_language": "es_MX", "reason": "NONE"})),
        ..whatsapp_message("unused", "unused", 1_795_860_000, json!({}))
    }
}

#[tokio::test]
async fn a_template_update_reaches_the_tenant_of_the_business_account_and_moves_its_status() {
    let w = world().await;
    let templates = TemplateRepo::new(w.backend.table.clone());
    let pending = Template {
        name: "promo_otono".into(),
        language: "es_MX".into(),
        status: "PENDING".into(),
        category: Some("MARKETING".into()),
        id: Some("594425479261596".into()),
        body: Some("¡Ofertas!".into()),
        parameters: 0,
        reason: None,
    };
    let now = OffsetDateTime::now_utc();
    templates.replace(&w.tenant, WABA, &[pending], now).await.unwrap_or_else(|e| panic!("{e}"));

    // Before any number of the tenant learned its business account, nobody owns the update.
    assert!(w.deliver(&[template_update("APPROVED", "promo_otono")]).await.is_empty());
    assert_eq!(w.metrics.points("InboundUnroutable").len(), 1);
    assert_eq!(templates.list(&w.tenant, WABA).await.unwrap_or_default()[0].status, "PENDING");

    let channels = ChannelRepo::new(w.backend.table.clone());
    let (accounts, _) = channels.list(&w.tenant, 10, None).await.unwrap_or_else(|e| panic!("{e}"));
    channels.set_business_account(&w.tenant, &accounts[0].id, WABA).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(w.deliver(&[template_update("APPROVED", "promo_otono")]).await.is_empty());
    let listed = templates.list(&w.tenant, WABA).await.unwrap_or_default();
    assert_eq!((listed[0].status.as_str(), listed[0].reason.as_deref()), ("APPROVED", None));
    // The same webhook again, and a sync that finds what is stored: nothing more is logged.
    assert!(w.deliver(&[template_update("APPROVED", "promo_otono")]).await.is_empty());
    templates.replace(&w.tenant, WABA, &listed, now).await.unwrap_or_else(|e| panic!("{e}"));
    let audit = gestor_shared::repo::audit::AuditRepo::new(w.backend.table.clone());
    let (log, _) = audit.list(&w.tenant, &Default::default(), 50, None).await.unwrap_or_default();
    let actions: Vec<(&str, &str)> = log.iter().map(|e| (e.action.as_str(), e.actor.id.as_str())).collect();
    assert_eq!(
        actions,
        vec![("template.update", WABA), ("channel.update", "channels"), ("template.sync", "channels")],
        "the business account's webhook moved it, after the number learned its business account and the sync stored it"
    );
    assert_eq!(log[0].changed_fields, vec!["status".to_owned()], "no reason before or after");

    // One the last sync did not know: the next listing syncs.
    assert!(w.deliver(&[template_update("APPROVED", "nueva")]).await.is_empty());
    assert!(templates.synced_at(&w.tenant, WABA).await.ok().flatten().is_none());
}
