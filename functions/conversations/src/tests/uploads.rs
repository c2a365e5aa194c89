//! Files to send: `POST /v1/uploads` hands out a presigned PUT into the tenant's prefix, and
//! a reply naming the file is checked against the channel before anything is queued.

use super::*;
use serde_json::json;

impl World {
    async fn upload(&self, body: Value) -> (u16, Value) {
        self.send(ApiRequest::new("POST /v1/uploads").as_user(&self.owner).json(body)).await
    }

    /// An upload link, and the file PUT through it (straight into the bucket, as S3 would).
    async fn uploaded(&self, content_type: &str, bytes: &[u8]) -> String {
        let (status, link) = self.upload(json!({"content_type": content_type, "size": bytes.len()})).await;
        assert_eq!(status, 201, "{link}");
        let file_id = link["file_id"].as_str().unwrap_or_default().to_owned();
        let url = link["upload_url"].as_str().unwrap_or_default();
        let (key, query) =
            url.trim_start_matches("http://127.0.0.1:3000/files/").split_once('?').unwrap_or_default();
        let pairs: std::collections::HashMap<&str, &str> =
            query.split('&').filter_map(|p| p.split_once('=')).collect();
        let stored = self
            .files
            .accept_presigned_put(
                key,
                pairs["expires"],
                pairs["signature"],
                content_type,
                bytes.to_vec(),
                std::time::SystemTime::now(),
            )
            .await;
        assert!(stored.is_ok(), "{stored:?}");
        file_id
    }
}

#[tokio::test]
async fn an_upload_link_puts_the_file_under_the_tenants_prefix_with_its_type() {
    let w = world().await;
    let (status, link) = w
        .upload(json!({"content_type": "application/pdf", "size": 2048, "filename": "Precios 2027.pdf"}))
        .await;
    assert_eq!(status, 201, "{link}");
    assert!(link["file_id"].as_str().is_some_and(|id| id.starts_with("file_")));
    assert_eq!(
        (&link["method"], &link["headers"]["Content-Type"]),
        (&json!("PUT"), &json!("application/pdf"))
    );
    let url = link["upload_url"].as_str().unwrap_or_default();
    assert!(
        url.contains(&format!("/files/acme/uploads/{}", link["file_id"].as_str().unwrap_or_default())),
        "{url}"
    );
    assert!(link["expires_at"].as_str().is_some());

    for (body, field) in [
        (json!({"content_type": "application/zip", "size": 10}), "content_type"),
        (json!({"content_type": "image/png", "size": 0}), "size"),
        (json!({"content_type": "image/png", "size": 200 * 1024 * 1024}), "size"),
        (json!({"content_type": "image/png", "size": 10, "filename": "../../etc/passwd"}), "filename"),
        (json!({"content_type": "image/png", "size": 10, "path": "x"}), "path"),
    ] {
        let (status, problem) = w.upload(body).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}

#[tokio::test]
async fn a_reply_with_an_uploaded_file_is_checked_against_the_channel_and_queued() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    // Announced but not PUT yet.
    let (_, link) = w.upload(json!({"content_type": "image/jpeg", "size": 4})).await;
    let early = json!({"media": {"file_id": link["file_id"]}});
    let (status, problem) = w.write(&w.owner, &conversation, early).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (400, &json!("media.file_id")), "{problem}");
    assert!(
        problem["errors"][0]["message"].as_str().unwrap_or_default().contains("PUT the file"),
        "{problem}"
    );

    let file = w.uploaded("image/jpeg", b"\xFF\xD8\xFF\xE0").await;
    let reply = json!({"media": {"file_id": file, "caption": "Así queda"}});
    let (status, message) = w.write(&w.owner, &conversation, reply).await;
    assert_eq!(status, 202, "{message}");
    assert_eq!(
        (&message["kind"], &message["status"], &message["text"]),
        (&json!("image"), &json!("queued"), &json!("Así queda"))
    );
    assert_eq!(
        (&message["media"]["mime_type"], &message["media"]["size"]),
        (&json!("image/jpeg"), &json!(4))
    );
    let jobs = w.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0.message_id.as_str(), message["id"].as_str().unwrap_or_default());
}

#[tokio::test]
async fn files_the_channel_would_refuse_are_refused_before_anything_is_stored() {
    let w = world().await;
    let (on_whatsapp, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let (on_instagram, _) = w.customer_wrote(Channel::Instagram, Some(1)).await;
    let (on_messenger, _) = w.customer_wrote(Channel::Messenger, Some(1)).await;
    let (on_tiktok, _) = w.customer_wrote(Channel::Tiktok, Some(1)).await;
    let pdf = w.uploaded("application/pdf", b"%PDF").await;
    let audio = w.uploaded("audio/ogg", b"OggS").await;
    let big = w.uploaded("image/png", &vec![0_u8; 5 * 1024 * 1024 + 1]).await;
    for (conversation, media, says) in [
        (&on_instagram, json!({"file_id": pdf}), "instagram does not take application/pdf"),
        (&on_whatsapp, json!({"file_id": audio, "caption": "escucha"}), "caption"),
        (&on_messenger, json!({"file_id": pdf, "caption": "lista"}), "caption"),
        (&on_whatsapp, json!({"file_id": big}), "up to 5 MB"),
        (&on_tiktok, json!({"file_id": pdf}), "TikTok takes JPEG and PNG images only"),
    ] {
        let (status, problem) = w.write(&w.owner, conversation, json!({"media": media})).await;
        assert_eq!(status, 422, "{problem}");
        assert!(problem["detail"].as_str().unwrap_or_default().contains(says), "{says}: {problem}");
    }
    for (media, field) in [
        (json!({"file_id": "file_01J00000000000000000000000"}), "media.file_id"),
        (json!({"file_id": "nope"}), "media.file_id"),
        (json!({"url": "http://cdn.tienda.mx/a.pdf"}), "media.url"),
        (json!({"file_id": pdf, "url": "https://cdn.tienda.mx/a.pdf"}), "media"),
    ] {
        let (status, problem) = w.write(&w.owner, &on_whatsapp, json!({"media": media})).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, problem) =
        w.write(&w.owner, &on_whatsapp, json!({"text": "x", "media": {"file_id": pdf}})).await;
    assert_eq!((status, &problem["errors"][0]["field"]), (400, &json!("media")), "{problem}");
    assert!(w.jobs().await.is_empty(), "nothing was queued");
    assert_eq!(w.thread_messages(&on_whatsapp).await.len(), 1, "only the customer's message");
}

#[tokio::test]
async fn a_file_by_https_url_is_queued_for_the_sender_to_fetch() {
    let w = world().await;
    let (conversation, _) = w.customer_wrote(Channel::Whatsapp, Some(1)).await;
    let reply =
        json!({"media": {"url": "https://cdn.tienda.mx/catalogo/Otoño.pdf?v=3", "caption": "Catálogo"}});
    let (status, message) = w.write(&w.owner, &conversation, reply).await;
    assert_eq!(status, 202, "{message}");
    assert_eq!(
        (&message["kind"], &message["media"]["mime_type"]),
        (&json!("document"), &json!("application/pdf"))
    );
    assert_eq!(w.jobs().await.len(), 1);
}
