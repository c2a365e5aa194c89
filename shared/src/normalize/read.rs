//! Reading the channels' payloads leniently: every field optional, numbers that may come as
//! strings, timestamps in either unit. What every channel's normalizer shares.

use serde_json::Value;
use time::OffsetDateTime;

use super::model::ChannelError;

/// The unit a channel documents for a timestamp.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    Seconds,
    Millis,
}

/// Below this a value in milliseconds would be before March 1973 and above it a value in
/// seconds after the year 5000: no real timestamp is ambiguous, so a value in the other unit
/// than documented (TikTok has been seen sending `create_time` in milliseconds) is read right.
pub(super) const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// A Unix timestamp given as a number or a string of digits, in `unit`.
pub(super) fn unix_time(value: Option<&Value>, unit: Unit) -> Option<OffsetDateTime> {
    let n = match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| f as i64))
        }
        _ => None,
    }?;
    if n <= 0 {
        return None;
    }
    let millis = match unit {
        Unit::Seconds if n < MILLIS_THRESHOLD => n * 1000,
        Unit::Millis if n < MILLIS_THRESHOLD => n * 1000,
        _ => n,
    };
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

/// A non-empty string field; ids sent as numbers are read as their digits.
pub(super) fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field that is an object (anything else reads as absent).
pub(super) fn object<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|v| v.is_object())
}

/// The items of an array field, or none.
pub(super) fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// A boolean field, also when sent as the string `"true"`.
pub(super) fn flag(value: &Value, key: &str) -> bool {
    match value.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A number field, also when sent as a string.
pub(super) fn number(value: &Value, key: &str) -> Option<f64> {
    match value.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// An integer field, also when sent as a string (error codes).
pub(super) fn integer(value: &Value, key: &str) -> Option<i64> {
    match value.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A Meta error object (`{code, title, message, error_data: {details}}`).
pub(super) fn meta_error(error: &Value) -> ChannelError {
    let message = text(error, "message");
    let details =
        object(error, "error_data").and_then(|d| text(d, "details")).or_else(|| text(error, "details"));
    let title = text(error, "title");
    ChannelError {
        code: integer(error, "code"),
        details: details.or_else(|| message.clone().filter(|_| title.is_some())),
        title: title.or(message),
    }
}

/// A short, safe rendering of a channel's name for a thing, for an `Ignored` reason: the
/// names come from the payload, so they are cut and kept to plain characters.
pub(super) fn name_of(value: Option<&str>) -> String {
    match value {
        Some(v) => {
            v.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).take(40).collect()
        }
        None => "-".to_owned(),
    }
}
