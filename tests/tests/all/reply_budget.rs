//! What a reply costs in AWS requests, on both adapters. From the agent's request (the
//! dispatcher included) to `sent`: at most 10 table requests and 2 queue calls (our enqueue,
//! and the event source's delete of the job). The channel's status for it afterwards: at most
//! 3 table requests.

use gestor_shared::adapters::metered::{Usage, measure};
use gestor_shared::backend::Backend;
use gestor_shared::crypto::{Secret, TokenCipher};
use gestor_shared::domain::TenantId;
use gestor_shared::http::{Core, Role, serve};
use gestor_shared::inbound::{Channel, ENVELOPE_VERSION, InboundEnvelope, UpdateKind};
use gestor_shared::repo::channels::ChannelRepo;
use gestor_shared::settings::{Setting, Settings};
use gestor_shared::testing::doubles::RefusingQueue;
use gestor_shared::testing::events::{sqs_event, sqs_record};
use gestor_shared::testing::{ApiRequest, answer, member};
use gestor_shared::worker::Consumer;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::local_server::{local_settings, moto_backend};

const PHONE_NUMBER_ID: &str = "106540352242922";
const WA_ID: &str = "5215512345678";

/// An inbound record as the webhook would enqueue it for the number and the customer.
fn inbound_event(kind: UpdateKind, id: &str, payload: Value) -> aws_lambda_events::event::sqs::SqsEvent {
    let envelope = InboundEnvelope {
        v: ENVELOPE_VERSION,
        channel: Channel::Whatsapp,
        account_id: PHONE_NUMBER_ID.into(),
        sender_id: Some(WA_ID.into()),
        kind,
        field: "messages".into(),
        entry_id: Some("102290129340398".into()),
        update_id: Some(id.into()),
        received_at: time::OffsetDateTime::now_utc(),
        profile: (kind == UpdateKind::Message).then(|| json!({"profile": {"name": "Ana"}, "wa_id": WA_ID})),
        payload: Some(payload),
        payload_ref: None,
    };
    let body = serde_json::to_string(&envelope).unwrap_or_default();
    let group = format!("whatsapp:{PHONE_NUMBER_ID}:{WA_ID}");
    sqs_event(vec![sqs_record(&format!("sqs-{id}"), &body, Some(&group), 1)])
}

/// What the agent sends: a text, or an uploaded image (its upload made beforehand) in reply
/// to the customer's message.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Text,
    UploadedImageReplying,
}

/// The reply's usage (API request, sender), our queue sends, and the status's usage.
async fn measured(backend: Backend, settings: &Settings, kind: Reply) -> (Usage, Usage, usize, Usage) {
    let tenant = TenantId::parse("tienda-budget").unwrap_or_else(|e| panic!("{e}"));
    let cipher = TokenCipher::from_settings(settings).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(backend.table.clone())
        .connect(&tenant, Channel::Whatsapp, PHONE_NUMBER_ID, "Tienda", &Secret::new("token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let core = Core::new(backend.table.clone(), settings).unwrap_or_else(|e| panic!("{e}"));
    let owner = member(&core, "tienda-budget", "duena@tienda.mx", Role::Owner).await;
    let queue = Arc::new(RefusingQueue::new(backend.queue.clone(), "none", 0));
    let backend = Backend { queue: queue.clone(), ..backend };

    // The customer writes (the inbound worker's own budget is measured elsewhere); this also
    // warms its cache of channel routes, as a running worker's is.
    let inbound = gestor_inbound::Inbound::new(&backend, settings).unwrap_or_else(|e| panic!("{e}"));
    let written = (time::OffsetDateTime::now_utc().unix_timestamp() - 60).to_string();
    let text = json!({"from": WA_ID, "id": "wamid.IN", "timestamp": written, "type": "text", "text": {"body": "Hola"}});
    assert!(
        inbound
            .handle(inbound_event(UpdateKind::Message, "wamid.IN", text))
            .await
            .batch_item_failures
            .is_empty()
    );
    let conversations = gestor_shared::repo::conversations::ConversationRepo::new(backend.table.clone());
    let filter = gestor_shared::repo::conversations::ConversationFilter::default();
    let (inbox, _) = conversations
        .list(&tenant, &filter, &gestor_shared::repo::scope::RowScope::Business, 10, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let conversation = inbox[0].id.to_string();

    let function = gestor_conversations::Conversations::new(
        core,
        backend.files.clone(),
        backend.queue.clone(),
        settings,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let body = match kind {
        Reply::Text => json!({"text": "¡Claro!"}),
        Reply::UploadedImageReplying => {
            let upload = gestor_shared::repo::uploads::Upload {
                id: gestor_shared::ids::FileId::new(),
                content_type: "image/png".into(),
                size: 3,
                filename: None,
                created_by: gestor_shared::ids::MemberId::new(),
                created_at: time::OffsetDateTime::now_utc(),
            };
            let uploads = gestor_shared::repo::uploads::UploadRepo::new(backend.table.clone());
            uploads.create(&tenant, &upload).await.unwrap_or_else(|e| panic!("{e}"));
            let put = backend.files.put(&upload.object_key(&tenant), b"PNG".to_vec(), "image/png").await;
            put.unwrap_or_else(|e| panic!("{e}"));
            let messages = gestor_shared::repo::messages::MessageRepo::new(backend.table.clone());
            let order = gestor_shared::repo::messages::MessageOrder::NewestFirst;
            let conversation_id =
                gestor_shared::ids::ConversationId::parse(&conversation).unwrap_or_else(|e| panic!("{e}"));
            let (latest, _) =
                messages.list(&tenant, &conversation_id, order, 1, None).await.unwrap_or_default();
            json!({"media": {"file_id": upload.id, "caption": "Así queda"}, "reply_to": latest[0].id})
        }
    };
    let request = ApiRequest::new("POST /v1/conversations/{id}/messages")
        .param("id", &conversation)
        .as_user(&owner)
        .json(body);
    let sends_before = queue.sends();
    // The caller's session is already recorded (an earlier request of the same sign-in): a
    // session's first request, once per 15 minutes, pays one more transaction.
    let earlier = ApiRequest::new("GET /v1/conversations/{id}").param("id", &conversation).as_user(&owner);
    let _ = serve(&function, earlier.build()).await;
    let (response, api) = measure(serve(&function, request.build())).await;
    let (status, reply) = answer(response);
    assert_eq!(status, 202, "{reply}");
    let sends = queue.sends() - sends_before;

    // The job as the event source hands it to the sender.
    let outbound_queue = settings.get(Setting::OutboundQueueUrl).unwrap_or_default().to_owned();
    let received =
        backend.queue.receive(&outbound_queue, 10, Duration::from_secs(60)).await.unwrap_or_default();
    assert_eq!(received.len(), 1);
    let event = sqs_event(received.iter().map(gestor_shared::worker::record).collect());
    let outbound = gestor_outbound::Outbound::new(
        backend.table.clone(),
        backend.files.clone(),
        backend.queue.clone(),
        settings,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (answer, sender) = measure(outbound.handle(event)).await;
    assert!(answer.batch_item_failures.is_empty());

    let delivered =
        json!({"id": "wamid.BUDGETOUT", "status": "delivered", "timestamp": written, "recipient_id": WA_ID});
    let (handled, status_usage) =
        measure(inbound.handle(inbound_event(UpdateKind::Status, "wamid.BUDGETOUT", delivered))).await;
    assert!(handled.batch_item_failures.is_empty());
    let messages = gestor_shared::repo::messages::MessageRepo::new(backend.table.clone());
    let found =
        messages.find_by_channel_id(&tenant, Channel::Whatsapp, "wamid.BUDGETOUT").await.ok().flatten();
    assert_eq!(found.map(|m| m.status.as_str()), Some("delivered"), "the status reached the reply");
    (api, sender, sends, status_usage)
}

fn check(adapter: &str, (api, sender, sends, status): &(Usage, Usage, usize, Usage)) {
    println!(
        "{adapter}: reply request {} table requests {:?}; sender {} {:?}; {sends} queue sends; status {} {:?}",
        api.request_count(),
        api.requests,
        sender.request_count(),
        sender.requests,
        status.request_count(),
        status.requests
    );
    assert!(api.request_count() + sender.request_count() <= 10, "{adapter}: {api:?} + {sender:?}");
    // Ours; the event source's delete of the job is the second queue call.
    assert_eq!(*sends, 1, "{adapter}: one enqueue");
    assert!(status.request_count() <= 3, "{adapter}: {status:?}");
}

fn settings_for(graph: &MockServer) -> Settings {
    let mut settings = local_settings();
    settings.set(Setting::MetaGraphUrl, graph.uri());
    settings
}

#[tokio::test]
async fn a_reply_and_its_status_stay_within_their_request_budgets_on_both_adapters() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "messages": [{"id": "wamid.BUDGETOUT"}]})))
        .mount(&graph)
        .await;
    let settings = settings_for(&graph);
    for kind in [Reply::Text, Reply::UploadedImageReplying] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let embedded =
            Backend::embedded(dir.path(), "http://127.0.0.1:0", b"k").unwrap_or_else(|e| panic!("{e}"));
        let on_embedded = measured(embedded, &settings, kind).await;
        check(&format!("embedded, {kind:?}"), &on_embedded);

        let Some((backend, aws_settings)) = moto_backend("reply", &settings).await else { return };
        let on_aws = measured(backend, &aws_settings, kind).await;
        check(&format!("aws (moto), {kind:?}"), &on_aws);
        assert_eq!(on_embedded.0.request_count(), on_aws.0.request_count());
        assert_eq!(on_embedded.1.request_count(), on_aws.1.request_count());
    }
}
