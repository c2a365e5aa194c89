//! What an inbound message costs in AWS requests, on both adapters: the table requests and
//! capacity units of the worker's path (metered by the table port), and its queue calls.
//! Budgets: a new customer's first text message at most 8 table requests, a known customer's
//! at most 5, a redelivery that reaches the worker at most 2; one event send at most.

use aws_lambda_events::event::sqs::SqsEvent;
use gestor_shared::adapters::metered::{Usage, measure};
use gestor_shared::backend::Backend;
use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::domain::TenantId;
use gestor_shared::inbound::{Channel, ENVELOPE_VERSION, InboundEnvelope, UpdateKind};
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::settings::Settings;
use gestor_shared::testing::doubles::RefusingQueue;
use gestor_shared::testing::events::{sqs_event, sqs_record};
use gestor_shared::worker::Consumer;
use serde_json::json;
use std::sync::Arc;

use crate::local_server::{local_settings, moto_backend};

const PHONE_NUMBER_ID: &str = "106540352242922";

fn text_message(id: &str) -> SqsEvent {
    let envelope = InboundEnvelope {
        v: ENVELOPE_VERSION,
        channel: Channel::Whatsapp,
        account_id: PHONE_NUMBER_ID.into(),
        sender_id: Some("5215512345678".into()),
        kind: UpdateKind::Message,
        field: "messages".into(),
        entry_id: Some("102290129340398".into()),
        update_id: Some(id.into()),
        received_at: time::OffsetDateTime::now_utc(),
        profile: Some(json!({"profile": {"name": "María Núñez"}, "wa_id": "5215512345678"})),
        payload: Some(json!({"from": "5215512345678", "id": id, "timestamp": "1795860000", "type": "text",
                             "text": {"body": "Hola, ¿tienen envíos a Monterrey?"}})),
        payload_ref: None,
    };
    let body = serde_json::to_string(&envelope).unwrap_or_default();
    let group = format!("whatsapp:{PHONE_NUMBER_ID}:5215512345678");
    let record = sqs_record(&format!("sqs-{id}"), &body, Some(&group), 1);
    sqs_event(vec![record])
}

/// The three cases' usage and queue sends on one backend.
async fn measured(backend: Backend, settings: &Settings) -> Vec<(&'static str, Usage, usize)> {
    let tenant = TenantId::parse("tienda-budget").unwrap_or_else(|e| panic!("{e}"));
    let cipher = TokenCipher::from_settings(settings).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(backend.table.clone())
        .connect(&tenant, Channel::Whatsapp, PHONE_NUMBER_ID, "Tienda", &Secret::new("token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let queue = Arc::new(RefusingQueue::new(backend.queue.clone(), "none", 0));
    let backend = Backend { queue: queue.clone(), ..backend };
    let inbound = gestor_inbound::Inbound::new(&backend, settings).unwrap_or_else(|e| panic!("{e}"));
    let mut cases = Vec::new();
    for (case, id) in [
        ("a new customer's first text message", "wamid.BUDGET1"),
        ("a known customer's text message", "wamid.BUDGET2"),
        ("a redelivery reaching the worker", "wamid.BUDGET2"),
    ] {
        let before = queue.sends();
        let (response, usage) = measure(inbound.handle(text_message(id))).await;
        assert!(response.batch_item_failures.is_empty(), "{case}");
        cases.push((case, usage, queue.sends() - before));
    }
    cases
}

fn check(adapter: &str, cases: &[(&'static str, Usage, usize)]) {
    for (case, usage, sends) in cases {
        println!(
            "{adapter}: {case}: {} table requests {:?}, {} RCU, {} WCU, {sends} queue sends",
            usage.request_count(),
            usage.requests,
            usage.read_units,
            usage.write_units
        );
    }
    let budgets = [(8, 1), (5, 1), (2, 0)];
    for ((case, usage, sends), (requests, most_sends)) in cases.iter().zip(budgets) {
        assert!(usage.request_count() <= requests, "{adapter}: {case}: {usage:?}");
        assert!(*sends <= most_sends, "{adapter}: {case}: {sends} queue sends");
    }
}

#[tokio::test]
async fn an_inbound_message_stays_within_its_request_budget_on_both_adapters() {
    let settings = local_settings();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let embedded =
        Backend::embedded(dir.path(), "http://127.0.0.1:0", b"k").unwrap_or_else(|e| panic!("{e}"));
    let on_embedded = measured(embedded, &settings).await;
    check("embedded", &on_embedded);

    let Some((backend, aws_settings)) = moto_backend("budget", &settings).await else { return };
    let on_aws = measured(backend, &aws_settings).await;
    check("aws (moto)", &on_aws);
    for ((case, embedded, _), (_, aws, _)) in on_embedded.iter().zip(&on_aws) {
        assert_eq!(embedded, aws, "{case}: the same requests and units on both adapters");
    }
}
