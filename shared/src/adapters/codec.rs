//! Conversion between the table port's JSON items and DynamoDB attribute values.
//!
//! Encoding is total: every JSON value has a DynamoDB form. Decoding never fails either,
//! because the table may hold attributes our code never writes (sets, binary) when someone
//! edits it by hand or another tool shares it; those are mapped to their nearest JSON shape.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use serde_json::{Number, Value};

use crate::ports::table::{Item, Key, PK, SK};

pub type AttributeMap = HashMap<String, AttributeValue>;

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        // serde_json prints integers without a fraction and floats with one (or an exponent),
        // so the integer/float distinction survives the round trip.
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(to_attributes(map)),
    }
}

pub fn to_attributes(item: &Item) -> AttributeMap {
    item.iter().map(|(name, value)| (name.clone(), to_attribute(value))).collect()
}

pub fn from_attribute(value: AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => number(&n),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(values) => Value::Array(values.into_iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(from_attributes(map)),
        AttributeValue::Ss(values) => Value::Array(values.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(values) => Value::Array(values.iter().map(|n| number(n)).collect()),
        AttributeValue::B(blob) => Value::String(base64(blob.as_ref())),
        AttributeValue::Bs(blobs) => {
            Value::Array(blobs.iter().map(|b| Value::String(base64(b.as_ref()))).collect())
        }
        // A type added to DynamoDB after this SDK was built: nothing sensible to map it to.
        _ => Value::Null,
    }
}

pub fn from_attributes(map: AttributeMap) -> Item {
    map.into_iter().map(|(name, value)| (name, from_attribute(value))).collect()
}

pub fn key_attributes(key: &Key) -> AttributeMap {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// DynamoDB answers numbers in a canonical text ("1.0" comes back as "1"), so an integral
/// value is read as an integer whatever its spelling; emulators that echo the text verbatim
/// thereby read the same as the real service.
fn number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Value::Number(u.into());
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => {
            // Beyond 2^53 an f64 no longer holds every integer, so the cast would invent digits.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if f.fract() == 0.0 && f.abs() <= EXACT {
                #[allow(clippy::cast_possible_truncation)]
                return Value::Number((f as i64).into());
            }
            Number::from_f64(f).map_or_else(|| Value::String(text.to_owned()), Value::Number)
        }
        // DynamoDB numbers reach 38 digits and 10^125; one JSON cannot hold keeps its text.
        _ => Value::String(text.to_owned()),
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::Blob;
    use serde_json::json;

    fn round_trip(value: Value) -> Value {
        from_attribute(to_attribute(&value))
    }

    #[test]
    fn scalars_map_to_their_dynamodb_types() {
        assert_eq!(to_attribute(&json!("x")), AttributeValue::S("x".into()));
        assert_eq!(to_attribute(&json!(true)), AttributeValue::Bool(true));
        assert_eq!(to_attribute(&json!(null)), AttributeValue::Null(true));
        assert_eq!(to_attribute(&json!(42)), AttributeValue::N("42".into()));
        assert_eq!(to_attribute(&json!(-7)), AttributeValue::N("-7".into()));
        assert_eq!(to_attribute(&json!(1.5)), AttributeValue::N("1.5".into()));
        assert_eq!(to_attribute(&json!(u64::MAX)), AttributeValue::N(u64::MAX.to_string()));
    }

    #[test]
    fn nested_values_round_trip() {
        let value = json!({
            "name": "Ana", "age": 31, "ratio": 0.25, "vip": false, "note": null, "empty": "",
            "tags": ["a", 1, true, null, {"deep": [[]]}],
            "address": {"city": "Lisboa", "zip": {"code": "1000-001"}},
            "big": i64::MIN, "huge": u64::MAX, "list": [], "map": {}
        });
        assert_eq!(round_trip(value.clone()), value);
    }

    #[test]
    fn integers_stay_integers_and_floats_stay_floats() {
        assert!(round_trip(json!(3)).is_i64());
        assert!(round_trip(json!(3.25)).is_f64());
        assert_eq!(round_trip(json!(-0.001)), json!(-0.001));
        assert_eq!(round_trip(json!(1e300)), json!(1e300));
    }

    #[test]
    fn numbers_in_dynamodb_spellings_are_read() {
        assert_eq!(from_attribute(AttributeValue::N("1.0".into())), json!(1));
        assert_eq!(from_attribute(AttributeValue::N("1E+2".into())), json!(100));
        assert_eq!(from_attribute(AttributeValue::N("-2.50".into())), json!(-2.5));
        assert_eq!(from_attribute(AttributeValue::N("1e-130".into())), json!(1e-130));
        let beyond = "1".repeat(38);
        let read = from_attribute(AttributeValue::N(beyond.clone()));
        assert!(read.as_f64().is_some_and(|f| (f / 1.111e37 - 1.0).abs() < 1e-3), "{read}");
    }

    #[test]
    fn odd_input_never_panics() {
        assert_eq!(from_attribute(AttributeValue::N("not a number".into())), json!("not a number"));
        assert_eq!(from_attribute(AttributeValue::N("1e999".into())), json!("1e999"));
        assert_eq!(from_attribute(AttributeValue::N(String::new())), json!(""));
        assert_eq!(from_attribute(AttributeValue::Null(false)), json!(null));
    }

    #[test]
    fn sets_become_arrays_and_binary_becomes_base64() {
        let ss = AttributeValue::Ss(vec!["b".into(), "a".into()]);
        assert_eq!(from_attribute(ss), json!(["b", "a"]));
        let ns = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(from_attribute(ns), json!([1, 2.5]));
        let b = AttributeValue::B(Blob::new(b"hi!".to_vec()));
        assert_eq!(from_attribute(b), json!("aGkh"));
        let bs = AttributeValue::Bs(vec![Blob::new(vec![0u8]), Blob::new(Vec::new())]);
        assert_eq!(from_attribute(bs), json!(["AA==", ""]));
    }

    #[test]
    fn items_and_keys_convert() {
        let item = json!({"pk": "T#1", "sk": "C#2", "n": 1}).as_object().cloned().unwrap();
        let attributes = to_attributes(&item);
        assert_eq!(attributes.get("pk"), Some(&AttributeValue::S("T#1".into())));
        assert_eq!(from_attributes(attributes), item);
        let key = key_attributes(&Key::new("T#1", "C#2"));
        assert_eq!(key.len(), 2);
        assert_eq!(key.get("sk"), Some(&AttributeValue::S("C#2".into())));
    }
}
