//! What each WhatsApp message `type` carries: the text, the media reference, the location,
//! contact cards, the option picked in a button, list or flow, an order, a system notice.
//! Reactions and revokes are not messages and are read in [`super::whatsapp`].
//!
//! A type this code does not know, or a known type whose content is missing, becomes kind
//! `unsupported` with the type's name: the customer wrote something and it must show.

use serde_json::Value;

use super::model::{
    IncomingMessage, InteractiveReply, Location, MediaKind, MediaRef, MessageKind, ReplyKind,
};
use super::read::{flag, items, meta_error, name_of, number, object, text};

/// Fills `msg` from the WhatsApp message `m` of type `kind`.
pub(super) fn fill(msg: &mut IncomingMessage, kind: Option<&str>, m: &Value) {
    if let Some(context) = object(m, "context") {
        // A forward's context has no id; a reply's names the message replied to.
        msg.reply_to = text(context, "id");
        msg.forwarded = flag(context, "forwarded") || flag(context, "frequently_forwarded");
    }
    msg.referral = m.get("referral").filter(|r| r.is_object()).cloned();
    msg.errors = items(m, "errors").iter().map(meta_error).collect();
    let Some(kind) = kind else {
        msg.unsupported(None);
        return;
    };
    if !read_content(msg, kind, m) {
        // `unsupported` messages name the type WhatsApp could not deliver (`poll_creation` ...).
        let inner = object(m, "unsupported").and_then(|u| text(u, "type"));
        msg.unsupported(Some(inner.as_deref().unwrap_or(kind)));
    }
}

/// Reads the content of a known type; false when the type is unknown or its content absent.
fn read_content(msg: &mut IncomingMessage, kind: &str, m: &Value) -> bool {
    if kind == "contacts" {
        msg.shared_contacts = items(m, "contacts").to_vec();
        msg.kind = MessageKind::Contacts;
        return !msg.shared_contacts.is_empty();
    }
    let Some(body) = object(m, kind) else {
        return false;
    };
    match kind {
        "text" => set_text(msg, MessageKind::Text, text(body, "body")),
        "image" => media(msg, MediaKind::Image, body),
        "video" => media(msg, MediaKind::Video, body),
        "audio" => media(msg, MediaKind::Audio, body),
        "document" => media(msg, MediaKind::Document, body),
        "sticker" => media(msg, MediaKind::Sticker, body),
        "location" => location(msg, body),
        "interactive" => interactive(msg, body),
        "button" => {
            let (payload, label) = (text(body, "payload"), text(body, "text"));
            if payload.is_none() && label.is_none() {
                return false;
            }
            msg.reply = Some(reply(ReplyKind::TemplateButton, payload, label.clone()));
            set_text(msg, MessageKind::Button, label);
            true
        }
        "order" => {
            msg.order = Some(body.clone());
            set_text(msg, MessageKind::Order, text(body, "text"));
            true
        }
        "system" => {
            msg.system = Some(body.clone());
            set_text(msg, MessageKind::System, text(body, "body"));
            true
        }
        _ => false,
    }
}

/// Sets the kind and text; true when there was a text.
fn set_text(msg: &mut IncomingMessage, kind: MessageKind, value: Option<String>) -> bool {
    msg.kind = kind;
    msg.text = value;
    msg.text.is_some()
}

fn media(msg: &mut IncomingMessage, kind: MediaKind, body: &Value) -> bool {
    let media = MediaRef {
        media_id: text(body, "id"),
        url: text(body, "url"),
        mime_type: text(body, "mime_type"),
        sha256: text(body, "sha256"),
        caption: text(body, "caption"),
        filename: text(body, "filename"),
        voice: flag(body, "voice"),
        ..MediaRef::new(kind)
    };
    if media.media_id.is_none() && media.url.is_none() {
        return false;
    }
    msg.kind = match kind {
        MediaKind::Image | MediaKind::Story => MessageKind::Image,
        MediaKind::Video => MessageKind::Video,
        MediaKind::Audio => MessageKind::Audio,
        MediaKind::Document => MessageKind::Document,
        MediaKind::Sticker => MessageKind::Sticker,
    };
    msg.text = media.caption.clone();
    msg.media = Some(media);
    true
}

fn location(msg: &mut IncomingMessage, body: &Value) -> bool {
    let place = Location {
        latitude: number(body, "latitude"),
        longitude: number(body, "longitude"),
        name: text(body, "name"),
        address: text(body, "address"),
        url: text(body, "url"),
    };
    if place.latitude.is_none()
        && place.longitude.is_none()
        && place.name.is_none()
        && place.address.is_none()
    {
        return false;
    }
    msg.kind = MessageKind::Location;
    msg.location = Some(place);
    true
}

/// Replies to interactive messages: `button_reply` and `list_reply` (`id`, `title`,
/// `description`) and `nfm_reply` (a flow: `name`, `body`, `response_json` as a JSON string).
fn interactive(msg: &mut IncomingMessage, body: &Value) -> bool {
    let sub = text(body, "type");
    let (kind, key) = match sub.as_deref() {
        Some("button_reply") => (ReplyKind::ButtonReply, "button_reply"),
        Some("list_reply") => (ReplyKind::ListReply, "list_reply"),
        Some("nfm_reply") => (ReplyKind::NfmReply, "nfm_reply"),
        _ => {
            msg.unsupported(Some(&format!("interactive.{}", name_of(sub.as_deref()))));
            return true;
        }
    };
    let Some(answer) = object(body, key) else {
        return false;
    };
    let picked = if kind == ReplyKind::NfmReply {
        InteractiveReply {
            response_json: answer.get("response_json").and_then(|raw| match raw {
                Value::String(s) => Some(serde_json::from_str(s).unwrap_or_else(|_| raw.clone())),
                Value::Null => None,
                other => Some(other.clone()),
            }),
            ..reply(kind, text(answer, "name"), text(answer, "body"))
        }
    } else {
        InteractiveReply {
            description: text(answer, "description"),
            ..reply(kind, text(answer, "id"), text(answer, "title"))
        }
    };
    msg.kind = MessageKind::Interactive;
    msg.text = picked.title.clone();
    msg.reply = Some(picked);
    true
}

fn reply(kind: ReplyKind, id: Option<String>, title: Option<String>) -> InteractiveReply {
    InteractiveReply { kind, id, title, description: None, response_json: None }
}

#[cfg(test)]
mod tests {
    use super::super::model::ChannelError;
    use super::super::normalize;
    use super::super::tests::{envelope, fixture, one_message};
    use super::*;
    use crate::inbound::{Channel, InboundEnvelope, UpdateKind};
    use serde_json::json;

    fn wa(message: Value) -> InboundEnvelope {
        let mut env = envelope(Channel::Whatsapp, UpdateKind::Message, "messages", message);
        env.profile = Some(json!({"profile": {"name": "Ana"}, "wa_id": "5215512345678"}));
        env
    }

    /// A customer's message of `kind` with `body` as its content.
    fn of(kind: &str, body: Value) -> IncomingMessage {
        let mut m = json!({"from": "5215512345678", "id": format!("wamid.{kind}"), "timestamp": "1795859970", "type": kind});
        m[kind] = body;
        one_message(normalize(&wa(m)))
    }

    #[test]
    fn media_messages_keep_the_reference_to_download() {
        let image = of(
            "image",
            json!({"caption": "Mi pedido 📦", "mime_type": "image/jpeg",
                                       "sha256": "IKBOuStShB9mS8Ga1lODt9jmBDnoN6fHz3VTTHCovgs=", "id": "1003383421387256"}),
        );
        assert_eq!((image.kind, image.text.as_deref()), (MessageKind::Image, Some("Mi pedido 📦")));
        let media = image.media.unwrap_or_else(|| panic!("media"));
        assert_eq!((media.kind, media.media_id.as_deref()), (MediaKind::Image, Some("1003383421387256")));
        assert_eq!(media.sha256.as_deref(), Some("IKBOuStShB9mS8Ga1lODt9jmBDnoN6fHz3VTTHCovgs="));
        let voice = of(
            "audio",
            json!({"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": "A1", "voice": true}),
        );
        assert_eq!(voice.kind, MessageKind::Audio);
        assert!(
            voice
                .media
                .as_ref()
                .is_some_and(|m| m.voice && m.mime_type.as_deref() == Some("audio/ogg; codecs=opus"))
        );
        let file = of(
            "document",
            json!({"caption": "Factura", "filename": "factura-0042.pdf",
                                         "mime_type": "application/pdf", "sha256": "y", "id": "D1"}),
        );
        assert_eq!(file.kind, MessageKind::Document);
        assert_eq!(file.media.and_then(|m| m.filename).as_deref(), Some("factura-0042.pdf"));
        let video = of("video", json!({"mime_type": "video/mp4", "sha256": "z", "id": "V1"}));
        assert!(video.kind == MessageKind::Video && video.text.is_none());
        let sticker =
            of("sticker", json!({"mime_type": "image/webp", "sha256": "s", "id": "S1", "animated": false}));
        assert_eq!(sticker.media.map(|m| m.kind), Some(MediaKind::Sticker));
    }

    #[test]
    fn locations_and_contact_cards() {
        let place = of(
            "location",
            json!({"latitude": 19.4326, "longitude": -99.1332, "name": "Zócalo",
                                          "address": "Plaza de la Constitución, CDMX", "url": "https://maps.example/z"}),
        );
        assert_eq!(place.kind, MessageKind::Location);
        let loc = place.location.unwrap_or_else(|| panic!("location"));
        assert_eq!(
            (loc.latitude, loc.longitude, loc.name.as_deref()),
            (Some(19.4326), Some(-99.1332), Some("Zócalo"))
        );
        let card = json!({"name": {"formatted_name": "Lupita Hernández", "first_name": "Lupita"},
                          "phones": [{"phone": "+52 55 8765 4321", "wa_id": "5215587654321", "type": "CELL"}]});
        let mut m =
            json!({"from": "5215512345678", "id": "wamid.C", "timestamp": "1795859970", "type": "contacts"});
        m["contacts"] = json!([card.clone()]);
        let contacts = one_message(normalize(&wa(m)));
        assert_eq!((contacts.kind, contacts.shared_contacts), (MessageKind::Contacts, vec![card]));
    }

    #[test]
    fn interactive_replies_buttons_lists_and_flows() {
        let mut env = wa(fixture(include_str!("../../tests/fixtures/channels/whatsapp/button_reply.json")));
        env.update_id = None;
        let button = one_message(normalize(&env));
        assert_eq!((button.kind, button.text.as_deref()), (MessageKind::Interactive, Some("Sí, confirmar")));
        assert_eq!(button.reply_to.as_deref(), Some("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjQ0QzY5"));
        let reply = button.reply.unwrap_or_else(|| panic!("reply"));
        assert_eq!((reply.kind, reply.id.as_deref()), (ReplyKind::ButtonReply, Some("confirm-order-42")));
        let list = of(
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": "express", "title": "Envío exprés", "description": "1 a 2 días"}}),
        );
        let reply = list.reply.unwrap_or_else(|| panic!("reply"));
        assert_eq!((reply.kind, reply.description.as_deref()), (ReplyKind::ListReply, Some("1 a 2 días")));
        let flow = of(
            "interactive",
            json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                      "response_json": "{\"flow_token\": \"t-1\", \"nombre\": \"José\", \"cita\": \"2026-12-01\"}"}}),
        );
        let reply = flow.reply.unwrap_or_else(|| panic!("reply"));
        assert_eq!(reply.kind, ReplyKind::NfmReply);
        assert_eq!(
            reply.response_json,
            Some(json!({"flow_token": "t-1", "nombre": "José", "cita": "2026-12-01"}))
        );
        let not_json = of(
            "interactive",
            json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": "{oops"}}),
        );
        assert_eq!(not_json.reply.and_then(|r| r.response_json), Some(json!("{oops")), "kept as sent");
        let unknown = of("interactive", json!({"type": "carousel_reply", "carousel_reply": {}}));
        assert_eq!(
            (unknown.kind, unknown.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("interactive.carousel_reply"))
        );
    }

    #[test]
    fn template_quick_replies_orders_and_system_notices() {
        let button = of("button", json!({"payload": "PROMO_SI", "text": "Me interesa"}));
        assert_eq!((button.kind, button.text.as_deref()), (MessageKind::Button, Some("Me interesa")));
        assert!(
            button
                .reply
                .is_some_and(|r| r.kind == ReplyKind::TemplateButton && r.id.as_deref() == Some("PROMO_SI"))
        );
        let order = json!({"catalog_id": "CAT1", "text": "Para el viernes", "product_items": [
            {"product_retailer_id": "SKU-7", "quantity": 2, "item_price": 149.5, "currency": "MXN"}]});
        let ordered = of("order", order.clone());
        assert_eq!(
            (ordered.kind, ordered.text.as_deref(), ordered.order),
            (MessageKind::Order, Some("Para el viernes"), Some(order))
        );
        let notice = json!({"body": "User Ana changed from 5215512345678 to 5215599999999", "wa_id": "5215599999999", "type": "user_changed_number"});
        let system = of("system", notice.clone());
        assert_eq!((system.kind, system.system), (MessageKind::System, Some(notice)));
    }

    #[test]
    fn unsupported_and_unknown_types_are_kept_with_their_errors() {
        let mut m = fixture(include_str!("../../tests/fixtures/channels/whatsapp/unsupported.json"));
        m["timestamp"] = json!("1795859970");
        let msg = one_message(normalize(&wa(m)));
        assert_eq!(
            (msg.kind, msg.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("poll_creation"))
        );
        assert_eq!(
            msg.errors,
            vec![ChannelError {
                code: Some(131051),
                title: Some("Message type unknown".into()),
                details: Some("Message type is currently not supported.".into())
            }]
        );
        let future = of("hologram", json!({"id": "H1"}));
        assert_eq!(
            (future.kind, future.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("hologram"))
        );
        let empty_image = of("image", json!({"caption": "sin archivo"}));
        assert_eq!(
            (empty_image.kind, empty_image.unsupported_type.as_deref()),
            (MessageKind::Unsupported, Some("image"))
        );
        let odd = one_message(normalize(&wa(
            json!({"from": "5215512345678", "id": "wamid.T", "text": "not an object"}),
        )));
        assert_eq!((odd.kind, odd.unsupported_type), (MessageKind::Unsupported, None));
    }

    #[test]
    fn forwards_and_click_to_whatsapp_referrals() {
        let mut m = json!({"from": "5215512345678", "id": "wamid.F", "timestamp": "1795859970", "type": "text",
                           "text": {"body": "mira esto"}, "context": {"forwarded": true}});
        let fwd = one_message(normalize(&wa(m.clone())));
        assert!(fwd.forwarded && fwd.reply_to.is_none());
        m["context"] = json!({"frequently_forwarded": true});
        assert!(one_message(normalize(&wa(m))).forwarded);
        let ad = json!({"source_url": "https://fb.me/3cr4Wqqkp", "source_id": "120212345678900123", "source_type": "ad",
                        "headline": "Envíos gratis", "body": "Pide hoy", "media_type": "image",
                        "image_url": "https://scontent.example/ad.jpg", "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a"});
        let referred = of("text", json!({"body": "Hola, vi su anuncio"}));
        assert!(referred.referral.is_none());
        let mut m = json!({"from": "5215512345678", "id": "wamid.AD", "timestamp": "1795859970", "type": "text",
                           "text": {"body": "Hola, vi su anuncio"}});
        m["referral"] = ad.clone();
        assert_eq!(one_message(normalize(&wa(m))).referral, Some(ad));
    }
}
