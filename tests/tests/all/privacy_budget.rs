//! What privacy requests cost in AWS requests, on both adapters, for a customer with two
//! messages (one with a downloaded file): filing an access request and the worker's export,
//! the download, filing a cancellation and the worker's erasure, then filing the account's
//! cancellation and the worker's erasure of the whole business. Printed by
//! `cargo test -p gestor-tests budget -- --nocapture`; each held to a budget.

use gestor_shared::adapters::metered::{Usage, measure};
use gestor_shared::backend::Backend;
use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::domain::TenantId;
use gestor_shared::http::{Core, Role, serve};
use gestor_shared::inbound::{Channel, ENVELOPE_VERSION, InboundEnvelope, UpdateKind};
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::settings::Settings;
use gestor_shared::testing::events::{sqs_event, sqs_record};
use gestor_shared::testing::{ApiRequest, answer, member};
use gestor_shared::worker::Consumer;
use serde_json::{Value, json};

use crate::local_server::{local_settings, moto_backend};

const PHONE_NUMBER_ID: &str = "106540352242922";
const WA_ID: &str = "5215512345678";

fn inbound_text(id: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    let written = (time::OffsetDateTime::now_utc().unix_timestamp() - 60).to_string();
    let envelope = InboundEnvelope {
        v: ENVELOPE_VERSION,
        channel: Channel::Whatsapp,
        account_id: PHONE_NUMBER_ID.into(),
        sender_id: Some(WA_ID.into()),
        kind: UpdateKind::Message,
        field: "messages".into(),
        entry_id: Some("102290129340398".into()),
        update_id: Some(id.into()),
        received_at: time::OffsetDateTime::now_utc(),
        profile: Some(json!({"profile": {"name": "Ana"}, "wa_id": WA_ID})),
        payload: Some(
            json!({"from": WA_ID, "id": id, "timestamp": written, "type": "text", "text": {"body": "Hola"}}),
        ),
        payload_ref: None,
    };
    let body = serde_json::to_string(&envelope).unwrap_or_default();
    sqs_event(vec![sqs_record(&format!("sqs-{id}"), &body, Some("g"), 1)])
}

/// Each case's name and usage.
async fn measured(backend: Backend, settings: &Settings) -> Vec<(&'static str, Usage)> {
    let tenant = TenantId::parse("tienda-privacidad").unwrap_or_else(|e| panic!("{e}"));
    let cipher = TokenCipher::from_settings(settings).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(backend.table.clone())
        .connect(&tenant, Channel::Whatsapp, PHONE_NUMBER_ID, "Tienda", &Secret::new("token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let core = Core::new(backend.table.clone(), settings).unwrap_or_else(|e| panic!("{e}"));
    let owner = member(&core, "tienda-privacidad", "duena@tienda.mx", Role::Owner).await;
    let inbound = gestor_inbound::Inbound::new(&backend, settings).unwrap_or_else(|e| panic!("{e}"));
    for id in ["wamid.P1", "wamid.P2"] {
        assert!(inbound.handle(inbound_text(id)).await.batch_item_failures.is_empty());
    }
    let contacts = gestor_shared::repo::contacts::ContactRepo::new(backend.table.clone());
    let phone = gestor_shared::domain::Phone::parse(&format!("+{WA_ID}")).unwrap_or_else(|e| panic!("{e}"));
    let contact =
        contacts.id_by_phone(&tenant, &phone).await.ok().flatten().unwrap_or_else(|| panic!("contact"));
    let messages = gestor_shared::repo::messages::MessageRepo::new(backend.table.clone());
    let first = messages.find_by_channel_id(&tenant, Channel::Whatsapp, "wamid.P1").await.ok().flatten();
    let first = first.unwrap_or_else(|| panic!("the first message"));
    let file = gestor_shared::repo::messages::media_file_key(&tenant, &first.id);
    backend.files.put(&file, b"jpg".to_vec(), "image/jpeg").await.unwrap_or_else(|e| panic!("{e}"));

    let app = gestor_privacy::Privacy::new(core, backend.queue.clone(), backend.files.clone(), settings)
        .unwrap_or_else(|e| panic!("{e}"));
    let worker =
        gestor_privacy::worker::PrivacyWorker::new(&backend, settings).unwrap_or_else(|e| panic!("{e}"));
    // The caller's session is recorded already, as after any earlier request of the sign-in.
    let _ = serve(&app, ApiRequest::new("GET /v1/privacy/requests").as_user(&owner).build()).await;
    let file_request =
        |body: Value| ApiRequest::new("POST /v1/privacy/requests").as_user(&owner).json(body).build();
    let mut cases = Vec::new();

    let access = json!({"kind": "access", "subject": {"contact_id": contact.as_str()}});
    let (response, usage) = measure(serve(&app, file_request(access))).await;
    let (status, filed) = answer(response);
    assert_eq!(status, 202, "{filed}");
    cases.push(("filing an access request", usage));
    let job = gestor_privacy::worker::Job {
        tenant_id: tenant.to_string(),
        request_id: filed["id"].as_str().unwrap_or_default().to_owned(),
    };
    let (done, usage) = measure(worker.carry_out(&job)).await;
    done.unwrap_or_else(|e| panic!("{e}"));
    cases.push(("the worker's export", usage));
    let download = ApiRequest::new("GET /v1/privacy/requests/{id}/download")
        .param("id", &job.request_id)
        .as_user(&owner);
    let (response, usage) = measure(serve(&app, download.build())).await;
    assert_eq!(response.status().as_u16(), 302);
    cases.push(("a download", usage));

    let cancellation = json!({"kind": "cancellation", "subject": {"contact_id": contact.as_str()}});
    let (response, usage) = measure(serve(&app, file_request(cancellation))).await;
    let (status, filed) = answer(response);
    assert_eq!(status, 202, "{filed}");
    cases.push(("filing a cancellation", usage));
    let job = gestor_privacy::worker::Job {
        tenant_id: tenant.to_string(),
        request_id: filed["id"].as_str().unwrap_or_default().to_owned(),
    };
    let (done, usage) = measure(worker.carry_out(&job)).await;
    done.unwrap_or_else(|e| panic!("{e}"));
    cases.push(("the worker's erasure", usage));

    let closing = json!({"kind": "cancellation", "subject": {"account": true}});
    let (response, usage) = measure(serve(&app, file_request(closing))).await;
    let (status, filed) = answer(response);
    assert_eq!(status, 202, "{filed}");
    cases.push(("filing the account's cancellation", usage));
    let job = gestor_privacy::worker::Job {
        tenant_id: tenant.to_string(),
        request_id: filed["id"].as_str().unwrap_or_default().to_owned(),
    };
    let (done, usage) = measure(worker.carry_out(&job)).await;
    done.unwrap_or_else(|e| panic!("{e}"));
    cases.push(("the worker's erasure of the account", usage));
    cases
}

/// Table requests each case may take at most, for this customer (one conversation, two
/// messages). An export adds one query per further conversation and per page of 1 MB; an
/// erasure one transaction per 33 channel ids, one batch per 25 items and one delete per
/// pointer to a conversation; an account's erasure one scan request per 1 MB of the whole
/// table, one batch per 25 of its items and a deactivation per channel account.
const BUDGETS: [usize; 7] = [6, 8, 5, 12, 15, 5, 15];

fn check(adapter: &str, cases: &[(&'static str, Usage)]) {
    for (case, usage) in cases {
        println!(
            "{adapter}: {case}: {} table requests {:?}, {} RCU, {} WCU",
            usage.request_count(),
            usage.requests,
            usage.read_units,
            usage.write_units
        );
    }
    for ((case, usage), most) in cases.iter().zip(BUDGETS) {
        assert!(
            usage.request_count() <= most,
            "{adapter}: {case}: {} > {most}: {usage:?}",
            usage.request_count()
        );
    }
}

#[tokio::test]
async fn privacy_requests_stay_within_their_request_budgets_on_both_adapters() {
    let settings = local_settings();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let embedded =
        Backend::embedded(dir.path(), "http://127.0.0.1:0", b"k").unwrap_or_else(|e| panic!("{e}"));
    let on_embedded = measured(embedded, &settings).await;
    check("embedded", &on_embedded);

    let Some((backend, aws_settings)) = moto_backend("pbudget", &settings).await else { return };
    let on_aws = measured(backend, &aws_settings).await;
    check("aws (moto)", &on_aws);
    for ((case, embedded), (_, aws)) in on_embedded.iter().zip(&on_aws) {
        assert_eq!(embedded.requests, aws.requests, "{case}: the same requests on both adapters");
    }
}
