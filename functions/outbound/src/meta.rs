//! The Graph API's send requests and what their answers mean: WhatsApp Cloud API
//! (`POST /{phone-number-id}/messages`) and the Messenger Platform, which Instagram shares
//! (`POST /me/messages` with the Page's token).

use gestor_shared::domain::reply_window::Delivery;
use gestor_shared::domain::{Channel, MessageKind};
use gestor_shared::graph::SendAnswer;
use gestor_shared::repo::messages::Message;
use serde_json::{Value, json};
use std::time::Duration;

use crate::outcome::Outcome;

/// Where a message goes.
pub struct To<'a> {
    /// The account it goes through: the phone number id (a Page's token answers `/me`).
    pub account: &'a str,
    /// A `wa_id`, a PSID or an IGSID.
    pub recipient: &'a str,
    /// The channel's id of the customer's message it answers: WhatsApp threads the reply
    /// under it; Messenger and Instagram show replies unthreaded.
    pub context: Option<&'a str>,
}

/// The path and body that send `message`; `media_link` is where the channel downloads its
/// file.
pub fn request(
    channel: Channel,
    to: &To<'_>,
    message: &Message,
    delivery: Delivery,
    media_link: Option<&str>,
) -> Result<(String, Value), Outcome> {
    match channel {
        Channel::Whatsapp => {
            let mut body = whatsapp(to.recipient, message, media_link)?;
            if let Some(replied) = to.context {
                body["context"] = json!({"message_id": replied});
            }
            Ok((format!("/{}/messages", to.account), body))
        }
        Channel::Messenger | Channel::Instagram => {
            Ok(("/me/messages".into(), messenger(to.recipient, message, delivery, media_link)?))
        }
        // TikTok's request is its own (`tiktok.rs`).
        Channel::Tiktok => Err(Outcome::refused("unsupported", "not a Graph API channel")),
    }
}

/// The path and body of a read receipt for the customer's message `channel_message_id`:
/// WhatsApp marks that message read; Messenger and Instagram mark the conversation seen.
pub fn receipt(
    channel: Channel,
    external_id: &str,
    recipient: &str,
    channel_message_id: &str,
) -> Option<(String, Value)> {
    match channel {
        Channel::Whatsapp => Some((
            format!("/{external_id}/messages"),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": channel_message_id}),
        )),
        Channel::Messenger | Channel::Instagram => Some((
            "/me/messages".into(),
            json!({"recipient": {"id": recipient}, "sender_action": "mark_seen"}),
        )),
        Channel::Tiktok => None,
    }
}

fn whatsapp(to: &str, message: &Message, media_link: Option<&str>) -> Result<Value, Outcome> {
    let base = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
    let mut body = base;
    match message.kind {
        MessageKind::Text => {
            let text = message.text.as_deref().unwrap_or_default();
            body["type"] = "text".into();
            body["text"] = json!({"preview_url": false, "body": text});
        }
        MessageKind::Template => {
            let template =
                message.details.as_ref().and_then(|d| d.get("template")).cloned().unwrap_or_default();
            let parameters: Vec<Value> = template["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|p| json!({"type": "text", "text": p}))
                .collect();
            let mut sent = json!({"name": template["name"], "language": {"code": template["language"]}});
            if !parameters.is_empty() {
                sent["components"] = json!([{"type": "body", "parameters": parameters}]);
            }
            body["type"] = "template".into();
            body["template"] = sent;
        }
        MessageKind::Interactive => {
            let stored =
                message.details.as_ref().and_then(|d| d.get("interactive")).cloned().unwrap_or_default();
            body["type"] = "interactive".into();
            body["interactive"] = interactive(&stored);
        }
        kind @ (MessageKind::Image
        | MessageKind::Video
        | MessageKind::Audio
        | MessageKind::Document
        | MessageKind::Sticker) => {
            let Some(link) = media_link else { return Err(no_file()) };
            let media = message.media.as_ref();
            let mut sent = json!({"link": link});
            if let Some(caption) = media.and_then(|m| m.caption.as_deref()) {
                sent["caption"] = caption.into();
            }
            if kind == MessageKind::Document
                && let Some(filename) = media.and_then(|m| m.filename.as_deref())
            {
                sent["filename"] = filename.into();
            }
            body["type"] = kind.as_str().into();
            body[kind.as_str()] = sent;
        }
        other => {
            return Err(Outcome::refused(
                "unsupported",
                &format!("{} replies are not available yet", other.as_str()),
            ));
        }
    }
    Ok(body)
}

pub(crate) fn no_file() -> Outcome {
    Outcome::refused("file_gone", "the message's file is not in the bucket")
}

/// The Cloud API's `interactive` object of a stored (normalized) interactive message.
fn interactive(stored: &Value) -> Value {
    let body = json!({"text": stored["body"]});
    if stored["type"] == "list" {
        let sections = stored["sections"].clone();
        return json!({"type": "list", "body": body, "action": {"button": stored["button"], "sections": sections}});
    }
    let buttons: Vec<Value> = stored["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| json!({"type": "reply", "reply": {"id": b["id"], "title": b["title"]}}))
        .collect();
    json!({"type": "button", "body": body, "action": {"buttons": buttons}})
}

fn messenger(
    recipient: &str,
    message: &Message,
    delivery: Delivery,
    media_link: Option<&str>,
) -> Result<Value, Outcome> {
    let sent = match message.kind {
        MessageKind::Text => json!({"text": message.text.as_deref().unwrap_or_default()}),
        kind @ (MessageKind::Image | MessageKind::Video | MessageKind::Audio | MessageKind::Document) => {
            let Some(link) = media_link else { return Err(no_file()) };
            let kind = if kind == MessageKind::Document { "file" } else { kind.as_str() };
            json!({"attachment": {"type": kind, "payload": {"url": link, "is_reusable": false}}})
        }
        other => {
            return Err(Outcome::refused(
                "unsupported",
                &format!("{} replies are not available on Messenger and Instagram", other.as_str()),
            ));
        }
    };
    let mut body = json!({"recipient": {"id": recipient}, "message": sent});
    match delivery {
        Delivery::HumanAgent => {
            body["messaging_type"] = "MESSAGE_TAG".into();
            body["tag"] = "HUMAN_AGENT".into();
        }
        Delivery::Response | Delivery::Template => body["messaging_type"] = "RESPONSE".into(),
    }
    Ok(body)
}

/// What the Graph API's answer to a send means.
pub fn outcome(channel: Channel, answer: &SendAnswer) -> Outcome {
    let body = answer.body.clone().unwrap_or(Value::Null);
    if (200..300).contains(&answer.status) {
        let id = match channel {
            Channel::Whatsapp => body.pointer("/messages/0/id"),
            _ => body.get("message_id"),
        };
        return match id.and_then(Value::as_str).filter(|id| !id.is_empty()) {
            Some(id) => Outcome::Accepted(id.to_owned()),
            // Accepted or not, nobody can tell: treated as a passing failure, so a retry may
            // send it twice rather than never.
            None => Outcome::again("the channel answered without a message id"),
        };
    }
    let error = &body["error"];
    let code = error["code"].as_i64();
    let subcode = error["error_subcode"].as_i64();
    let reason = error["error_data"]["details"]
        .as_str()
        .or(error["message"].as_str())
        .unwrap_or("the channel refused the message")
        .to_owned();
    let named = |title: &str| Outcome::refused(&code.map(|c| c.to_string()).unwrap_or_default(), title);
    match (code, subcode) {
        // The token expired or was revoked (190, 102), or lost the permission to send (10,
        // 200): no reply goes through this account until an admin connects it again.
        (Some(code @ (190 | 102 | 200)), _) | (Some(code @ 10), None) => {
            Outcome::TokenRefused { code: code.to_string() }
        }
        // WhatsApp: the customer's pair rate (about one message per 6 s to one user) holds
        // back this conversation only; the number's throughput, all of the number's.
        (Some(131056), _) => {
            Outcome::paced(Duration::from_secs(7), "WhatsApp's pace for one customer (131056)")
        }
        (Some(130429), _) => {
            Outcome::account_paced(Duration::from_secs(2), "the number's throughput limit (130429)")
        }
        (Some(131047), _) => {
            named("more than 24 hours since the customer's last message: send an approved template (131047)")
        }
        (Some(131026), _) => named(
            "the message could not be delivered to this customer: the number may not use WhatsApp (131026)",
        ),
        (Some(131048), _) => {
            named("WhatsApp limited this number for spam reports: sending is paused (131048)")
        }
        (Some(132000), _) => named("the template's parameters do not match the approved template (132000)"),
        (Some(132001), _) => {
            named("the template does not exist or is not approved in this language (132001)")
        }
        (Some(10), Some(2018278)) => {
            named("outside Messenger's window: the customer must write again (10/2018278)")
        }
        (Some(551), _) => named("this person is not available to receive messages (551)"),
        // Graph's own rate limits (application, user, Page; WhatsApp's account limit): they
        // last minutes, so they pace rather than spend the failure budget.
        (Some(code @ (4 | 17 | 32 | 613 | 80007)), _) => {
            Outcome::account_paced(Duration::from_secs(60), &format!("the channel's rate limit ({code})"))
        }
        _ if answer.status == 429 || answer.status >= 500 => {
            Outcome::again(&format!("the channel failed (HTTP {})", answer.status))
        }
        _ => Outcome::refused(
            &code.map(|c| c.to_string()).unwrap_or_else(|| answer.status.to_string()),
            &reason,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, code: i64, subcode: Option<i64>) -> Outcome {
        let mut error = json!({"message": "refused", "code": code});
        if let Some(subcode) = subcode {
            error["error_subcode"] = subcode.into();
        }
        outcome(Channel::Whatsapp, &SendAnswer { status, body: Some(json!({"error": error})) })
    }

    #[test]
    fn the_channels_codes_say_whether_to_wait_give_up_or_reconnect() {
        let kind = |o: Outcome| match o {
            Outcome::Accepted(_) => "accepted",
            Outcome::Again { pace: true, .. } => "pace",
            Outcome::Again { pace: false, .. } => "again",
            Outcome::Refused { .. } => "refused",
            Outcome::TokenRefused { .. } => "reconnect",
        };
        let cases = [
            ((401, 190, None), "reconnect"),
            ((400, 102, None), "reconnect"),
            ((403, 10, None), "reconnect"),
            ((403, 200, None), "reconnect"),
            ((400, 10, Some(2018278)), "refused"),
            ((400, 131047, None), "refused"),
            ((400, 131026, None), "refused"),
            ((400, 132001, None), "refused"),
            ((400, 131056, None), "pace"),
            ((400, 130429, None), "pace"),
            ((400, 80007, None), "pace"),
            ((400, 4, None), "pace"),
            ((400, 613, None), "pace"),
            ((500, 1, None), "again"),
            ((400, 100, None), "refused"),
        ];
        for ((status, code, subcode), expected) in cases {
            assert_eq!(kind(refusal(status, code, subcode)), expected, "{status} {code} {subcode:?}");
        }
        let unavailable = outcome(Channel::Messenger, &SendAnswer { status: 503, body: None });
        assert_eq!(kind(unavailable), "again");
        let no_id =
            outcome(Channel::Whatsapp, &SendAnswer { status: 200, body: Some(json!({"messages": []})) });
        assert_eq!(kind(no_id), "again");
    }
}
