//! TikTok's Business Messaging send request and what its answers mean, in one place: TikTok
//! does not publish the shape, so it is what the integrations that work agree on, and a
//! change of it is a change of this file.
//!
//! `POST {TIKTOK_API_URL}/business/message/send/` with `Access-Token`:
//! `{"business_id", "recipient_type": "CONVERSATION", "recipient": <conversation id>,
//! "message_type": "TEXT", "text": {"body"}}`, with `referenced_message_info` for a reply; an
//! image is uploaded first (`POST .../business/message/media/upload/`, `multipart/form-data`
//! with `business_id`, `media_type: IMAGE` and `file`, answering `data.media_id`) and sent as
//! `"message_type": "IMAGE", "image": {"media_id"}`. The answer is HTTP 200 whatever
//! happened: `{"code": 0, "message", "request_id", "data": {"message": {"message_id"}}}` when
//! sent, another `code` when not.

use gestor_shared::domain::MessageKind;
use gestor_shared::graph::SendAnswer;
use gestor_shared::repo::messages::Message;
use serde_json::{Value, json};

use crate::outcome::Outcome;

pub const SEND_PATH: &str = "/business/message/send/";
pub const UPLOAD_PATH: &str = "/business/message/media/upload/";

/// The text fields of an image's upload for the business account.
pub fn upload_fields(business_id: &str) -> [(&'static str, &str); 2] {
    [("business_id", business_id), ("media_type", "IMAGE")]
}

/// The uploaded image's id, or what the upload's answer means.
pub fn uploaded(answer: &SendAnswer) -> Result<String, Outcome> {
    let id = answer.body.as_ref().and_then(|b| b.pointer("/data/media_id")).and_then(id_text);
    match (answer.body.as_ref().and_then(|b| b.get("code")).and_then(Value::as_i64), id) {
        (Some(0), Some(id)) if (200..300).contains(&answer.status) => Ok(id),
        (Some(0), None) => {
            Err(Outcome::refused("no_media_id", "TikTok took the image but named no id for it"))
        }
        _ => Err(outcome(answer)),
    }
}

/// TikTok's codes for a request made too often, and for a token it no longer takes.
const RATE_LIMITED: i64 = 40100;
const TOKEN_CODES: [i64; 3] = [40102, 40104, 40105];

/// The body that sends `message` into the TikTok conversation `conversation` of the business
/// account `business_id`; `replied` is TikTok's id of the message it answers.
/// `media_id` is the uploaded image of an image reply.
pub fn request(
    business_id: &str,
    conversation: &str,
    message: &Message,
    replied: Option<&str>,
    media_id: Option<&str>,
) -> Result<Value, Outcome> {
    let mut body = json!({
        "business_id": business_id,
        "recipient_type": "CONVERSATION",
        "recipient": conversation,
    });
    match (message.kind, media_id) {
        (MessageKind::Text, _) => {
            body["message_type"] = "TEXT".into();
            body["text"] = json!({"body": message.text.as_deref().unwrap_or_default()});
            // Only a text names the message it answers.
            if let Some(replied) = replied {
                body["referenced_message_info"] = json!({"referenced_message_id": replied});
            }
        }
        (MessageKind::Image, Some(media_id)) => {
            body["message_type"] = "IMAGE".into();
            body["image"] = json!({"media_id": media_id});
        }
        (kind, _) => {
            return Err(Outcome::refused(
                "unsupported",
                &format!("{} replies are not available on TikTok", kind.as_str()),
            ));
        }
    }
    Ok(body)
}

/// What TikTok's answer to a send means.
pub fn outcome(answer: &SendAnswer) -> Outcome {
    let body = answer.body.clone().unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_i64);
    let said = body.get("message").and_then(Value::as_str).unwrap_or("no reason given");
    if answer.status == 429 || answer.status >= 500 {
        return Outcome::again(&format!("TikTok answered HTTP {}", answer.status));
    }
    if answer.status == 401 {
        return Outcome::TokenRefused { code: "401".into() };
    }
    match code {
        Some(0) if (200..300).contains(&answer.status) => {
            // Integrations report the id under `data.message` and, for some, `data` itself.
            let id = body.pointer("/data/message/message_id").or_else(|| body.pointer("/data/message_id"));
            match id.and_then(id_text) {
                Some(id) => Outcome::Accepted(id),
                // Sent, perhaps, under no id we could match its statuses to: a resend would
                // be a second copy, so it stops here.
                None => Outcome::refused("no_message_id", "TikTok took the message but named no id for it"),
            }
        }
        Some(RATE_LIMITED) => {
            Outcome::account_paced(std::time::Duration::from_secs(10), "TikTok's rate limit")
        }
        Some(code) if TOKEN_CODES.contains(&code) => Outcome::TokenRefused { code: code.to_string() },
        Some(code) if (50000..60000).contains(&code) => {
            Outcome::again(&format!("TikTok's internal error {code}"))
        }
        Some(code) => Outcome::refused(&code.to_string(), &format!("TikTok refused the message: {said}")),
        None => Outcome::refused(
            &format!("http_{}", answer.status),
            &format!("TikTok answered HTTP {} without a code", answer.status),
        ),
    }
}

/// TikTok's ids are 64-bit numbers, sent as strings or as numbers.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> SendAnswer {
        SendAnswer { status, body: Some(body) }
    }

    #[test]
    fn a_sent_message_is_accepted_under_its_id_as_string_or_number() {
        let sent =
            answer(200, json!({"code": 0, "message": "OK", "data": {"message": {"message_id": "7401"}}}));
        assert_eq!(outcome(&sent), Outcome::Accepted("7401".into()));
        let numeric = answer(200, json!({"code": 0, "data": {"message": {"message_id": 7402}}}));
        assert_eq!(outcome(&numeric), Outcome::Accepted("7402".into()));
        let flat = answer(200, json!({"code": 0, "data": {"message_id": "7403"}}));
        assert_eq!(outcome(&flat), Outcome::Accepted("7403".into()));
    }

    #[test]
    fn codes_in_a_200_answer_decide() {
        let limited = outcome(&answer(200, json!({"code": 40100, "message": "Too many requests"})));
        assert!(matches!(limited, Outcome::Again { pace: true, .. }));
        let revoked = outcome(&answer(200, json!({"code": 40105, "message": "Access token is incorrect"})));
        assert_eq!(revoked, Outcome::TokenRefused { code: "40105".into() });
        let internal = outcome(&answer(200, json!({"code": 50000, "message": "System error"})));
        assert!(matches!(internal, Outcome::Again { pace: false, .. }));
        let bad = outcome(&answer(200, json!({"code": 40002, "message": "conversation expired"})));
        assert!(matches!(bad, Outcome::Refused { ref code, ref title }
            if code == "40002" && title.contains("conversation expired")));
    }

    #[test]
    fn http_failures_are_retried_or_reconnect() {
        assert!(matches!(outcome(&answer(503, Value::Null)), Outcome::Again { .. }));
        assert!(matches!(outcome(&answer(429, Value::Null)), Outcome::Again { .. }));
        assert_eq!(outcome(&answer(401, Value::Null)), Outcome::TokenRefused { code: "401".into() });
        let silent = SendAnswer { status: 200, body: None };
        assert!(matches!(outcome(&silent), Outcome::Refused { .. }));
    }
}
