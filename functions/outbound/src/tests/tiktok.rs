//! TikTok: the send request its Business API takes, and its answers, which come as HTTP 200
//! with a `code` whatever happened.

use super::*;

/// A TikTok reply's job as the conversations function writes it: to TikTok's conversation id.
async fn tiktok_reply(w: &World, text: &str) -> (Message, SendJob) {
    let (message, mut job) = w.reply(Channel::Tiktok, "tt-open-id-ana", text, Delivery::Response).await;
    job.recipient = Some(TIKTOK_CONVERSATION.into());
    (message, job)
}

fn tiktok_answer(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn a_tiktok_text_goes_to_the_conversation_with_the_access_token_header() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path("/business/message/send/"))
        .and(header("access-token", "tt-token"))
        .and(body_json(json!({
            "business_id": TIKTOK_BUSINESS, "recipient_type": "CONVERSATION",
            "recipient": TIKTOK_CONVERSATION, "message_type": "TEXT",
            "text": {"body": "¡Hola! Sí tenemos tallas"},
        })))
        .respond_with(tiktok_answer(json!({"code": 0, "message": "OK", "request_id": "r1",
            "data": {"message": {"message_id": "7400000000000000099"}}})))
        .expect(1)
        .mount(&w.graph)
        .await;
    let (reply, job) = tiktok_reply(&w, "¡Hola! Sí tenemos tallas").await;
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let sent = w.stored(&reply).await;
    assert_eq!(
        (sent.status, sent.channel_message_id.as_deref()),
        (MessageStatus::Sent, Some("7400000000000000099"))
    );
    let requests = w.graph.received_requests().await.unwrap_or_default();
    assert!(requests.iter().all(|r| !r.headers.contains_key("authorization")), "no bearer on TikTok");
}

#[tokio::test]
async fn a_tiktok_reply_names_the_message_it_answers() {
    let w = world().await;
    Mock::given(method("POST"))
        .respond_with(tiktok_answer(
            json!({"code": 0, "data": {"message": {"message_id": 7400000000000000100_u64}}}),
        ))
        .mount(&w.graph)
        .await;
    let (reply, mut job) = tiktok_reply(&w, "Claro").await;
    job.context = Some("7400000000000000001".into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(
        w.bodies().await[0]["referenced_message_info"],
        json!({"referenced_message_id": "7400000000000000001"})
    );
    assert_eq!(w.stored(&reply).await.channel_message_id.as_deref(), Some("7400000000000000100"));
}

#[tokio::test]
async fn tiktok_errors_in_a_200_answer_retry_fail_or_stop_the_channel() {
    let w = world().await;
    // Its own failure first, then its rate limit: both come back; then it takes the message.
    Mock::given(method("POST"))
        .respond_with(tiktok_answer(json!({"code": 50000, "message": "System error"})))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .respond_with(tiktok_answer(json!({"code": 40100, "message": "Too many requests"})))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .respond_with(tiktok_answer(json!({"code": 0, "data": {"message": {"message_id": "74001"}}})))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    let (reply, job) = tiktok_reply(&w, "uno").await;
    assert_eq!(w.deliver(&[&job], 1).await.len(), 1, "TikTok's failure: again");
    assert_eq!(w.deliver(&[&job], 2).await.len(), 1, "its rate limit: again");
    assert_eq!(w.deliver(&[&job], 3).await.len(), 1, "the account waits out the limit");
    w.advance(time::Duration::seconds(11));
    assert!(w.deliver(&[&job], 4).await.is_empty());
    assert_eq!(w.stored(&reply).await.status, MessageStatus::Sent);

    // A refusal fails the reply with TikTok's code and words.
    Mock::given(method("POST"))
        .respond_with(tiktok_answer(json!({"code": 40002, "message": "The conversation has expired"})))
        .up_to_n_times(1)
        .mount(&w.graph)
        .await;
    let (refused, job) = w
        .reply_in(&reply.conversation_id, &reply.contact_id, Channel::Tiktok, "dos", Delivery::Response)
        .await;
    let mut job = job;
    job.recipient = Some(TIKTOK_CONVERSATION.into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let error = w.stored(&refused).await.error.unwrap_or_else(|| panic!("no reason"));
    assert_eq!(error.code, "40002");
    assert!(error.title.contains("The conversation has expired"), "{}", error.title);

    // A revoked token stops the account.
    Mock::given(method("POST"))
        .respond_with(tiktok_answer(
            json!({"code": 40105, "message": "Access token is incorrect or has been revoked."}),
        ))
        .mount(&w.graph)
        .await;
    let (revoked, mut job) = w
        .reply_in(&reply.conversation_id, &reply.contact_id, Channel::Tiktok, "tres", Delivery::Response)
        .await;
    job.recipient = Some(TIKTOK_CONVERSATION.into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&revoked).await.error.map(|e| e.code), Some("40105".to_owned()));
    let account = ChannelRepo::new(w.backend.table.clone()).get(&w.tenant, &w.tiktok).await.ok().flatten();
    assert_eq!(account.map(|a| a.status), Some(ChannelStatus::NeedsReconnect));
}

#[tokio::test]
async fn a_tiktok_reply_without_its_conversation_id_fails_without_a_request() {
    let w = world().await;
    let (reply, job) = w.reply(Channel::Tiktok, "tt-open-id-ana", "hola", Delivery::Response).await;
    assert!(job.recipient.is_none());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&reply).await.error.map(|e| e.code), Some("no_recipient".to_owned()));
    assert!(w.graph.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn a_tiktok_image_is_uploaded_to_tiktok_then_sent_by_its_media_id() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path("/business/message/media/upload/"))
        .and(header("access-token", "tt-token"))
        .respond_with(tiktok_answer(
            json!({"code": 0, "message": "OK", "data": {"media_id": "v0f044gc0000img"}}),
        ))
        .expect(1)
        .mount(&w.graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/business/message/send/"))
        .and(body_json(json!({
            "business_id": TIKTOK_BUSINESS, "recipient_type": "CONVERSATION", "recipient": TIKTOK_CONVERSATION,
            "message_type": "IMAGE", "image": {"media_id": "v0f044gc0000img"},
        })))
        .respond_with(tiktok_answer(json!({"code": 0, "data": {"message": {"message_id": "7400000000000000555"}}})))
        .expect(1)
        .mount(&w.graph)
        .await;
    let file = w.uploaded(b"\x89PNG tiktok", "image/png").await;
    let (reply, mut job) = w
        .media_reply(
            Channel::Tiktok,
            "tt-open-id-ana",
            MessageKind::Image,
            super::media::media("image/png", None, None),
            json!({"file_id": file}),
        )
        .await;
    job.recipient = Some(TIKTOK_CONVERSATION.into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    assert_eq!(w.stored(&reply).await.channel_message_id.as_deref(), Some("7400000000000000555"));
    let requests = w.graph.received_requests().await.unwrap_or_default();
    let upload = &requests[0];
    let content_type = upload.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("multipart/form-data; boundary="), "{content_type}");
    let body = String::from_utf8_lossy(&upload.body);
    for part in [
        format!("name=\"business_id\"\r\n\r\n{TIKTOK_BUSINESS}\r\n"),
        "name=\"media_type\"\r\n\r\nIMAGE\r\n".to_owned(),
        "name=\"file\"; filename=\"image.png\"\r\nContent-Type: image/png\r\n\r\n".to_owned(),
        "PNG tiktok".to_owned(),
    ] {
        assert!(body.contains(&part), "{part:?} in {body}");
    }
}

#[tokio::test]
async fn a_refused_tiktok_upload_fails_the_reply_with_tiktoks_words() {
    let w = world().await;
    Mock::given(method("POST"))
        .and(path("/business/message/media/upload/"))
        .respond_with(tiktok_answer(json!({"code": 40002, "message": "The image size exceeds the limit"})))
        .mount(&w.graph)
        .await;
    let file = w.uploaded(b"\xFF\xD8\xFF jpeg", "image/jpeg").await;
    let (reply, mut job) = w
        .media_reply(
            Channel::Tiktok,
            "tt-open-id-ana",
            MessageKind::Image,
            super::media::media("image/jpeg", None, None),
            json!({"file_id": file}),
        )
        .await;
    job.recipient = Some(TIKTOK_CONVERSATION.into());
    assert!(w.deliver(&[&job], 1).await.is_empty());
    let error = w.stored(&reply).await.error.unwrap_or_else(|| panic!("no reason"));
    assert_eq!(error.code, "40002");
    assert!(error.title.contains("exceeds the limit"), "{}", error.title);
    let sends = w.graph.received_requests().await.unwrap_or_default();
    assert!(sends.iter().all(|r| r.url.path() != "/business/message/send/"), "nothing was sent");
}
