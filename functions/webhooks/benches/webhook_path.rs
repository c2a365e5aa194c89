//! CPU of the webhook path per delivery, beside its lower bound, on real-shaped WhatsApp
//! deliveries of 1 to 4 KB (encoded as Meta sends them: non-ASCII as `\uXXXX`).
//!
//! - ours: signature check + parse + split into queue messages (`gestor_webhooks::prepare`,
//!   everything but the queue call);
//! - lower bound: HMAC-SHA256 of the body + `serde_json::from_slice::<Value>`.
//!
//! `cargo bench -p gestor-webhooks` prints criterion's figures, then the medians per delivery
//! and their ratio.

use criterion::Criterion;
use gestor_webhooks::{Channel, Prepared, Secrets, prepare, sign_meta};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

const SECRET: &str = "bench-app-secret";

struct Delivery {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

fn meta_bytes(value: &Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
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

fn change(contacts: Value, messages: Value, statuses: Value) -> Value {
    let mut value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "525588776655", "phone_number_id": "106540352242922"}});
    if contacts.as_array().is_some_and(|a| !a.is_empty()) {
        value["contacts"] = contacts;
    }
    if messages.as_array().is_some_and(|a| !a.is_empty()) {
        value["messages"] = messages;
    }
    if statuses.as_array().is_some_and(|a| !a.is_empty()) {
        value["statuses"] = statuses;
    }
    json!({"value": value, "field": "messages"})
}

fn delivery(changes: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": changes}]})
}

fn contact(wa_id: &str, name: &str) -> Value {
    json!({"profile": {"name": name}, "wa_id": wa_id})
}

fn text(id: &str, from: &str, body: &str) -> Value {
    json!({"context": {"from": "525588776655", "id": "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjdBRDU0QjE0QkY0RTVBMzZGNAA="},
           "from": from, "id": id, "timestamp": "1795000000", "type": "text", "text": {"body": body}})
}

fn status(id: &str, state: &str, to: &str) -> Value {
    json!({"id": id, "status": state, "timestamp": "1795000010", "recipient_id": to,
           "conversation": {"id": "ab1c5f2e0d6e8e8f3b2a1d9c7e6f5a4b", "expiration_timestamp": "1795086400",
                            "origin": {"type": "service"}},
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}})
}

fn deliveries() -> Vec<Delivery> {
    let ana = "5215512345678";
    let beto = "5218112345678";
    let long = "Buenas tardes, quisiera saber si todavía tienen disponible la chamarra de mezclilla \
                talla mediana que publicaron ayer, ¿cuánto cuesta el envío a Guadalajara y en cuántos \
                días llega? También me interesan los tenis blancos del número 25 y la bolsa café \
                que vi en sus historias. Si pago por transferencia hoy, ¿me lo envían mañana? \
                ¡Gracias! 🙏";
    let bodies = [
        delivery(vec![change(
            json!([contact(ana, "María Núñez")]),
            json!([text("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBDNzk5OTc1N0Q1RTc0RjdBNjQA", ana, long)]),
            json!([]),
        )]),
        delivery(vec![change(
            json!([contact(beto, "Beto Ramírez")]),
            json!([{
            "from": beto, "id": "wamid.HBgNNTIxODExMjM0NTY3OBUCABIYFjNFQjA0QzYyRDFGQzlGQzY5QjM3AA==",
            "timestamp": "1795000005", "type": "image",
            "image": {"caption": "Así lo quiero, ¿lo tienen en rojo? Talla M por favor", "mime_type": "image/jpeg",
                      "sha256": "HgcGAjGtsOg0x8ipR1Jv7ufJj4xfAFUxQ1GmuT1Uqfs=", "id": "1003383421387256"},
            "referral": {"source_url": "https://fb.me/3cr4Wqqkv", "source_id": "120212345678901234",
                         "source_type": "ad", "headline": "Ofertas de temporada", "body": "Hasta 40% de descuento",
                         "media_type": "image", "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg",
                         "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-ZABCD"}}]),
            json!([]),
        )]),
        delivery(vec![change(
            json!([]),
            json!([]),
            json!([
                status("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEkQ0NzE2NjFCRkE5RjM3RTVBOAA=", "sent", ana),
                status("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEkQ0NzE2NjFCRkE5RjM3RTVBOAA=", "delivered", ana),
                status("wamid.HBgNNTIxODExMjM0NTY3OBUCABEYEjlFNkE0QzE0RDc1QzQ5RjU2MQA=", "read", beto)
            ]),
        )]),
        delivery(vec![change(
            json!([contact(ana, "María Núñez")]),
            json!([{
            "context": {"from": "525588776655", "id": "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjg0NzRGMkM4MjE4NjBGMzIzRgA="},
            "from": ana, "id": "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjA5QzE3MTFCMDkyQjg2NjVCAA==",
            "timestamp": "1795000020", "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                "response_json": "{\"flow_token\":\"cita-2026-11-20\",\"servicio\":\"corte\",\"fecha\":\"2026-11-20\",\"hora\":\"17:30\",\"nombre\":\"María Núñez\",\"telefono\":\"+525512345678\",\"sucursal\":\"Centro Histórico\",\"estilista\":\"Lupita\",\"comentarios\":\"Llego 5 minutos tarde, voy con mi hija; gracias por la paciencia\"}"}}}]),
            json!([]),
        )]),
        delivery(vec![
            change(
                json!([contact(ana, "María Núñez"), contact(beto, "Beto Ramírez")]),
                json!([text("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBEMTI0", ana, "¿Abren el domingo?"),
                          text("wamid.HBgNNTIxODExMjM0NTY3OBUCABIYFjNFQjBEMTI1", beto, long),
                          {"from": ana, "id": "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABIYFjNFQjBEMTI2", "timestamp": "1795000030",
                           "type": "reaction", "reaction": {"message_id": "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEjg0", "emoji": "❤️"}}]),
                json!([]),
            ),
            change(
                json!([]),
                json!([]),
                json!([
                    status("wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEkQ0NzE3", "read", ana),
                    status("wamid.HBgNNTIxODExMjM0NTY3OBUCABEYEjlFNkE1", "delivered", beto)
                ]),
            ),
            json!({"field": "message_template_status_update", "value": {"event": "APPROVED",
                   "message_template_id": 594425479261596_u64, "message_template_name": "recordatorio_cita",
                   "message_template_language": "es_MX", "reason": "NONE"}}),
        ]),
    ];
    bodies
        .iter()
        .map(|value| {
            let body = meta_bytes(value).into_bytes();
            let mut headers = http::HeaderMap::new();
            let signature = sign_meta(SECRET, &body);
            if let Ok(value) = http::HeaderValue::from_str(&signature) {
                headers.insert("x-hub-signature-256", value);
            }
            Delivery { headers, body }
        })
        .collect()
}

fn ours(secrets: &Secrets, set: &[Delivery], now: SystemTime) -> usize {
    let mut updates = 0;
    for d in set {
        if let Ok(Prepared::Updates(messages)) = prepare(secrets, Channel::Whatsapp, &d.headers, &d.body, now)
        {
            updates += black_box(messages).len();
        }
    }
    updates
}

fn lower_bound(keyed: &Hmac<Sha256>, set: &[Delivery]) -> usize {
    let mut parsed = 0;
    for d in set {
        let mut mac = keyed.clone();
        mac.update(&d.body);
        black_box(mac.finalize().into_bytes());
        if let Ok(value) = serde_json::from_slice::<Value>(&d.body) {
            black_box(value);
            parsed += 1;
        }
    }
    parsed
}

/// Medians per delivery of `a` and `b`, and the median of their ratio, sampled alternately
/// (`a`, `b`, `a`, `b` ...) so that a busy machine slows both alike.
fn interleaved(
    set_len: usize,
    mut a: impl FnMut() -> usize,
    mut b: impl FnMut() -> usize,
) -> (f64, f64, f64) {
    let (samples, rounds) = (41, 200);
    let time = |f: &mut dyn FnMut() -> usize| {
        let started = Instant::now();
        for _ in 0..rounds {
            black_box(f());
        }
        started.elapsed().as_secs_f64() / f64::from(rounds * set_len as u32)
    };
    let pairs: Vec<(f64, f64)> = (0..samples).map(|_| (time(&mut a), time(&mut b))).collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio = median(pairs.iter().map(|(a, b)| a / b).collect());
    (median(pairs.iter().map(|p| p.0).collect()), median(pairs.iter().map(|p| p.1).collect()), ratio)
}

fn main() {
    let set = deliveries();
    let sizes: Vec<usize> = set.iter().map(|d| d.body.len()).collect();
    let secrets = Secrets::new(SECRET, "token", "tiktok");
    let Ok(keyed) = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()) else { return };
    let now = SystemTime::now();
    let updates = ours(&secrets, &set, now);
    assert_eq!(lower_bound(&keyed, &set), set.len());
    println!("{} deliveries of {sizes:?} bytes, {updates} updates", set.len());

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let mut group = criterion.benchmark_group("webhook_path (whole set)");
    group.bench_function("ours: verify + parse + split", |b| b.iter(|| ours(&secrets, &set, now)));
    group.bench_function("lower bound: hmac + Value", |b| b.iter(|| lower_bound(&keyed, &set)));
    group.finish();
    criterion.final_summary();

    let (ours_each, bound_each, ratio) =
        interleaved(set.len(), || ours(&secrets, &set, now), || lower_bound(&keyed, &set));
    println!(
        "per delivery (medians, sampled alternately): ours {:.2} µs, lower bound {:.2} µs, ratio {ratio:.2}",
        ours_each * 1e6,
        bound_each * 1e6,
    );
}
