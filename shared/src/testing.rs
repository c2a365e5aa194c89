//! Helpers for handler tests: an embedded table in a temporary folder, and API Gateway
//! requests built from the HTTP API's real event JSON (route key, path and query parameters,
//! JWT claims in the request context).

pub mod doubles;
pub mod events;
pub mod logs;

use lambda_http::{Body, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::adapters::{embedded, embedded_table::EmbeddedTable};
use crate::domain::TenantId;
use crate::http::{Core, Role};
use crate::ports::Table;
use crate::settings::Settings;

/// A core over a fresh embedded table; keep the folder alive as long as the core.
pub fn embedded_core() -> (Core, tempfile::TempDir) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("no temporary folder: {e}"),
    };
    let table: Arc<dyn Table> = match embedded::open(&dir.path().join("t.redb")).map(EmbeddedTable::new) {
        Ok(Ok(table)) => Arc::new(table),
        _ => panic!("cannot open an embedded table"),
    };
    match Core::new(table, &Settings::local_with(|_| None)) {
        Ok(core) => (core, dir),
        Err(e) => panic!("{e}"),
    }
}

/// A member of a tenant with a role, created if missing; answers the `sub` to call as.
pub async fn member(core: &Core, tenant: &str, email: &str, role: Role) -> String {
    let tenant = match TenantId::parse(tenant) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let sub = format!("sub-{email}");
    if let Err(e) = core.members.ensure_member(&tenant, &sub, email, role).await {
        panic!("{e}");
    }
    sub
}

/// A request as API Gateway would deliver it for `route_key` (`"PATCH /v1/contacts/{id}"`).
pub struct ApiRequest {
    route_key: &'static str,
    path: String,
    params: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    claims: Option<(String, String)>,
    token_id: Option<String>,
}

impl ApiRequest {
    pub fn new(route_key: &'static str) -> Self {
        let path = route_key.split_once(' ').map(|(_, p)| p).unwrap_or(route_key).to_owned();
        Self {
            route_key,
            path,
            params: BTreeMap::new(),
            query: BTreeMap::new(),
            headers: Vec::new(),
            body: None,
            claims: None,
            token_id: None,
        }
    }

    /// Fills a path parameter, in the path and in the parameters.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.path = self.path.replace(&format!("{{{name}}}"), value);
        self.params.insert(name.into(), value.into());
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self.headers.push(("content-type".into(), "application/json".into()));
        self
    }

    pub fn raw_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Signed in as this user (the claims API Gateway's JWT authorizer would pass).
    pub fn as_user(mut self, sub: &str) -> Self {
        self.claims = Some((sub.into(), format!("{sub}@example.com")));
        self
    }

    /// With a token of this id (`jti`): another sign-in of the same user.
    pub fn token_id(mut self, jti: &str) -> Self {
        self.token_id = Some(jti.into());
        self
    }

    /// Signed in as this user, whose token carries this email.
    pub fn signed_in(mut self, sub: &str, email: &str) -> Self {
        self.claims = Some((sub.into(), email.into()));
        self
    }

    /// The request as the Lambda runtime hands it over, parsed from API Gateway's event JSON.
    pub fn build(self) -> Request {
        events::GatewayRequest {
            route_key: self.route_key,
            path: &self.path,
            path_parameters: &self.params,
            query: &self.query,
            headers: &self.headers,
            body: self.body.as_deref(),
            claims: self.claims.as_ref().map(|(sub, email)| (sub.as_str(), email.as_str())),
            token_id: self.token_id.as_deref(),
        }
        .request()
    }
}

/// The status and JSON body of a response.
pub fn answer(response: lambda_http::Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}

/// A WhatsApp text message of this conversation, as the inbound worker (`In`, received) or the
/// sender (`Out`, queued) would store it.
pub fn text_message(
    conversation_id: &crate::ids::ConversationId,
    contact_id: &crate::ids::ContactId,
    direction: crate::domain::Direction,
    wamid: &str,
    created_at: time::OffsetDateTime,
) -> crate::repo::messages::Message {
    use crate::domain::{Direction, MessageKind, MessageStatus};
    crate::repo::messages::Message {
        id: crate::ids::MessageId::new(),
        conversation_id: conversation_id.clone(),
        contact_id: contact_id.clone(),
        channel: crate::domain::Channel::Whatsapp,
        direction,
        kind: MessageKind::Text,
        raw_kind: None,
        text: Some(format!("texto de {wamid}")),
        media: None,
        details: None,
        status: if direction == Direction::In { MessageStatus::Received } else { MessageStatus::Queued },
        status_at: None,
        error: None,
        channel_message_id: Some(wamid.to_owned()),
        reply_to: None,
        reactions: vec![],
        deleted: false,
        edited_at: None,
        sent_by: None,
        created_at,
        updated_at: created_at,
    }
}
