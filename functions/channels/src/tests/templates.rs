//! `GET /v1/templates`: the business account found for a number connected by hand, the
//! templates synced page by page, kept for six hours, and answered from what is stored when
//! the Graph API is down.

use gestor_shared::repo::templates::TemplateRepo;
use gestor_shared::testing::ApiRequest;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use super::{PHONE_ID, TOKEN, World, id, tenant, whatsapp, world};

const WABA: &str = "102290129340398";

impl World {
    async fn templates(&self, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = ApiRequest::new("GET /v1/templates").as_user(&self.owner);
        for (k, v) in query {
            request = request.query(k, v);
        }
        self.send(request).await
    }

    /// The token was granted the business account, which lists the number.
    async fn graph_grants_the_business_account(&self) {
        Mock::given(method("GET"))
            .and(path("/v21.0/debug_token"))
            .and(query_param("input_token", TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"is_valid": true,
                "granular_scopes": [{"scope": "whatsapp_business_management", "target_ids": ["102290129340399", WABA]}]}})))
            .mount(&self.graph)
            .await;
        Mock::given(method("GET"))
            .and(path("/v21.0/102290129340399/phone_numbers"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "999999999999999"}]})),
            )
            .mount(&self.graph)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/v21.0/{WABA}/phone_numbers")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": PHONE_ID}]})))
            .mount(&self.graph)
            .await;
    }
}

fn page(templates: Value, after: Option<&str>) -> ResponseTemplate {
    let mut body =
        json!({"data": templates, "paging": {"cursors": {"before": "B", "after": after.unwrap_or("END")}}});
    if after.is_some() {
        body["paging"]["next"] = json!("https://graph.facebook.com/v21.0/next-page");
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn template(name: &str, status: &str, body: &str) -> Value {
    json!({"name": name, "language": "es_MX", "status": status, "category": "UTILITY", "id": format!("id-{name}"),
           "components": [{"type": "BODY", "text": body}]})
}

#[tokio::test]
async fn a_numbers_business_account_is_found_and_its_templates_synced_once_for_six_hours() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    let (status, channel) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    assert_eq!(status, 201, "{channel}");
    w.graph_grants_the_business_account().await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{WABA}/message_templates")))
        .and(query_param("after", "P2"))
        .respond_with(page(json!([template("promo_otono", "PENDING", "¡Ofertas!")]), None))
        .expect(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{WABA}/message_templates")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(page(
            json!([template("seguimiento_pedido", "APPROVED", "Hola {{1}}, tu pedido {{2}} va en camino")]),
            Some("P2"),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&w.graph)
        .await;

    let (status, list) = w.templates(&[]).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["items"],
        json!([{"business_account_id": WABA, "name": "seguimiento_pedido", "language": "es_MX", "status": "APPROVED",
                "category": "UTILITY", "id": "id-seguimiento_pedido", "body": "Hola {{1}}, tu pedido {{2}} va en camino",
                "parameters": 2}])
    );
    let account_id =
        gestor_shared::ids::ChannelAccountId::parse(&id(&channel)).unwrap_or_else(|e| panic!("{e}"));
    let account = w.repo().get(&tenant("acme"), &account_id).await.ok().flatten();
    assert_eq!(account.and_then(|a| a.business_account_id).as_deref(), Some(WABA));
    // Within six hours: from the table, every status on request.
    let (_, all) = w.templates(&[("status", "all")]).await;
    let names: Vec<&str> =
        all["items"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["promo_otono", "seguimiento_pedido"]);
    let (status, one) =
        w.templates(&[("channel_account_id", channel["id"].as_str().unwrap_or_default())]).await;
    assert_eq!((status, one["items"].as_array().map(Vec::len)), (200, Some(1)));
    let (status, problem) = w.templates(&[("status", "maybe")]).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (400, &json!("status")));
}

#[tokio::test]
async fn a_graph_api_that_is_down_answers_503_unless_templates_are_stored() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    let (_, channel) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    w.graph_grants_the_business_account().await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{WABA}/message_templates")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&w.graph)
        .await;
    let (status, problem) = w.templates(&[]).await;
    assert_eq!(status, 503, "{problem}");
    // A sync long ago left one: it is answered while the Graph API is down.
    let stored = gestor_shared::repo::templates::Template {
        name: "bienvenida".into(),
        language: "es".into(),
        status: "APPROVED".into(),
        category: None,
        id: None,
        body: Some("¡Hola!".into()),
        parameters: 0,
        reason: None,
    };
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(2);
    let repo = TemplateRepo::new(w.channels.core.table.clone());
    repo.replace(&tenant("acme"), WABA, &[stored], long_ago).await.unwrap_or_else(|e| panic!("{e}"));
    let (status, list) = w.templates(&[]).await;
    assert_eq!((status, &list["items"][0]["name"]), (200, &json!("bienvenida")), "{list}");
    let _ = channel;
}

#[tokio::test]
async fn a_template_webhook_moves_a_stored_templates_status_and_an_unknown_one_forces_a_sync() {
    let w = world().await;
    let repo = TemplateRepo::new(w.channels.core.table.clone());
    let acme = tenant("acme");
    let promo = gestor_shared::repo::templates::Template {
        name: "promo".into(),
        language: "es_MX".into(),
        status: "PENDING".into(),
        category: Some("MARKETING".into()),
        id: Some("1".into()),
        body: None,
        parameters: 0,
        reason: None,
    };
    let now = time::OffsetDateTime::now_utc();
    repo.replace(&acme, WABA, std::slice::from_ref(&promo), now).await.unwrap_or_else(|e| panic!("{e}"));
    let changed = repo.set_status(&acme, WABA, "promo", "es_MX", "REJECTED", Some("INVALID_FORMAT")).await;
    assert!(matches!(changed, Ok(true)), "{changed:?}");
    let listed = repo.list(&acme, WABA).await.unwrap_or_default();
    assert_eq!(
        (listed[0].status.as_str(), listed[0].reason.as_deref()),
        ("REJECTED", Some("INVALID_FORMAT"))
    );
    assert!(repo.synced_at(&acme, WABA).await.ok().flatten().is_some());
    let unknown = repo.set_status(&acme, WABA, "nueva", "es_MX", "APPROVED", None).await;
    assert!(matches!(unknown, Ok(false)));
    assert!(repo.synced_at(&acme, WABA).await.ok().flatten().is_none(), "the next listing syncs");
    // A sync without it removes it.
    repo.replace(&acme, WABA, &[], now).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(repo.list(&acme, WABA).await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_deactivated_number_releases_its_business_account_to_whoever_connects_it_next() {
    let w = world().await;
    w.graph_knows(TOKEN).await;
    w.graph_grants_the_business_account().await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{WABA}/message_templates")))
        .respond_with(page(json!([template("bienvenida", "APPROVED", "¡Hola!")]), None))
        .mount(&w.graph)
        .await;
    let (_, channel) = w.connect(&w.owner, whatsapp(TOKEN)).await;
    assert_eq!(w.templates(&[]).await.0, 200);
    let channels = w.repo();
    let route = channels.business_route(WABA).await.ok().flatten();
    assert_eq!(route.map(|(t, _)| t), Some(tenant("acme")));

    let deactivate = ApiRequest::new("DELETE /v1/channels/{id}").param("id", &id(&channel)).as_user(&w.owner);
    assert_eq!(w.send(deactivate).await.0, 204);
    assert!(channels.business_route(WABA).await.ok().flatten().is_none(), "released with the number");

    // Another business connects the number: its first listing routes the account's webhooks to it.
    let (status, theirs) = w.connect(&w.rival, whatsapp(TOKEN)).await;
    assert_eq!(status, 201, "{theirs}");
    let listing = ApiRequest::new("GET /v1/templates").as_user(&w.rival);
    let (status, list) = w.send(listing).await;
    assert_eq!((status, &list["items"][0]["name"]), (200, &json!("bienvenida")), "{list}");
    let route = channels.business_route(WABA).await.ok().flatten();
    assert_eq!(route.map(|(t, _)| t), Some(tenant("rival")));
    // acme's stored templates are acme's: rival's listing never saw them, nor acme rival's.
    let acme = TemplateRepo::new(w.channels.core.table.clone()).list(&tenant("acme"), WABA).await;
    assert_eq!(acme.map(|t| t.len()).ok(), Some(1));
}
