//! Black-box: the WhatsApp templates a reply may use. The local server's Graph stand-in
//! grants the number's business account and lists its templates; a signed
//! `message_template_status_update` then moves one, and the listing shows it.

use gestor_local::BackendKind;
use gestor_shared::settings::Setting;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::local_server::{local_settings, meta_signature, start};

const WABA: &str = "102290129340398";

#[tokio::test]
async fn templates_are_synced_for_the_number_and_kept_current_by_webhooks() {
    let settings = local_settings();
    let secret = settings.get(Setting::MetaAppSecret).unwrap_or_default().to_owned();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = start(BackendKind::Embedded, dir.path(), None, settings).await;
    let owner = server.token("tienda-1", "duena@tienda.mx", "owner").await;
    let connect = json!({"kind": "whatsapp", "external_id": "106540352242922", "access_token": "EAAG-token"});
    let (status, channel) = server.send("POST", "/v1/channels", Some(&owner), Some(connect)).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let names = |list: &Value| -> Vec<(String, String)> {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or_default().to_owned(),
                    t["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let (status, approved) = server.send("GET", "/v1/templates", Some(&owner), None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(names(&approved), [("seguimiento_pedido".to_owned(), "APPROVED".to_owned())]);
    assert_eq!(approved["items"][0]["business_account_id"], WABA);

    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "time": 1795860000,
        "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED",
            "message_template_id": 100000000000002_u64, "message_template_name": "promo_fin_de_semana",
            "message_template_language": "es_MX", "reason": "NONE"}}]}]})
    .to_string();
    let answer = server
        .http
        .post(format!("{}/webhooks/whatsapp", server.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(&secret, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status(), StatusCode::OK);
    // The inbound worker applies it a moment later.
    for _ in 0..500 {
        let (_, list) = server.send("GET", "/v1/templates", Some(&owner), None).await;
        if names(&list).len() == 2 {
            assert_eq!(names(&list)[0], ("promo_fin_de_semana".to_owned(), "APPROVED".to_owned()));
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the template update never showed");
}
