//! The shapes of a delivery as the parsers read it: the updates found in it, Meta's outer
//! envelope, and lenient scalars (a string that may come as a number, a flag that may come as
//! anything), borrowing from the delivery's bytes.

use gestor_shared::inbound::{Channel, UpdateKind};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One update found in a delivery, borrowing from the delivery's bytes.
#[derive(Debug)]
pub(crate) struct Update<'a> {
    pub channel: Channel,
    pub kind: UpdateKind,
    pub field: Cow<'a, str>,
    pub account_id: Cow<'a, str>,
    pub sender_id: Option<Cow<'a, str>>,
    pub entry_id: Option<Cow<'a, str>>,
    pub update_id: Option<Cow<'a, str>>,
    /// Qualifies `update_id` for deduplication (a status's state, TikTok's event).
    pub dedup_extra: Option<Cow<'a, str>>,
    pub profile: Option<&'a RawValue>,
    pub payload: Option<&'a RawValue>,
}

/// The reason a delivery is not the channel's envelope.
pub(crate) type NotEnvelope = &'static str;

/// A Meta delivery: WhatsApp, Messenger and Instagram share the outer shape.
#[derive(serde::Deserialize)]
pub(crate) struct MetaDelivery<'a> {
    #[serde(borrow, default)]
    pub object: Text<'a>,
    #[serde(borrow)]
    pub entry: Vec<MetaEntry<'a>>,
}

#[derive(serde::Deserialize)]
pub(crate) struct MetaEntry<'a> {
    #[serde(borrow, default)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub changes: Vec<MetaChange<'a>>,
    #[serde(borrow, default)]
    pub messaging: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    pub standby: Vec<&'a RawValue>,
}

#[derive(serde::Deserialize)]
pub(crate) struct MetaChange<'a> {
    #[serde(borrow, default)]
    pub field: Text<'a>,
    #[serde(borrow, default)]
    pub value: Option<&'a RawValue>,
}

/// A string field read leniently: a number becomes its text, anything else (an object, a
/// boolean, `null`) is skipped as absent, so that one unexpected type never fails a parse.
#[derive(Debug, Default, Clone)]
pub(crate) struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }

    pub fn into_cow(self) -> Option<Cow<'a, str>> {
        self.0.filter(|s| !s.is_empty())
    }
}

/// A boolean read leniently: only `true` is true.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Flag(pub bool);

enum Scalar<'a> {
    Text(Cow<'a, str>),
    Bool(bool),
    Other,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor)? {
            Scalar::Text(text) => Text(Some(text)),
            _ => Text(None),
        })
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Flag(matches!(deserializer.deserialize_any(ScalarVisitor)?, Scalar::Bool(true))))
    }
}

/// Reads the ids of an update leniently: an update that is not an object reads as all absent.
pub(crate) fn ids<'a, T: Deserialize<'a> + Default>(raw: &'a RawValue) -> T {
    serde_json::from_str(raw.get()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_fields_skip_unexpected_types() {
        #[derive(serde::Deserialize, Default)]
        struct Probe<'a> {
            #[serde(borrow, default)]
            a: Text<'a>,
            #[serde(borrow, default)]
            b: Text<'a>,
            #[serde(borrow, default)]
            c: Text<'a>,
            #[serde(default)]
            d: Flag,
            #[serde(default)]
            e: Flag,
        }
        let raw = r#"{"a": "w\u00e9", "b": 12345678901234567890, "c": {"x": [1, {"y": null}]}, "d": true, "e": "true"}"#;
        let probe: Probe<'_> = serde_json::from_str(raw).unwrap_or_default();
        assert_eq!(probe.a.as_deref(), Some("wé"));
        assert_eq!(probe.b.as_deref(), Some("12345678901234567890"));
        assert_eq!(probe.c.as_deref(), None);
        assert!(probe.d.0 && !probe.e.0);
    }
}
