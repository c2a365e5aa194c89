//! Media of inbound messages: the message is stored at once and its file follows from the
//! media queue, downloaded once into the bucket, retried with a delay a bounded time, never
//! holding back the customer's next message.

use super::*;

/// A world whose Graph API is a local wiremock server.
async fn world_on_graph() -> (World, wiremock::MockServer) {
    let graph = wiremock::MockServer::start().await;
    let mut settings = Settings::local_with(|_| None);
    settings.set(gestor_shared::settings::Setting::MetaGraphUrl, graph.uri());
    (world_with(settings).await, graph)
}

/// What the Graph server was asked: method, path and Authorization header of each request.
async fn graph_requests(graph: &wiremock::MockServer) -> Vec<(String, String, String)> {
    graph
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
            (r.method.to_string(), r.url.path().to_owned(), auth.to_owned())
        })
        .collect()
}

fn image(id: &str, media_id: &str) -> InboundEnvelope {
    whatsapp_message(
        id,
        "5215512345678",
        1_795_860_000,
        json!({"type": "image", "image": {"id": media_id, "mime_type": "image/jpeg", "caption": "foto"}}),
    )
}

#[tokio::test]
async fn an_image_is_downloaded_once_into_the_bucket_with_its_hash() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (w, graph) = world_on_graph().await;
    let bytes = b"\xff\xd8\xff\xe0 a small jpeg".to_vec();
    let media_id = "1037543291543636";
    let download = format!("{}/download/{media_id}", graph.uri());
    Mock::given(method("GET"))
        .and(path(format!("/{media_id}")))
        .and(header("authorization", "Bearer token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("{download}?ext=1&hash=sig"), "mime_type": "image/jpeg",
            "sha256": "ignored", "file_size": bytes.len(), "id": media_id,
            "messaging_product": "whatsapp"
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/download/{media_id}")))
        .and(header("authorization", "Bearer token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(bytes.clone(), "image/jpeg"))
        .mount(&graph)
        .await;

    assert!(w.deliver(&[image("wamid.IMG1", media_id)]).await.is_empty());
    assert!(graph_requests(&graph).await.is_empty(), "nothing downloaded on the conversation's path");
    assert_eq!(w.messages().await[0].media.as_ref().and_then(|m| m.file_key.clone()), None);
    assert_eq!(w.run_deferred().await, 1);
    let expected = vec![
        ("GET".to_owned(), format!("/{media_id}"), "Bearer token".to_owned()),
        ("GET".to_owned(), format!("/download/{media_id}"), "Bearer token".to_owned()),
    ];
    assert_eq!(graph_requests(&graph).await, expected);
    let messages = w.messages().await;
    let media = messages[0].media.clone().unwrap_or_default();
    let key = format!("tienda-1/media/{}", messages[0].id);
    assert_eq!(media.file_key.as_deref(), Some(key.as_str()));
    assert_eq!(media.size, Some(bytes.len() as u64));
    // The download is the deferred worker's change, in the log by its name.
    let audit = gestor_shared::repo::audit::AuditRepo::new(w.backend.table.clone());
    let (log, _) = audit.list(&w.tenant, &Default::default(), 50, None).await.unwrap_or_default();
    let attached: Vec<_> = log.iter().filter(|e| e.action == "message.update").collect();
    assert_eq!(attached.len(), 1, "{log:?}");
    assert_eq!(attached[0].actor, gestor_shared::repo::audit::Actor::system("deferred"));
    assert_eq!(attached[0].changed_fields, vec!["media".to_owned()]);
    assert_eq!(
        media.sha256.as_deref(),
        Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)).as_str())
    );
    assert_eq!(media.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(media.caption.as_deref(), Some("foto"));
    let object = w.backend.files.get(&key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(object.bytes, bytes);
    assert_eq!(object.content_type.as_deref(), Some("image/jpeg"));

    // Redelivered: stored before and owing nothing, so nothing is fetched again.
    assert!(w.deliver(&[image("wamid.IMG1", media_id)]).await.is_empty());
    assert_eq!(w.run_deferred().await, 0);
    assert_eq!(graph_requests(&graph).await.len(), 2, "no second download");
    assert_eq!(w.messages().await.len(), 1);
    assert!(w.metrics.points("InboundMediaFailed").is_empty());
}

#[tokio::test]
async fn a_failing_download_never_holds_back_the_next_message_and_ends_after_its_window() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (w, graph) = world_on_graph().await;
    Mock::given(method("GET")).and(path("/555")).respond_with(ResponseTemplate::new(500)).mount(&graph).await;

    // The image and the customer's next message in one batch of their group: both stored.
    let next = whatsapp_message(
        "wamid.TXT2",
        "5215512345678",
        1_795_860_001,
        json!({"type": "text", "text": {"body": "¿la tienen?"}}),
    );
    assert!(w.deliver(&[image("wamid.IMG2", "555"), next]).await.is_empty());
    let messages = w.messages().await;
    assert_eq!(messages.len(), 2, "the next message is not held back: {messages:?}");
    let mut events = w.events().await;
    events.sort();
    assert_eq!(
        events,
        vec!["contact.created", "conversation.created", "message.received", "message.received"]
    );

    // The Graph 5xx: sent again 15 s later, then 30 s, doubling.
    assert_eq!(w.run_deferred().await, 1);
    assert_eq!(graph_requests(&graph).await.len(), 1);
    assert_eq!(w.run_deferred().await, 0, "delayed, not visible yet");
    w.advance(time::Duration::seconds(16));
    assert_eq!(w.run_deferred().await, 1);
    assert_eq!(graph_requests(&graph).await.len(), 2);
    w.advance(time::Duration::seconds(16));
    assert_eq!(w.run_deferred().await, 0, "the second delay is longer");
    assert!(w.metrics.points("InboundMediaFailed").is_empty());

    // Past the window (the update was received at 10:00:00): kept without its file.
    w.advance(time::Duration::hours(1));
    assert_eq!(w.run_deferred().await, 1);
    assert_eq!(graph_requests(&graph).await.len(), 3);
    assert_eq!(w.metrics.points("InboundMediaFailed").len(), 1);
    w.advance(time::Duration::hours(1));
    assert_eq!(w.run_deferred().await, 0, "given up: not tried again");
    let image =
        w.messages().await.into_iter().find(|m| m.channel_message_id.as_deref() == Some("wamid.IMG2"));
    assert_eq!(image.and_then(|m| m.media).and_then(|m| m.file_key), None);
}

#[tokio::test]
async fn a_messenger_attachment_is_fetched_from_its_url_without_a_token() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (w, graph) = world_on_graph().await;
    let settings = Settings::local_with(|_| None);
    let cipher = TokenCipher::from_settings(&settings).unwrap_or_else(|e| panic!("{e}"));
    ChannelRepo::new(w.backend.table.clone())
        .connect(&w.tenant, Channel::Messenger, "PAGE1", "Página", &Secret::new("page-token"), &cipher, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Mock::given(method("GET"))
        .and(path("/cdn/photo.png"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"png".to_vec(), "image/png"))
        .mount(&graph)
        .await;
    let attachment = |url: String| {
        messenger(
            UpdateKind::Message,
            "PSID1",
            json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": 1_795_860_000_000_i64,
            "message": {"mid": "m_img", "attachments": [{"type": "image", "payload": {"url": url}}]}}),
        )
    };
    assert!(w.deliver(&[attachment(format!("{}/cdn/photo.png?oh=sig", graph.uri()))]).await.is_empty());
    assert_eq!(w.run_deferred().await, 1);
    assert_eq!(graph_requests(&graph).await, vec![("GET".into(), "/cdn/photo.png".into(), String::new())]);
    let media = w.messages().await[0].media.clone().unwrap_or_default();
    assert_eq!(media.size, Some(3));
    assert_eq!(media.mime_type.as_deref(), Some("image/png"));

    // Plain http anywhere but the configured Graph origin is refused before any connection,
    // and retrying cannot change that: kept without its file at once.
    let mut plain = attachment("http://cdn.example.com/photo.png".into());
    if let Some(p) = plain.payload.as_mut() {
        p["message"]["mid"] = json!("m_img2");
    }
    assert!(w.deliver(&[plain]).await.is_empty());
    assert_eq!(w.run_deferred().await, 1);
    assert_eq!(w.run_deferred().await, 0, "not sent again");
    assert_eq!(graph_requests(&graph).await.len(), 1);
    assert_eq!(w.metrics.points("InboundMediaFailed").len(), 1);
}

#[tokio::test]
async fn an_unsend_or_revoke_removes_the_downloaded_file_from_the_bucket() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let (w, graph) = world_on_graph().await;
    let download = format!("{}/download/77", graph.uri());
    Mock::given(method("GET"))
        .and(path("/77"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"url": download, "mime_type": "image/jpeg", "id": "77"})),
        )
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/download/77"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"jpeg".to_vec(), "image/jpeg"))
        .mount(&graph)
        .await;
    assert!(w.deliver(&[image("wamid.IMG7", "77")]).await.is_empty());
    assert_eq!(w.run_deferred().await, 1);
    assert_eq!(w.backend.files.list("tienda-1/media/").await.unwrap_or_default().len(), 1);

    let revoke = whatsapp_message(
        "wamid.REV7",
        "5215512345678",
        1_795_860_050,
        json!({"type": "revoke", "revoke": {"original_message_id": "wamid.IMG7"}}),
    );
    // The bucket refuses the first delete: the record comes back, and its retry, finding the
    // message already unsent, still deletes the file.
    let files = Arc::new(gestor_shared::testing::doubles::FailingFiles {
        fail_deletes: std::sync::atomic::AtomicUsize::new(1),
        ..gestor_shared::testing::doubles::FailingFiles::new(w.backend.files.clone())
    });
    let settings = Settings::local_with(|_| None);
    let backend = Backend { files, ..w.backend.clone() };
    let inbound = Inbound::new(&backend, &settings).unwrap_or_else(|e| panic!("{e}"));
    let event = sqs_event(vec![record(0, &revoke)]);
    assert_eq!(inbound.handle(event.clone()).await.batch_item_failures.len(), 1);
    assert_eq!(w.backend.files.list("tienda-1/").await.unwrap_or_default().len(), 1);
    assert!(inbound.handle(event).await.batch_item_failures.is_empty());
    let messages = w.messages().await;
    assert!(messages[0].deleted && messages[0].media.is_none());
    assert!(w.backend.files.list("tienda-1/").await.unwrap_or_default().is_empty(), "the file is gone too");
}
