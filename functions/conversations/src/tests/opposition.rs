//! A contact who opposed marketing gets no marketing template: refused before anything is
//! stored or queued, as is a template whose category is not known; other templates go.

use super::*;
use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::repo::channels::{ChannelRepo, Connection};
use gestor_shared::repo::contacts::{ContactRepo, Identity};
use gestor_shared::repo::templates::{Template, TemplateRepo};
use serde_json::json;

const WABA: &str = "102290129340398";

fn template(name: &str, category: &str) -> Template {
    Template {
        name: name.into(),
        language: "es_MX".into(),
        status: "APPROVED".into(),
        category: Some(category.into()),
        id: None,
        body: Some("Hola".into()),
        parameters: 0,
        reason: None,
    }
}

/// A WhatsApp conversation, 25 hours after the customer last wrote, of a contact with these
/// restrictions.
async fn opposed(w: &World, phone_id: &str, wa_id: &str, restrictions: &[&str]) -> ConversationId {
    let table = w.app.core.table.clone();
    let acme = tenant("acme");
    let cipher =
        TokenCipher::from_settings(&Settings::local_with(|_| None)).unwrap_or_else(|e| panic!("{e}"));
    let channels = ChannelRepo::new(table.clone());
    let connected = channels
        .connect(&acme, Channel::Whatsapp, phone_id, "Tienda", &Secret::new("t"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let account = match connected {
        Connection::Connected(a) | Connection::Refreshed(a) => a,
    };
    channels.set_business_account(&acme, &account.id, WABA).await.unwrap_or_else(|e| panic!("{e}"));
    let contacts = ContactRepo::new(table.clone());
    let identity = Identity { channel: "whatsapp".into(), external_id: wa_id.into() };
    let by = gestor_shared::repo::audit::Actor::channel(account.id.as_str());
    let (contact, _) = contacts
        .upsert_from_channel(&acme, &by, &identity, None, Some("Ana"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut restricted = contact.clone();
    restricted.restrictions = restrictions.iter().map(|r| (*r).to_owned()).collect();
    restricted.version += 1;
    contacts.replace(&acme, &contact, &restricted).await.unwrap_or_else(|e| panic!("{e}"));
    let first = OffsetDateTime::now_utc() - time::Duration::hours(25);
    let (conversation, _) = w
        .repo()
        .open_for(&acme, &contact.id, Channel::Whatsapp, &account.id, first)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    conversation.id
}

#[tokio::test]
async fn marketing_templates_are_refused_to_a_contact_who_opposed_marketing() {
    let w = world().await;
    let templates = TemplateRepo::new(w.app.core.table.clone());
    let listed = [template("promo_otono", "MARKETING"), template("aviso_envio", "UTILITY")];
    templates
        .replace(&tenant("acme"), WABA, &listed, OffsetDateTime::now_utc())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let send = |name: &str| json!({"template": {"name": name, "language": "es_MX"}});

    let conversation = opposed(&w, "106540352242922", "5215512345678", &["marketing"]).await;
    let (status, refused) = w.write(&w.owner, &conversation, send("promo_otono")).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["detail"].as_str().unwrap_or_default().contains("opposed marketing"), "{refused}");
    let (status, unknown) = w.write(&w.owner, &conversation, send("nunca_sincronizada")).await;
    assert_eq!(status, 422, "a category not known is taken for marketing: {unknown}");
    let (status, sent) = w.write(&w.owner, &conversation, send("aviso_envio")).await;
    assert_eq!(status, 202, "a utility template goes: {sent}");
    assert_eq!(w.jobs().await.len(), 1, "only the utility template was queued");

    // Opposing all processing rules out marketing too; a contact who opposed nothing gets it.
    let all = opposed(&w, "106540352242923", "5215500000001", &["all_processing"]).await;
    assert_eq!(w.write(&w.owner, &all, send("promo_otono")).await.0, 422);
    let free = opposed(&w, "106540352242924", "5215500000002", &[]).await;
    assert_eq!(w.write(&w.owner, &free, send("promo_otono")).await.0, 202);
}
