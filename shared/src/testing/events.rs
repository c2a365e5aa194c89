//! Lambda events for handler tests, made from the real JSON kept in
//! `shared/tests/fixtures/lambda/`: what API Gateway's HTTP API (with the JWT authorizer), an SQS
//! event source (FIFO) and an EventBridge schedule hand a function. A test fills in its own
//! parts and the event goes through the deserializers the Lambda runtime uses, so a handler test
//! cannot pass on a shape AWS never sends.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::worker::ScheduledEvent;

const API_GATEWAY: &str = include_str!("../../tests/fixtures/lambda/apigw_v2_jwt.json");
const SQS: &str = include_str!("../../tests/fixtures/lambda/sqs_fifo.json");
const SCHEDULE: &str = include_str!("../../tests/fixtures/lambda/eventbridge_scheduled.json");

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("a Lambda event fixture is not JSON: {e}"))
}

/// The parts of an HTTP API request a test chooses; the rest is the fixture's.
pub struct GatewayRequest<'a> {
    pub route_key: &'a str,
    pub path: &'a str,
    pub path_parameters: &'a BTreeMap<String, String>,
    pub query: &'a BTreeMap<String, String>,
    /// Added to the fixture's own (host, forwarding, user agent); a name given here replaces it.
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    /// `sub` and `email` of the verified token; `None` for a route without the authorizer.
    pub claims: Option<(&'a str, &'a str)>,
    /// The token's id (`jti`, a sign-in of its own); the fixture's when `None`.
    pub token_id: Option<&'a str>,
}

impl GatewayRequest<'_> {
    /// The event JSON API Gateway would send for this request.
    pub fn event(&self) -> Value {
        let mut event = fixture(API_GATEWAY);
        let method = self.route_key.split_once(' ').map(|(m, _)| m).unwrap_or("GET");
        event["routeKey"] = self.route_key.into();
        event["rawPath"] = self.path.into();
        event["rawQueryString"] = raw_query(self.query).into();
        set_or_remove(&mut event, "queryStringParameters", map(self.query));
        set_or_remove(&mut event, "pathParameters", map(self.path_parameters));

        // HTTP APIs hand header names in lower case, and only the request's own: the fixture's
        // request-specific ones go.
        let mut headers = event["headers"].as_object().cloned().unwrap_or_default();
        for name in
            ["authorization", "content-length", "content-type", "if-match", "x-tenant-id", "x-timezone"]
        {
            headers.remove(name);
        }
        if self.claims.is_some() {
            headers.insert("authorization".into(), "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln".into());
        }
        if let Some(body) = self.body {
            headers.insert("content-length".into(), body.len().to_string().into());
        }
        for (name, value) in self.headers {
            headers.insert(name.to_ascii_lowercase(), value.clone().into());
        }
        // API Gateway repeats the caller's user agent in the request context.
        if let Some(agent) = headers.get("user-agent").cloned() {
            event["requestContext"]["http"]["userAgent"] = agent;
        }
        event["headers"] = Value::Object(headers);

        let context = &mut event["requestContext"];
        context["routeKey"] = self.route_key.into();
        context["requestId"] = format!("req-{}", ulid::Ulid::new()).into();
        context["http"]["method"] = method.into();
        context["http"]["path"] = self.path.into();
        match self.claims {
            Some((sub, email)) => {
                let claims = &mut context["authorizer"]["jwt"]["claims"];
                claims["sub"] = sub.into();
                claims["cognito:username"] = sub.into();
                claims["email"] = email.into();
                if let Some(jti) = self.token_id {
                    claims["jti"] = jti.into();
                    claims["origin_jti"] = jti.into();
                }
            }
            None => {
                if let Some(context) = context.as_object_mut() {
                    context.remove("authorizer");
                }
            }
        }
        match self.body {
            Some(body) => event["body"] = body.into(),
            None => {
                if let Some(event) = event.as_object_mut() {
                    event.remove("body");
                }
            }
        }
        event
    }

    /// The request the Lambda runtime would hand the function.
    pub fn request(&self) -> lambda_http::Request {
        let event = self.event().to_string();
        lambda_http::request::from_str(&event).unwrap_or_else(|e| panic!("API Gateway event: {e}"))
    }
}

fn map(values: &BTreeMap<String, String>) -> Option<Value> {
    (!values.is_empty()).then(|| values.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect())
}

fn set_or_remove(event: &mut Value, field: &str, value: Option<Value>) {
    match (value, event.as_object_mut()) {
        (Some(value), Some(object)) => {
            object.insert(field.into(), value);
        }
        (None, Some(object)) => {
            object.remove(field);
        }
        _ => {}
    }
}

fn raw_query(query: &BTreeMap<String, String>) -> String {
    query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One record of an SQS event source, as Lambda delivers it from a FIFO queue (`group` set) or
/// a standard one.
pub fn sqs_record(message_id: &str, body: &str, group: Option<&str>, receive_count: u32) -> SqsMessage {
    let mut record = fixture(SQS)["Records"][0].take();
    record["messageId"] = message_id.into();
    record["receiptHandle"] = format!("receipt-{message_id}-{receive_count}").into();
    record["body"] = body.into();
    let attributes = &mut record["attributes"];
    attributes["ApproximateReceiveCount"] = receive_count.to_string().into();
    match group {
        Some(group) => attributes["MessageGroupId"] = group.into(),
        None => {
            if let Some(attributes) = attributes.as_object_mut() {
                for fifo_only in ["MessageGroupId", "SequenceNumber", "MessageDeduplicationId"] {
                    attributes.remove(fifo_only);
                }
            }
        }
    }
    serde_json::from_value(record).unwrap_or_else(|e| panic!("SQS record: {e}"))
}

/// An SQS event holding these records.
pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event: SqsEvent =
        serde_json::from_value(fixture(SQS)).unwrap_or_else(|e| panic!("SQS event: {e}"));
    event.records = records;
    event
}

/// The event an EventBridge schedule rule delivers at `at`.
pub fn scheduled(at: time::OffsetDateTime, rule: &str) -> ScheduledEvent {
    let mut event = fixture(SCHEDULE);
    event["id"] = ulid::Ulid::new().to_string().into();
    event["time"] = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default().into();
    event["resources"][0] = format!("arn:aws:events:us-east-1:123456789012:rule/{rule}").into();
    serde_json::from_value(event).unwrap_or_else(|e| panic!("EventBridge event: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::Claims;
    use lambda_http::RequestExt;

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_filled_request_reads_as_the_gateway_would_hand_it() {
        let params = BTreeMap::from([("id".to_owned(), "ct_1".to_owned())]);
        let query = BTreeMap::from([("q".to_owned(), "maría núñez".to_owned())]);
        let headers = [("X-Tenant-Id".to_owned(), "acme".to_owned())];
        let request = GatewayRequest {
            route_key: "PATCH /v1/contacts/{id}",
            path: "/v1/contacts/ct_1",
            path_parameters: &params,
            query: &query,
            headers: &headers,
            body: Some("{\"name\":\"Ana\"}"),
            claims: Some(("sub-1", "ana@acme.mx")),
            token_id: None,
        }
        .request();
        assert_eq!(request.uri().path(), "/v1/contacts/ct_1");
        assert_eq!(request.method(), "PATCH");
        assert_eq!(request.path_parameters_ref().and_then(|p| p.first("id")), Some("ct_1"));
        assert_eq!(request.query_string_parameters_ref().and_then(|q| q.first("q")), Some("maría núñez"));
        assert_eq!(request.headers().get("x-tenant-id").and_then(|v| v.to_str().ok()), Some("acme"));
        let claims = Claims::from_request(&request);
        assert_eq!(
            claims,
            Some(Claims {
                sub: "sub-1".into(),
                email: Some("ana@acme.mx".into()),
                // The fixture's token id.
                session: Some("0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b".into())
            })
        );
    }

    #[test]
    fn a_request_without_the_authorizer_has_no_claims() {
        let none = BTreeMap::new();
        let request = GatewayRequest {
            route_key: "GET /v1/openapi.json",
            path: "/v1/openapi.json",
            path_parameters: &none,
            query: &none,
            headers: &[],
            body: None,
            claims: None,
            token_id: None,
        }
        .request();
        assert_eq!(Claims::from_request(&request), None);
        assert!(request.headers().get("authorization").is_none());
    }

    #[test]
    fn what_the_local_server_hands_consumers_and_schedules_has_the_real_events_fields() {
        let received = crate::ports::ReceivedMessage {
            message_id: "m1".into(),
            receipt: "r1".into(),
            body: "{}".into(),
            receive_count: 2,
            group_id: Some("g1".into()),
        };
        let local = crate::worker::record(&received);
        let real = sqs_record("m1", "{}", Some("g1"), 2);
        assert_eq!(crate::worker::receive_count(&local), crate::worker::receive_count(&real));
        assert_eq!(local.attributes.get("MessageGroupId"), real.attributes.get("MessageGroupId"));
        assert_eq!((local.message_id, local.body), (real.message_id, real.body));

        let at = time::macros::datetime!(2026-12-02 13:08 UTC);
        let local = serde_json::to_value(crate::worker::tick(at, "sweep")).unwrap_or_default();
        let real = serde_json::to_value(scheduled(at, "sweep")).unwrap_or_default();
        assert_eq!(keys(&local), keys(&real));
        assert_eq!((&local["detail-type"], &local["time"]), (&real["detail-type"], &real["time"]));
    }
}
