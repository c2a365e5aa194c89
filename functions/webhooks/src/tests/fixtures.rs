//! Deliveries written from the channels' documented shapes (CHANNELS.md), encoded the way the
//! channels send them: Meta escapes non-ASCII as `\uXXXX` and `/` as `\/`.

use serde_json::{Value, json};

pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const WABA_ID: &str = "102290129340398";
pub const CUSTOMER: &str = "5215512345678";
pub const PAGE_ID: &str = "104758402341657";
pub const PSID: &str = "6543219876543210";
pub const IG_ACCOUNT: &str = "17841405822304914";
pub const IGSID: &str = "1254459154682919";
pub const TIKTOK_BUSINESS: &str = "-000Bus1nEss0penId";
pub const TIKTOK_CUSTOMER: &str = "7302118377011234567";

/// JSON as Meta writes it: ASCII only, non-ASCII as lowercase `\uXXXX` (UTF-16), `/` as `\/`.
pub fn meta_bytes(value: &Value) -> String {
    let plain = value.to_string();
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

pub fn wa_text(id: &str, from: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1795000000", "type": "text", "text": {"body": body}})
}

pub fn wa_image(id: &str, from: &str) -> Value {
    json!({
        "from": from, "id": id, "timestamp": "1795000005", "type": "image",
        "image": {"caption": "Así lo quiero, talla M", "mime_type": "image/jpeg",
                  "sha256": "HgcGAjGtsOg0x8ipR1Jv7ufJj4xfAFUxQ1GmuT1Uqfs=", "id": "1003383421387256"},
        "context": {"from": "15550783881", "id": "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjdBRDU0QjE0QkY0"}
    })
}

pub fn wa_status(id: &str, status: &str, recipient: &str) -> Value {
    let mut s = json!({
        "id": id, "status": status, "timestamp": "1795000010", "recipient_id": recipient,
        "conversation": {"id": "ab1c5f2e0d6e8e8f3b2a1d9c7e6f5a4b", "origin": {"type": "service"}},
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}
    });
    if status == "failed" {
        s["errors"] = json!([{"code": 131047, "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]);
    }
    s
}

pub fn wa_contact(wa_id: &str, name: &str) -> Value {
    json!({"profile": {"name": name}, "wa_id": wa_id})
}

/// A `messages` change of the business's number.
pub fn wa_change(contacts: Vec<Value>, messages: Vec<Value>, statuses: Vec<Value>) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "525588776655", "phone_number_id": PHONE_NUMBER_ID},
    });
    if !contacts.is_empty() {
        value["contacts"] = Value::Array(contacts);
    }
    if !messages.is_empty() {
        value["messages"] = Value::Array(messages);
    }
    if !statuses.is_empty() {
        value["statuses"] = Value::Array(statuses);
    }
    json!({"value": value, "field": "messages"})
}

pub fn wa_template_update() -> Value {
    json!({"field": "message_template_status_update", "value": {
        "event": "APPROVED", "message_template_id": 594425479261596_u64,
        "message_template_name": "recordatorio_cita", "message_template_language": "es_MX", "reason": "NONE"}})
}

pub fn wa_delivery(entries: Vec<(&str, Vec<Value>)>) -> Value {
    let entry: Vec<Value> =
        entries.into_iter().map(|(id, changes)| json!({"id": id, "changes": changes})).collect();
    json!({"object": "whatsapp_business_account", "entry": entry})
}

pub fn wa_single_text(id: &str, body: &str) -> Value {
    wa_delivery(vec![(
        WABA_ID,
        vec![wa_change(vec![wa_contact(CUSTOMER, "María Núñez")], vec![wa_text(id, CUSTOMER, body)], vec![])],
    )])
}

pub fn page_delivery(object: &str, entries: Vec<Value>) -> Value {
    json!({"object": object, "entry": entries})
}

pub fn messenger_message(mid: &str, text: &str) -> Value {
    json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1795000000123_u64,
           "message": {"mid": mid, "text": text, "quick_reply": {"payload": "QUIERO_COTIZAR"}}})
}

pub fn messenger_postback(mid: &str) -> Value {
    json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1795000001123_u64,
           "postback": {"title": "Ver catálogo", "payload": "VER_CATALOGO", "mid": mid}})
}

pub fn messenger_echo(mid: &str) -> Value {
    json!({"sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": 1795000002123_u64,
           "message": {"is_echo": true, "app_id": 263902037430900_u64, "mid": mid,
                       "text": "¡Claro! Te mando el catálogo."}})
}

pub fn messenger_read() -> Value {
    json!({"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1795000003123_u64,
           "read": {"watermark": 1795000002123_u64}})
}

pub fn ig_story_mention(mid: &str) -> Value {
    json!({"sender": {"id": IGSID}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1795000004123_u64,
           "message": {"mid": mid, "attachments": [{"type": "story_mention",
               "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17952815534583311&signature=AbzH"}}]}})
}

/// A TikTok delivery: `content` is a JSON document inside a string.
pub fn tiktok_delivery(event: &str, message_id: &str, from: &str, to: &str, text: &str) -> String {
    let content = json!({
        "type": "text", "message_id": message_id, "conversation_id": "0:1:7302118377011234567:-000Bus1nEss0penId",
        "timestamp": 1795000000456_u64,
        "from_user": {"id": from, "role": if from == TIKTOK_BUSINESS { "business_account" } else { "personal_account" }},
        "to_user": {"id": to, "role": if to == TIKTOK_BUSINESS { "business_account" } else { "personal_account" }},
        "text": {"body": text},
    });
    json!({"client_key": "awjzux1u41cywjgt", "event": event, "create_time": 1795000000,
           "user_openid": TIKTOK_BUSINESS, "content": content.to_string()})
    .to_string()
}
