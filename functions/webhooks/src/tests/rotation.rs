//! A rotated secret is picked up without a redeploy: a signature that fails makes the
//! function fetch its secrets again from the store, at most once a minute.

use async_trait::async_trait;
use gestor_shared::ports::secrets::{SecretError, SecretSource};
use gestor_shared::settings::Setting;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use super::fixtures::*;
use super::{META_SECRET, NOW_SECS, TIKTOK_SECRET, VERIFY_TOKEN, answer, post, world};
use crate::sign_meta;

/// The store after the app secret was rotated; counts what it is asked.
struct Rotated {
    app_secret: Mutex<String>,
    fetches: AtomicU64,
}

#[async_trait]
impl SecretSource for Rotated {
    async fn fetch(&self, setting: Setting) -> Result<String, SecretError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(match setting {
            Setting::MetaAppSecret => self.app_secret.lock().map(|s| s.clone()).unwrap_or_default(),
            Setting::MetaVerifyToken => VERIFY_TOKEN.into(),
            _ => TIKTOK_SECRET.into(),
        })
    }
}

#[tokio::test]
async fn a_rotated_app_secret_is_fetched_again_at_most_once_a_minute() {
    let store =
        Arc::new(Rotated { app_secret: Mutex::new("secreto-rotado".into()), fetches: AtomicU64::new(0) });
    let seconds = Arc::new(AtomicU64::new(NOW_SECS));
    let clock = seconds.clone();
    let mut w = world();
    w.webhooks = w
        .webhooks
        .with_clock(Arc::new(move || UNIX_EPOCH + Duration::from_secs(clock.load(Ordering::SeqCst))))
        .with_secret_source(Some(store.clone() as Arc<dyn SecretSource>));
    let body = meta_bytes(&wa_single_text("wamid.ROTATED", "Hola"));
    let signed = |secret: &str| {
        post("whatsapp", &body).header("x-hub-signature-256", &sign_meta(secret, body.as_bytes()))
    };

    // Signed with the new secret: refused by the old one, accepted after one fetch.
    let (status, answered) = answer(w.send(signed("secreto-rotado")).await);
    assert_eq!(status, 200, "{answered}");
    assert_eq!(store.fetches.load(Ordering::SeqCst), 3, "the function's three secrets, once");
    assert_eq!(w.drain().await.len(), 1);
    // The old secret no longer signs; the new one keeps working without fetching.
    assert_eq!(w.send(signed(META_SECRET)).await.status(), 401);
    assert_eq!(w.send(signed("secreto-rotado")).await.status(), 200);
    // A stranger's bad signatures within the minute cost no fetch.
    for _ in 0..5 {
        assert_eq!(w.send(signed("adivina")).await.status(), 401);
    }
    assert_eq!(store.fetches.load(Ordering::SeqCst), 3);
    // A minute later, a failure fetches again (and the store is asked again).
    seconds.fetch_add(61, Ordering::SeqCst);
    if let Ok(mut secret) = store.app_secret.lock() {
        *secret = "otra-rotacion".into();
    }
    let body2 = meta_bytes(&wa_single_text("wamid.ROTATED2", "Hola"));
    let request =
        post("whatsapp", &body2).header("x-hub-signature-256", &sign_meta("otra-rotacion", body2.as_bytes()));
    assert_eq!(w.send(request).await.status(), 200);
    assert_eq!(store.fetches.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn without_a_store_a_bad_signature_fetches_nothing() {
    let w = world();
    let body = meta_bytes(&wa_single_text("wamid.NOSTORE", "Hola"));
    let request =
        post("whatsapp", &body).header("x-hub-signature-256", &sign_meta("adivina", body.as_bytes()));
    assert_eq!(w.send(request).await.status(), 401);
}
