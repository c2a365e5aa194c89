//! The bodies of a connection and of an Embedded Signup, validated as a whole so every error is
//! reported at once. No error message quotes a value: a body carries an access token or a
//! signup code, and errors are answered and may be logged.

use gestor_shared::crypto::Secret;
use gestor_shared::graph::is_graph_id;
use gestor_shared::http::{ApiError, FieldError};
use gestor_shared::repo::channels::Channel;
use serde_json::{Map, Value};

/// Longest access token accepted: Meta's long-lived tokens are a few hundred characters.
pub const MAX_TOKEN_LEN: usize = 4096;
pub const MAX_CODE_LEN: usize = 4096;
pub const MAX_DISPLAY_NAME: usize = 100;
/// TikTok open ids are opaque; this bounds them without guessing their alphabet further.
pub const MAX_TIKTOK_ID_LEN: usize = 128;

/// `POST /v1/channels`.
#[derive(Debug)]
pub struct Connect {
    pub kind: Channel,
    pub external_id: String,
    pub access_token: Secret,
    /// `None`: the name the channel's API gives the account, else the external id.
    pub display_name: Option<String>,
}

/// `POST /v1/channels/embedded-signup`.
#[derive(Debug)]
pub struct Signup {
    pub code: Secret,
    pub phone_number_id: Option<String>,
    pub waba_id: Option<String>,
    pub display_name: Option<String>,
}

struct Reader {
    body: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Reader {
    fn new(body: Map<String, Value>, fields: &[&str]) -> Self {
        let mut errors: Vec<FieldError> = body
            .keys()
            .filter(|k| !fields.contains(&k.as_str()))
            .map(|k| FieldError::new(k.clone(), "is not a field of this request"))
            .collect();
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        Self { body, errors }
    }

    fn fail(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A string field; absent and null are `None`, another type is an error.
    fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.body.remove(field) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) if required => {
                self.fail(field, "is required");
                None
            }
            None | Some(Value::Null) => None,
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// A secret: visible ASCII only (it travels in a header), at most `max` characters.
    fn secret(&mut self, field: &str, max: usize) -> Option<Secret> {
        let value = self.string(field, true)?;
        if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_graphic()) {
            self.fail(field, &format!("must be 1 to {max} visible ASCII characters without spaces"));
            return None;
        }
        Some(Secret::new(value))
    }

    fn graph_id(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.string(field, required)?;
        if !is_graph_id(&value) {
            self.fail(field, "must be the account's numeric id as Meta shows it");
            return None;
        }
        Some(value)
    }

    fn display_name(&mut self) -> Option<String> {
        let name = self.string("display_name", false)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
            self.fail("display_name", "must be 1 to 100 characters, without control characters");
            return None;
        }
        Some(name.to_owned())
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(ApiError::invalid_fields(self.errors)),
        }
    }
}

fn kind(r: &mut Reader) -> Option<Channel> {
    let name = r.string("kind", true)?;
    let kind = Channel::parse(&name);
    if kind.is_none() {
        r.fail("kind", "must be one of whatsapp, messenger, instagram, tiktok");
    }
    kind
}

/// A TikTok business open id goes into a query string (encoded) and into a key whose parts
/// `#` separates: visible ASCII without `#`.
fn tiktok_id(r: &mut Reader) -> Option<String> {
    let value = r.string("external_id", true)?;
    let ok = (1..=MAX_TIKTOK_ID_LEN).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
    if !ok {
        r.fail("external_id", "must be the business account's open id: 1 to 128 visible characters, no #");
        return None;
    }
    Some(value)
}

impl Connect {
    pub const FIELDS: [&'static str; 4] = ["kind", "external_id", "access_token", "display_name"];

    pub fn parse(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut r = Reader::new(body, &Self::FIELDS);
        let kind = kind(&mut r);
        let external_id = match kind {
            Some(Channel::Tiktok) => tiktok_id(&mut r),
            Some(_) => r.graph_id("external_id", true),
            None => r.string("external_id", true),
        };
        let access_token = r.secret("access_token", MAX_TOKEN_LEN);
        let display_name = r.display_name();
        let parsed = match (kind, external_id, access_token) {
            (Some(kind), Some(external_id), Some(access_token)) => {
                Some(Self { kind, external_id, access_token, display_name })
            }
            _ => None,
        };
        r.finish(parsed)
    }
}

impl Signup {
    pub const FIELDS: [&'static str; 5] = ["kind", "code", "phone_number_id", "waba_id", "display_name"];

    pub fn parse(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut r = Reader::new(body, &Self::FIELDS);
        // Embedded Signup is WhatsApp's; the other channels connect with a token.
        let kind = kind(&mut r);
        if kind.is_some_and(|k| k != Channel::Whatsapp) {
            r.fail("kind", "Embedded Signup connects whatsapp only; connect the others with a token");
        }
        let code = r.secret("code", MAX_CODE_LEN);
        let phone_number_id = r.graph_id("phone_number_id", false);
        let waba_id = r.graph_id("waba_id", false);
        let display_name = r.display_name();
        let parsed = match (kind, code) {
            (Some(Channel::Whatsapp), Some(code)) => {
                Some(Self { code, phone_number_id, waba_id, display_name })
            }
            _ => None,
        };
        r.finish(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::BadRequest { errors, .. } => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_valid_connection_parses() {
        let c = Connect::parse(body(json!({"kind": "whatsapp", "external_id": "106540352242922",
            "access_token": "EAAG123", "display_name": "  Tienda  "})))
        .unwrap();
        assert_eq!(
            (c.kind, c.external_id.as_str(), c.access_token.expose()),
            (Channel::Whatsapp, "106540352242922", "EAAG123")
        );
        assert_eq!(c.display_name.as_deref(), Some("Tienda"));
        let t = Connect::parse(body(
            json!({"kind": "tiktok", "external_id": "-000abc_DEF.1", "access_token": "act.x"}),
        ));
        assert_eq!(t.map(|t| t.display_name).ok(), Some(None));
    }

    #[test]
    fn every_error_is_reported_and_none_quotes_the_token() {
        let token = "EAAG secret with spaces";
        let err = Connect::parse(body(json!({"kind": "sms", "external_id": 5, "access_token": token,
            "display_name": "", "extra": 1})))
        .unwrap_err();
        assert!(!format!("{err:?}").contains("secret"));
        assert_eq!(fields(err), ["extra", "kind", "external_id", "access_token", "display_name"]);
        let err =
            Connect::parse(body(json!({"kind": "messenger", "external_id": "me", "access_token": "t"})));
        assert_eq!(fields(err.unwrap_err()), ["external_id"]);
        let err = Connect::parse(body(json!({"kind": "tiktok", "external_id": "a#b", "access_token": "t"})));
        assert_eq!(fields(err.unwrap_err()), ["external_id"]);
        assert_eq!(fields(Connect::parse(Map::new()).unwrap_err()), ["kind", "external_id", "access_token"]);
    }

    #[test]
    fn signup_is_whatsapp_only_with_numeric_ids() {
        let s = Signup::parse(body(json!({"kind": "whatsapp", "code": "AQB", "waba_id": "102290129340398"})))
            .unwrap();
        assert_eq!((s.waba_id.as_deref(), s.phone_number_id), (Some("102290129340398"), None));
        let err = Signup::parse(body(json!({"kind": "instagram", "code": "AQB", "phone_number_id": "x"})));
        assert_eq!(fields(err.unwrap_err()), ["kind", "phone_number_id"]);
    }
}
