//! The two routes: the verification handshake and the delivery.

use gestor_shared::http::problem::{FieldError, Problem};
use gestor_shared::http::{ApiError, Call, Reply};
use gestor_shared::inbound::{Channel, QUARANTINE_PREFIX};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::SystemTime;

use crate::updates::{self, Prepared, QueueMessage};
use crate::{MAX_BODY, Webhooks, batch};

/// Longest challenge echoed back (Meta's are a few digits).
const MAX_CHALLENGE: usize = 1024;

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(Received, Problem, FieldError)))]
pub struct ApiDoc;

/// The answer to a delivery once every update in it is stored.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Received {
    /// Updates queued from the delivery.
    pub received: usize,
    /// The delivery was signed but could not be parsed: it is kept, raw, for inspection.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
}

fn channel(call: &Call) -> Result<Channel, ApiError> {
    Channel::parse(call.path_param("channel")?).ok_or(ApiError::NotFound)
}

/// Meta's subscription handshake: with `hub.mode=subscribe` and the right
/// `hub.verify_token`, echo `hub.challenge` as text. TikTok has no such handshake (it sends a
/// signed test event); a `challenge` parameter is echoed all the same.
#[utoipa::path(
    get, path = "/webhooks/{channel}", tag = "webhooks",
    params(
        ("channel" = String, Path, description = "whatsapp, messenger, instagram or tiktok"),
        ("hub.mode" = Option<String>, Query, description = "Meta: subscribe"),
        ("hub.verify_token" = Option<String>, Query, description = "Meta: the token set in the app's webhook settings"),
        ("hub.challenge" = Option<String>, Query, description = "Meta: echoed verbatim"),
        ("challenge" = Option<String>, Query, description = "TikTok: echoed verbatim"),
    ),
    responses(
        (status = 200, description = "The challenge, verbatim", body = String, content_type = "text/plain"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn verify(app: &Webhooks, call: Call) -> Result<Reply, ApiError> {
    let channel = channel(&call)?;
    let challenge_name = if channel.is_meta() { "hub.challenge" } else { "challenge" };
    let challenge = call
        .query_param(challenge_name)
        .ok_or_else(|| ApiError::invalid_field(challenge_name, "is required"))?;
    if challenge.len() > MAX_CHALLENGE {
        return Err(ApiError::invalid_field(challenge_name, "is too long"));
    }
    if channel.is_meta() {
        if call.query_param("hub.mode") != Some("subscribe") {
            return Err(ApiError::invalid_field("hub.mode", "must be subscribe"));
        }
        if !call.query_param("hub.verify_token").is_some_and(|t| app.secrets().is_verify_token(t)) {
            tracing::warn!(%channel, "webhook verification with a wrong token");
            return Err(ApiError::Forbidden("the verify token does not match".into()));
        }
    }
    Ok(Reply::raw(200, "text/plain", challenge))
}

/// A channel's delivery: verified, split per update and queued; 200 once all of it is
/// stored, 5xx otherwise so that the channel delivers it again.
#[utoipa::path(
    post, path = "/webhooks/{channel}", tag = "webhooks",
    params(
        ("channel" = String, Path, description = "whatsapp, messenger, instagram or tiktok"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "Meta: sha256=<hex HMAC-SHA256 of the raw body with the app secret>"),
        ("TikTok-Signature" = Option<String>, Header, description = "TikTok: t=<unix seconds>,s=<hex HMAC-SHA256 of \"{t}.{raw body}\" with the client secret>"),
    ),
    request_body(content = Object, content_type = "application/json", description = "The channel's delivery, exactly as signed"),
    responses(
        (status = 200, body = Received, description = "Stored: queued, or quarantined when signed but unparsable"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Missing or bad signature; nothing kept"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "Above 6 MB"),
        (status = 500, body = Problem, content_type = "application/problem+json", description = "Not stored; the channel retries"),
    ),
    security(())
)]
pub async fn receive(app: &Webhooks, mut call: Call) -> Result<Reply, ApiError> {
    let channel = channel(&call)?;
    if call.body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge { limit_bytes: MAX_BODY });
    }
    let now = (app.clock)();
    let mut prepared = updates::prepare(&app.secrets(), channel, &call.headers, &call.body, now);
    if prepared.is_err()
        && let Some(fresh) = app.refetched_secrets().await
    {
        // The secret may have been rotated since the cold start.
        prepared = updates::prepare(&fresh, channel, &call.headers, &call.body, now);
    }
    match prepared {
        Err(reason) => {
            let reason = reason.as_str();
            app.metrics.count(
                "WebhookSignatureFailures",
                &[("Channel", channel.as_str())],
                &[("Reason", reason)],
            );
            tracing::warn!(%channel, reason, bytes = call.body.len(), "webhook signature refused");
            Err(ApiError::BadSignature)
        }
        Ok(Prepared::Unparsable(reason)) => {
            let content_type = call.header("content-type").map(str::to_owned);
            quarantine(app, channel, std::mem::take(&mut call.body), content_type, reason, now).await
        }
        Ok(Prepared::Updates(messages)) => enqueue(app, channel, messages).await,
    }
}

async fn enqueue(
    app: &Webhooks,
    channel: Channel,
    mut messages: Vec<QueueMessage>,
) -> Result<Reply, ApiError> {
    let received = messages.len();
    if let Some(other) = messages.iter().map(|m| m.channel).find(|c| *c != channel) {
        // One callback URL for several Meta products: the delivery's `object` decides.
        tracing::warn!(%channel, delivered = %other, "a delivery for another channel on this route");
    }
    let mut overflowed = 0;
    for overflow in messages.iter_mut().filter_map(|m| m.overflow.take()) {
        app.files
            .put(&overflow.key, overflow.bytes, "application/json")
            .await
            .map_err(|e| ApiError::Internal(format!("storing an oversized update: {e}")))?;
        overflowed += 1;
    }
    let batches = batch::pack(messages);
    let calls = batches.len();
    batch::send_all(&app.queue, &app.inbound_queue, batches)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(%channel, updates = received, calls, overflowed, "delivery queued");
    Reply::ok(&Received { received, quarantined: false })
}

async fn quarantine(
    app: &Webhooks,
    channel: Channel,
    body: Vec<u8>,
    content_type: Option<String>,
    reason: &'static str,
    now: SystemTime,
) -> Result<Reply, ApiError> {
    let date = time::OffsetDateTime::from(now).date();
    let key = format!("{QUARANTINE_PREFIX}{channel}/{date}/{}", hex::encode(Sha256::digest(&body)));
    let content_type = content_type
        .filter(|t| t.len() <= 200 && t.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .unwrap_or_else(|| "application/octet-stream".into());
    let bytes = body.len();
    app.files
        .put(&key, body, &content_type)
        .await
        .map_err(|e| ApiError::Internal(format!("quarantining a delivery: {e}")))?;
    app.metrics.count("WebhookQuarantined", &[("Channel", channel.as_str())], &[("Reason", reason)]);
    tracing::warn!(%channel, reason, key, bytes, "signed delivery quarantined");
    Reply::ok(&Received { received: 0, quarantined: true })
}
