//! A stand-in for the channels' send APIs (and the WhatsApp templates listing) on a laptop: unless `META_GRAPH_URL` is set (or
//! `GESTOR_FAKE_CHANNELS=false`), the sender's Graph API is this server's `/dev/graph`, and
//! unless `TIKTOK_API_URL` is set, TikTok's is `/dev/tiktok`. Both accept every message,
//! answer it an id as the channel would, and keep the last ones for `GET /dev/outbox`. So a
//! reply written on a laptop goes `queued` → `sent`, and the developer sees exactly what the
//! channel would have received.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Sends kept for `GET /dev/outbox`.
const KEPT: usize = 50;

/// The business account and number the stand-in knows (the README's examples).
const LOCAL_WABA: &str = "102290129340398";
const LOCAL_NUMBER: &str = "106540352242922";
/// The Page and its Instagram account any token controls here.
const LOCAL_PAGE: &str = "104000000000001";
const LOCAL_INSTAGRAM: &str = "17841400000000001";

/// Two templates of the local business account, as the Graph API lists them.
fn local_templates() -> Value {
    json!({"data": [
        {"name": "seguimiento_pedido", "language": "es_MX", "status": "APPROVED", "category": "UTILITY",
         "id": "100000000000001", "components": [{"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} va en camino."}]},
        {"name": "promo_fin_de_semana", "language": "es_MX", "status": "PENDING", "category": "MARKETING",
         "id": "100000000000002", "components": [{"type": "BODY", "text": "¡Este fin de semana 2x1!"}]}
    ], "paging": {"cursors": {"before": "A", "after": "B"}}})
}

#[derive(Default)]
pub struct FakeGraph {
    outbox: Mutex<VecDeque<Value>>,
}

impl FakeGraph {
    /// The answer to `method path` under `/dev/graph` or `/dev/tiktok`, and the status.
    pub fn answer(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        if let Some(rest) = path.strip_prefix("/dev/tiktok") {
            return self.tiktok(method, rest, body);
        }
        let rest = path.trim_start_matches("/dev/graph").trim_matches('/');
        let segments: Vec<&str> = rest.split('/').collect();
        let sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let id = format!("LOCAL{}", ulid::Ulid::new());
        match (method, segments.as_slice()) {
            // What any token is here: the local Page's own, granted the README's business
            // account (whose one number is the README's).
            ("GET", ["debug_token"]) => (
                200,
                json!({"data": {"is_valid": true, "type": "PAGE", "profile_id": LOCAL_PAGE, "granular_scopes": [
                    {"scope": "whatsapp_business_management", "target_ids": [LOCAL_WABA]},
                    {"scope": "whatsapp_business_messaging", "target_ids": [LOCAL_WABA]}]}}),
            ),
            ("GET", [LOCAL_WABA, "phone_numbers"]) => (
                200,
                json!({"data": [{"id": LOCAL_NUMBER, "display_phone_number": "+52 55 1234 5678",
                                 "verified_name": "Local test number"}]}),
            ),
            ("GET", [_, "message_templates"]) => (200, local_templates()),
            // What `POST /v1/channels` checks a token with.
            ("GET", [account]) => (
                200,
                json!({"id": account, "name": "Local test account", "verified_name": "Local test number",
                       "instagram_business_account": {"id": LOCAL_INSTAGRAM}}),
            ),
            ("POST", ["me", "messages"]) => {
                let recipient = sent["recipient"]["id"].clone();
                self.keep(path, &sent);
                (200, json!({"recipient_id": recipient, "message_id": format!("m_{id}")}))
            }
            ("POST", [_, "messages"]) => {
                let to = sent["to"].clone();
                self.keep(path, &sent);
                (
                    200,
                    json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                             "messages": [{"id": format!("wamid.{id}"), "message_status": "accepted"}]}),
                )
            }
            _ => (
                404,
                json!({"error": {"message": "the local fake serves sends and account checks only", "code": 803}}),
            ),
        }
    }

    /// TikTok's Business API: account checks and sends, answered HTTP 200 with a `code`.
    fn tiktok(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let path = path.split('?').next().unwrap_or_default();
        match (method, path) {
            ("GET", "/business/get/") => {
                (200, json!({"code": 0, "message": "OK", "data": {"display_name": "Local TikTok account"}}))
            }
            ("POST", "/business/message/media/upload/") => {
                let id = format!("LOCALIMG{}", ulid::Ulid::new());
                (200, json!({"code": 0, "message": "OK", "data": {"media_id": id}}))
            }
            ("POST", "/business/message/send/") => {
                let sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                self.keep(&format!("/dev/tiktok{path}"), &sent);
                let id = format!("LOCAL{}", ulid::Ulid::new());
                (200, json!({"code": 0, "message": "OK", "data": {"message": {"message_id": id}}}))
            }
            _ => (
                200,
                json!({"code": 40002, "message": "the local fake serves sends and account checks only"}),
            ),
        }
    }

    fn keep(&self, path: &str, body: &Value) {
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.push_front(json!({"path": path.trim_start_matches("/dev/graph"), "body": body}));
            outbox.truncate(KEPT);
        }
    }

    /// The latest sends, newest first.
    pub fn outbox(&self) -> Value {
        self.outbox.lock().map(|o| Value::Array(o.iter().cloned().collect())).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_answers_sends_as_the_channels_do_and_keeps_them_newest_first() {
        let fake = FakeGraph::default();
        let (status, answer) =
            fake.answer("POST", "/dev/graph/106540352242922/messages", br#"{"to": "5215512345678"}"#);
        assert_eq!(status, 200);
        assert!(answer["messages"][0]["id"].as_str().is_some_and(|id| id.starts_with("wamid.LOCAL")));
        let (_, answer) = fake.answer("POST", "/dev/graph/me/messages", br#"{"recipient": {"id": "65432"}}"#);
        assert_eq!(answer["recipient_id"], "65432");
        assert!(answer["message_id"].as_str().is_some_and(|id| id.starts_with("m_LOCAL")));
        let (status, account) = fake.answer("GET", "/dev/graph/106540352242922", b"");
        assert_eq!((status, &account["id"]), (200, &json!("106540352242922")));
        assert_eq!(fake.answer("DELETE", "/dev/graph/x/subscribed_apps", b"").0, 404);
        let (_, templates) = fake.answer("GET", "/dev/graph/102290129340398/message_templates", b"");
        assert_eq!(templates["data"][0]["status"], "APPROVED");
        let (status, account) = fake.answer("GET", "/dev/tiktok/business/get/?business_id=b1", b"");
        assert_eq!((status, &account["code"]), (200, &json!(0)));
        let (_, sent) = fake.answer("POST", "/dev/tiktok/business/message/send/", br#"{"recipient": "c1"}"#);
        assert!(sent["data"]["message"]["message_id"].as_str().is_some_and(|id| id.starts_with("LOCAL")));
        let outbox = fake.outbox();
        assert_eq!(outbox[0]["path"], "/dev/tiktok/business/message/send/");
        let outbox = Value::Array(outbox.as_array().into_iter().flatten().skip(1).cloned().collect());
        assert_eq!(outbox[0]["path"], "/me/messages");
        assert_eq!(outbox[1]["body"]["to"], "5215512345678");
    }
}
