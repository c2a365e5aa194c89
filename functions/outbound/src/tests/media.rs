//! Replies with a file: the message's own copy made from the upload (or fetched from the
//! agent's URL through the guarded fetch), and the presigned link the channel downloads.

use super::*;
use gestor_shared::ids::FileId;
use gestor_shared::repo::messages::{Media, media_file_key};
use gestor_shared::repo::scope::RowScope;
use gestor_shared::repo::uploads::object_key;

impl World {
    /// A queued reply of `kind` whose file comes from `source` (`{"file_id"}` or `{"url"}`).
    pub(super) async fn media_reply(
        &self,
        channel: Channel,
        customer: &str,
        kind: MessageKind,
        media: Media,
        source: Value,
    ) -> (Message, SendJob) {
        let (conversation, contact) = self.conversation(channel, customer).await;
        let mut message =
            text_message(&conversation, &contact, Direction::Out, "unused", OffsetDateTime::now_utc());
        message.channel = channel;
        message.channel_message_id = None;
        message.kind = kind;
        message.text = media.caption.clone();
        message.media = Some(Media { file_key: Some(media_file_key(&self.tenant, &message.id)), ..media });
        message.details = Some(json!({"media_source": source}));
        let job = SendJob::of(&self.tenant, self.account(channel), &message, Delivery::Response);
        let queued = ReplyRepo::new(self.backend.table.clone())
            .queue(&self.tenant, &conversation, &RowScope::Business, |_| {
                Ok::<_, std::convert::Infallible>((message.clone(), job.clone()))
            })
            .await;
        queued.unwrap_or_else(|e| panic!("{e}"))
    }

    pub(super) async fn uploaded(&self, bytes: &[u8], content_type: &str) -> FileId {
        let id = FileId::new();
        let put = self.backend.files.put(&object_key(&self.tenant, &id), bytes.to_vec(), content_type).await;
        put.unwrap_or_else(|e| panic!("{e}"));
        id
    }
}

pub(super) fn media(mime: &str, caption: Option<&str>, filename: Option<&str>) -> Media {
    Media {
        channel_media_id: None,
        mime_type: Some(mime.into()),
        filename: filename.map(str::to_owned),
        caption: caption.map(str::to_owned),
        size: None,
        sha256: None,
        file_key: None,
    }
}

#[tokio::test]
async fn an_uploaded_image_goes_to_whatsapp_as_a_link_to_the_messages_own_copy() {
    let w = world().await;
    Mock::given(method("POST")).respond_with(accepted("wamid.IMG")).expect(1).mount(&w.graph).await;
    let file = w.uploaded(b"\xFF\xD8\xFF jpeg", "image/jpeg").await;
    let (reply, job) = w
        .media_reply(
            Channel::Whatsapp,
            WA_ID,
            MessageKind::Image,
            media("image/jpeg", Some("Nuevo catálogo"), None),
            json!({"file_id": file}),
        )
        .await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let body = &w.bodies().await[0];
    assert_eq!((&body["type"], &body["to"]), (&json!("image"), &json!(WA_ID)));
    assert_eq!(body["image"]["caption"], "Nuevo catálogo");
    let link = body["image"]["link"].as_str().unwrap_or_default();
    let own = media_file_key(&w.tenant, &reply.id);
    assert!(link.contains(&own) && link.contains("signature="), "a presigned link to the copy: {link}");
    // The copy is the message's: the upload stays for the next customer, the copy goes with
    // the message.
    assert_eq!(w.backend.files.get(&own).await.map(|o| o.bytes).ok(), Some(b"\xFF\xD8\xFF jpeg".to_vec()));
    assert!(w.backend.files.get(&object_key(&w.tenant, &file)).await.is_ok());
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Sent);
}

#[tokio::test]
async fn documents_carry_their_name_and_messenger_takes_files_as_attachments() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .respond_with(accepted("wamid.DOC"))
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/me/messages"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"recipient_id": PSID, "message_id": "m_DOC"})),
        )
        .mount(&w.graph)
        .await;
    let file = w.uploaded(b"%PDF-1.7", "application/pdf").await;
    let pdf = media("application/pdf", None, Some("Lista de precios.pdf"));
    let source = json!({"file_id": file});
    let (_, on_whatsapp) =
        w.media_reply(Channel::Whatsapp, WA_ID, MessageKind::Document, pdf.clone(), source.clone()).await;
    let (_, on_messenger) = w.media_reply(Channel::Messenger, PSID, MessageKind::Document, pdf, source).await;
    assert!(w.deliver(&[&on_whatsapp], 1).await.is_empty());
    assert!(w.deliver(&[&on_messenger], 1).await.is_empty());
    let bodies = w.bodies().await;
    assert_eq!(bodies[0]["document"]["filename"], "Lista de precios.pdf");
    assert!(bodies[0]["document"].get("caption").is_none());
    let attachment = &bodies[1]["message"]["attachment"];
    assert_eq!((&attachment["type"], &attachment["payload"]["is_reusable"]), (&json!("file"), &json!(false)));
    assert!(attachment["payload"]["url"].as_str().is_some_and(|u| u.contains("/media/")));
    assert_eq!(bodies[1]["messaging_type"], "RESPONSE");
}

#[tokio::test]
async fn an_upload_that_is_gone_fails_the_reply_without_a_request() {
    let w = world().await;
    let (reply, job) = w
        .media_reply(
            Channel::Whatsapp,
            WA_ID,
            MessageKind::Image,
            media("image/png", None, None),
            json!({"file_id": FileId::new()}),
        )
        .await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&reply).await.error.map(|e| e.code), Some("file_gone".to_owned()));
    assert!(w.graph.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_file_by_url_is_fetched_checked_and_recorded_as_sent() {
    let w = world().await;
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fotos/playa"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"PNG bytes".to_vec(), "image/png"))
        .mount(&site)
        .await;
    Mock::given(method("POST")).respond_with(accepted("wamid.URL")).expect(1).mount(&w.graph).await;
    // The link's name says nothing of its type: the server's answer does.
    let url = format!("{}/fotos/playa", site.uri());
    let mut unknown = media("image/png", None, None);
    unknown.mime_type = None;
    let (reply, job) =
        w.media_reply(Channel::Whatsapp, WA_ID, MessageKind::Document, unknown, json!({"url": url})).await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.bodies().await[0]["type"], "image");
    let sent = w.stored(&reply).await;
    assert_eq!((sent.status, sent.kind), (MessageStatus::Sent, MessageKind::Image));
    let stored = sent.media.unwrap_or_else(|| panic!("no media"));
    assert_eq!((stored.mime_type.as_deref(), stored.size), (Some("image/png"), Some(9)));
    assert_eq!(stored.sha256, Some(gestor_shared::crypto::sha256_hex(b"PNG bytes")));
    let copy = w.backend.files.get(&media_file_key(&w.tenant, &reply.id)).await;
    assert_eq!(copy.map(|o| o.bytes).ok(), Some(b"PNG bytes".to_vec()));
}

#[tokio::test]
async fn a_url_that_fails_is_retried_refused_or_never_fetched() {
    let w = world().await;
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/busy.pdf"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/gone.pdf"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/archivo.zip"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"PK".to_vec(), "application/zip"))
        .mount(&site)
        .await;
    let pdf = media("application/pdf", None, None);
    let try_url = async |url: String| {
        let (reply, job) = w
            .media_reply(Channel::Whatsapp, WA_ID, MessageKind::Document, pdf.clone(), json!({"url": url}))
            .await;
        let again = w.deliver(&[&job], 1).await;
        (w.stored(&reply).await, again)
    };
    let (busy, again) = try_url(format!("{}/busy.pdf", site.uri())).await;
    assert_eq!((busy.status, again.len()), (MessageStatus::Queued, 1), "a 503 comes back");
    let (gone, _) = try_url(format!("{}/gone.pdf", site.uri())).await;
    assert_eq!(gone.error.map(|e| e.code), Some("media_unreachable".to_owned()));
    let (zip, _) = try_url(format!("{}/archivo.zip", site.uri())).await;
    let error = zip.error.unwrap_or_else(|| panic!("no reason"));
    assert_eq!(error.code, "media_unsupported");
    assert!(error.title.contains("application/zip"), "{}", error.title);
    // The cloud's metadata address is never fetched, https or not.
    let (metadata, _) = try_url("https://169.254.169.254/latest/meta-data/iam".into()).await;
    assert_eq!(metadata.error.map(|e| e.code), Some("media_unreachable".to_owned()));
    assert!(w.graph.received_requests().await.unwrap_or_default().is_empty(), "nothing reached the channel");
}

#[tokio::test]
async fn a_retry_sends_the_file_fetched_first_and_a_file_too_large_is_refused() {
    let w = world().await;
    let site = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/lista.pdf"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"%PDF v1".to_vec(), "application/pdf"))
        .expect(1)
        .mount(&site)
        .await;
    let big = vec![b'x'; crate::media::MAX_URL_FILE + 1];
    Mock::given(method("GET"))
        .and(path("/enorme.pdf"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(big, "application/pdf"))
        .mount(&site)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST")).respond_with(accepted("wamid.PDF")).mount(&w.graph).await;
    let pdf = media("application/pdf", None, None);
    let (reply, job) = w
        .media_reply(
            Channel::Whatsapp,
            WA_ID,
            MessageKind::Document,
            pdf.clone(),
            json!({"url": format!("{}/lista.pdf", site.uri())}),
        )
        .await;
    assert_eq!(w.deliver(&[&job], 1).await.len(), 1, "the channel's 503: again");
    assert!(w.deliver(&[&job], 2).await.is_empty());
    let sent = w.stored(&reply).await;
    assert_eq!(sent.media.and_then(|m| m.size), Some(7), "the first fetch's copy, fetched once");

    let (too_large, job) = w
        .media_reply(
            Channel::Whatsapp,
            WA_ID,
            MessageKind::Document,
            pdf,
            json!({"url": format!("{}/enorme.pdf", site.uri())}),
        )
        .await;
    assert!(w.deliver(&[&job], 1).await.is_empty(), "refused at once, not retried");
    assert_eq!(w.stored(&too_large).await.error.map(|e| e.code), Some("media_too_large".to_owned()));
}
