//! The handshake, refused deliveries, quarantine, oversized updates and failing ports.

use gestor_shared::adapters::metered::measure;
use gestor_shared::inbound::InboundEnvelope;
use gestor_shared::ports::Files;
use gestor_shared::testing::ApiRequest;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::doubles::{BrokenFiles, BrokenQueue};
use super::fixtures::*;
use super::{META_SECRET, NOW_SECS, TIKTOK_SECRET, VERIFY_TOKEN, answer, post, world, world_with};
use crate::{MAX_BODY, sign_meta, sign_tiktok};

fn handshake(channel: &str, params: &[(&str, &str)]) -> ApiRequest {
    params
        .iter()
        .fold(ApiRequest::new("GET /webhooks/{channel}").param("channel", channel), |r, (k, v)| r.query(k, v))
}

#[tokio::test]
async fn the_meta_handshake_echoes_the_challenge_only_for_the_right_token() {
    let w = world();
    for channel in ["whatsapp", "messenger", "instagram"] {
        let good =
            [("hub.mode", "subscribe"), ("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1158201444")];
        let response = w.send(handshake(channel, &good)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/plain"));
        assert_eq!(response.body().as_ref(), b"1158201444", "verbatim, not JSON");

        let wrong =
            [("hub.mode", "subscribe"), ("hub.verify_token", "adivina"), ("hub.challenge", "1158201444")];
        let (status, problem) = answer(w.send(handshake(channel, &wrong)).await);
        assert_eq!(status, 403);
        assert!(!problem.to_string().contains("1158201444"));
        let no_token = [("hub.mode", "subscribe"), ("hub.challenge", "1158201444")];
        assert_eq!(w.send(handshake(channel, &no_token)).await.status(), 403);
        let no_mode = [("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1")];
        assert_eq!(w.send(handshake(channel, &no_mode)).await.status(), 400);
        let no_challenge = [("hub.mode", "subscribe"), ("hub.verify_token", VERIFY_TOKEN)];
        assert_eq!(w.send(handshake(channel, &no_challenge)).await.status(), 400);
    }
    let good = [("hub.mode", "subscribe"), ("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1")];
    assert_eq!(w.send(handshake("telegram", &good)).await.status(), 404);
}

#[tokio::test]
async fn guessing_the_verify_token_is_throttled_and_deliveries_are_exempt_and_touch_no_table() {
    let w = world();
    let wrong = [("hub.mode", "subscribe"), ("hub.verify_token", "adivina"), ("hub.challenge", "1")];
    for _ in 0..30 {
        assert_eq!(w.send(handshake("whatsapp", &wrong)).await.status(), 403);
    }
    let response = w.send(handshake("whatsapp", &wrong)).await;
    assert_eq!(response.status(), 429, "the IP's 30 in 15 minutes are spent");
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok());
    let retry_after = retry_after.and_then(|v| v.parse::<u32>().ok()).unwrap_or_default();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // The right token too waits out the window from that IP: the counter comes first.
    let good = [("hub.mode", "subscribe"), ("hub.verify_token", VERIFY_TOKEN), ("hub.challenge", "1")];
    assert_eq!(w.send(handshake("messenger", &good)).await.status(), 429);
    // Signed deliveries are never counted, and never reach the table.
    let body = meta_bytes(&wa_single_text("wamid.T", "hola"));
    for _ in 0..40 {
        let ((status, _), usage) = measure(w.deliver("whatsapp", &body)).await;
        assert_eq!((status, usage.request_count()), (200, 0), "{usage:?}");
    }
    let (_, usage) = measure(w.send(handshake("whatsapp", &good))).await;
    assert_eq!(usage.requests, vec!["UpdateItem"], "one counter, the IP's, already over");
}

#[tokio::test]
async fn tiktok_gets_its_challenge_echoed_when_it_sends_one() {
    let w = world();
    let response = w.send(handshake("tiktok", &[("challenge", "abc-123")])).await;
    assert_eq!((response.status().as_u16(), response.body().as_ref()), (200, b"abc-123".as_slice()));
    assert_eq!(w.send(handshake("tiktok", &[])).await.status(), 400);
}

#[tokio::test]
async fn unsigned_or_badly_signed_deliveries_are_refused_counted_and_not_kept() {
    let w = world();
    let body = meta_bytes(&wa_single_text("wamid.X", "hola"));
    let cases = [
        ("missing", None),
        ("mismatch", Some(sign_meta(META_SECRET, b"{}"))),
        ("mismatch", Some(sign_meta("another-app-secret", body.as_bytes()))),
        ("malformed", Some("sha1=0123".to_owned())),
    ];
    for (reason, signature) in &cases {
        let mut request = post("whatsapp", &body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let (status, problem) = answer(w.send(request).await);
        assert_eq!(status, 401, "{reason}");
        assert_eq!(problem["status"], 401);
        let points = w.metrics.points("WebhookSignatureFailures");
        let last = points.last().cloned().unwrap_or_default();
        assert_eq!(last["Channel"], "whatsapp");
        assert_eq!(last["Reason"], *reason);
        assert_eq!(last["_aws"]["CloudWatchMetrics"][0]["Namespace"], "GestorDigital");
        assert_eq!(last["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Channel"], []]));
    }
    assert_eq!(w.metrics.points("WebhookSignatureFailures").len(), cases.len());
    // A Meta signature does not authenticate a TikTok delivery.
    let tiktok = tiktok_delivery("im_receive_msg", "1", TIKTOK_CUSTOMER, TIKTOK_BUSINESS, "hola");
    let request =
        post("tiktok", &tiktok).header("x-hub-signature-256", &sign_meta(META_SECRET, tiktok.as_bytes()));
    assert_eq!(w.send(request).await.status(), 401);
    assert!(w.drain().await.is_empty());
    assert!(w.stored().await.is_empty());
}

#[tokio::test]
async fn tiktok_refuses_stale_and_future_timestamps_and_foreign_secrets() {
    let w = world();
    let body = tiktok_delivery("im_receive_msg", "7311", TIKTOK_CUSTOMER, TIKTOK_BUSINESS, "hola");
    for (signature, reason) in [
        (sign_tiktok(TIKTOK_SECRET, NOW_SECS - 301, body.as_bytes()), "stale"),
        (sign_tiktok(TIKTOK_SECRET, NOW_SECS + 301, body.as_bytes()), "stale"),
        (sign_tiktok("not-our-secret", NOW_SECS, body.as_bytes()), "mismatch"),
    ] {
        let (status, _) = answer(w.send(post("tiktok", &body).header("tiktok-signature", &signature)).await);
        assert_eq!(status, 401);
        let points = w.metrics.points("WebhookSignatureFailures");
        assert_eq!(
            points.last().map(|p| (p["Channel"].clone(), p["Reason"].clone())),
            Some((json!("tiktok"), json!(reason)))
        );
    }
    let fresh = sign_tiktok(TIKTOK_SECRET, NOW_SECS - 299, body.as_bytes());
    assert_eq!(w.send(post("tiktok", &body).header("tiktok-signature", &fresh)).await.status(), 200);
    assert_eq!(w.drain().await.len(), 1);
}

#[tokio::test]
async fn bodies_above_lambdas_limit_are_refused_before_anything_else() {
    let w = world();
    let body = format!("{{\"object\":\"page\",\"entry\":[],\"pad\":\"{}\"}}", "x".repeat(MAX_BODY));
    let request =
        post("messenger", &body).header("x-hub-signature-256", &sign_meta(META_SECRET, body.as_bytes()));
    let (status, problem) = answer(w.send(request).await);
    assert_eq!((status, problem["status"].clone()), (413, json!(413)));
    assert!(w.stored().await.is_empty());
    assert!(w.metrics.lines().is_empty());
}

#[tokio::test]
async fn unknown_channels_and_methods_are_refused() {
    let w = world();
    assert_eq!(w.deliver("telegram", "{}").await.0, 404);
    let put = ApiRequest::new("PUT /webhooks/{channel}").param("channel", "whatsapp").build();
    assert_eq!(w.webhooks.handle(put).await.status(), 405);
    let elsewhere = ApiRequest::new("POST /webhooks/whatsapp/extra").build();
    assert_eq!(w.webhooks.handle(elsewhere).await.status(), 404);
}

#[tokio::test]
async fn signed_deliveries_that_do_not_parse_are_quarantined_raw_and_acknowledged() {
    let w = world();
    let cases: [(&str, Vec<u8>); 4] = [
        ("whatsapp", b"this is not json".to_vec()),
        ("messenger", br#"{"object":"page","entry":{"id":"1"}}"#.to_vec()),
        ("instagram", br#"{"object":"user","entry":[]}"#.to_vec()),
        ("tiktok", br#"{"event":"im_receive_msg","content":"{}"}"#.to_vec()),
    ];
    let date = "2026-11-18";
    for (channel, bytes) in &cases {
        let mut request = post(channel, "");
        request = if *channel == "tiktok" {
            request.header("tiktok-signature", &sign_tiktok(TIKTOK_SECRET, NOW_SECS, bytes))
        } else {
            request.header("x-hub-signature-256", &sign_meta(META_SECRET, bytes))
        };
        let mut request = request.build();
        *request.body_mut() = lambda_http::Body::Binary(bytes.clone());
        let (status, body) = answer(w.webhooks.handle(request).await);
        assert_eq!((status, body), (200, json!({"received": 0, "quarantined": true})), "{channel}");
        let key = format!("quarantine/{channel}/{date}/{}", hex::encode(Sha256::digest(bytes)));
        let kept = w.files.get(&key).await.unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(&kept.bytes, bytes);
    }
    let points = w.metrics.points("WebhookQuarantined");
    let channels: Vec<_> =
        points.iter().map(|p| p["Channel"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(channels, ["whatsapp", "messenger", "instagram", "tiktok"]);
    assert!(w.drain().await.is_empty());
}

#[tokio::test]
async fn a_quarantine_that_cannot_be_stored_is_not_acknowledged() {
    let w = world_with(None, Some(Arc::new(BrokenFiles)));
    let body = "{\"object\": \"whatsapp_business_account\"}";
    let (status, problem) = w.deliver("whatsapp", body).await;
    assert_eq!(status, 500);
    assert!(!problem.to_string().contains("bad day"), "no internals: {problem}");
    assert!(w.metrics.points("WebhookQuarantined").is_empty());
}

#[tokio::test]
async fn an_update_too_large_for_the_queue_goes_to_the_bucket_behind_a_pointer() {
    let w = world();
    let huge = "ñ".repeat(300 * 1024);
    let delivery = wa_delivery(vec![(
        WABA_ID,
        vec![wa_change(
            vec![wa_contact(CUSTOMER, "Ana")],
            vec![wa_text("wamid.HUGE", CUSTOMER, &huge), wa_text("wamid.SMALL", CUSTOMER, "y otra cosa")],
            vec![],
        )],
    )]);
    assert_eq!(w.deliver("whatsapp", &meta_bytes(&delivery)).await, (200, json!({"received": 2})));
    let queued = w.drain().await;
    assert_eq!(queued.len(), 2, "the pointer keeps its place in the customer's order");
    let pointer = &queued[0].1;
    assert_eq!(pointer.update_id.as_deref(), Some("wamid.HUGE"));
    assert!(pointer.payload.is_none() && pointer.profile.is_none());
    let reference = pointer.payload_ref.clone().unwrap_or_else(|| panic!("a pointer"));
    assert!(
        reference.key.starts_with("inbound-overflow/whatsapp/2026-11-18/")
            && reference.key.ends_with(".json")
    );
    let object = w.files.get(&reference.key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(object.bytes.len(), reference.bytes);
    assert_eq!(hex::encode(Sha256::digest(&object.bytes)), reference.sha256);
    let whole: InboundEnvelope = serde_json::from_slice(&object.bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(whole.payload.as_ref().map(|p| p["text"]["body"].clone()), Some(json!(huge)));
    assert_eq!(whole.sender_id, pointer.sender_id);
    assert!(queued[1].1.payload.is_some(), "the small one travels whole");
}

#[tokio::test]
async fn a_queue_that_fails_means_the_delivery_is_not_acknowledged() {
    for partial in [false, true] {
        let w = world_with(Some(Arc::new(BrokenQueue { partial })), None);
        let (status, problem) = w.deliver("whatsapp", &meta_bytes(&wa_single_text("wamid.Z", "hola"))).await;
        assert_eq!(status, 500, "partial: {partial}");
        assert!(!problem.to_string().contains("bad day"));
    }
}

#[tokio::test]
async fn an_overflow_that_cannot_be_stored_is_not_acknowledged() {
    let w = world_with(None, Some(Arc::new(BrokenFiles)));
    let delivery = wa_single_text("wamid.HUGE", &"a".repeat(300 * 1024));
    assert_eq!(w.deliver("whatsapp", &meta_bytes(&delivery)).await.0, 500);
    assert!(w.drain().await.is_empty(), "no pointer to an object that does not exist");
}
