//! Prefixed ULID identifiers such as `ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6`.
//!
//! The prefix makes a pasted id self-describing in logs and support tickets, and stops a
//! contact id from being accepted where a deal id is expected. The ULID part sorts by creation
//! time, so sort keys built from ids list newest/oldest first without a separate timestamp.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use ulid::Ulid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be an id starting with `{expected}_`")]
    WrongPrefix { expected: &'static str },
    #[error("must be `{prefix}_` followed by a 26-character ULID")]
    InvalidUlid { prefix: &'static str },
}

/// Checks `input` is `{prefix}_{ULID}` and returns its canonical (uppercase ULID) form.
fn parse_prefixed(prefix: &'static str, input: &str) -> Result<String, IdError> {
    let ulid_part = input
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { expected: prefix })?;
    let invalid = IdError::InvalidUlid { prefix };
    // The decoder silently drops bits above 128, so `8ZZZ...` would alias `0ZZZ...`; refusing
    // it keeps one string per id.
    if !ulid_part.as_bytes().first().is_some_and(|c| (b'0'..=b'7').contains(c)) {
        return Err(invalid);
    }
    let ulid = Ulid::from_string(ulid_part).map_err(|_| invalid)?;
    Ok(format!("{prefix}_{ulid}"))
}

fn id_schema(prefix: &str, description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let len = prefix.len() + 1 + ulid::ULID_LEN;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(format!("^{prefix}_[0-7][0-9A-HJKMNP-TV-Z]{{25}}$")))
        .min_length(Some(len))
        .max_length(Some(len))
        .examples([serde_json::Value::String(format!("{prefix}_{EXAMPLE_ULID}"))])
        .into()
}

/// A fixed, valid ULID for documentation examples.
const EXAMPLE_ULID: &str = "01HZX3K9Q7M2N4P6R8T0V2W4Y6";

/// The smallest and largest ULID strings (without prefix) of the millisecond `t` falls in.
///
/// With ULID-sorted keys, `BETWEEN lower AND upper` of two such bounds selects exactly the ids
/// created in a time range. Times before 1970 clamp to the first millisecond and times past
/// the year 10889 to the last, because ULIDs cannot represent them.
pub fn ulid_bounds_for_time(t: OffsetDateTime) -> (String, String) {
    const MAX_MS: u64 = (1 << Ulid::TIME_BITS) - 1;
    const MAX_RANDOM: u128 = (1 << Ulid::RAND_BITS) - 1;
    let ms = (t.unix_timestamp_nanos().div_euclid(1_000_000)).clamp(0, i128::from(MAX_MS));
    let ms = u64::try_from(ms).unwrap_or(MAX_MS);
    (Ulid::from_parts(ms, 0).to_string(), Ulid::from_parts(ms, MAX_RANDOM).to_string())
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[doc = ""]
        #[doc = concat!("Serialised as `", $prefix, "_` followed by a ULID.")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id; ids made in later milliseconds sort after earlier ones.
            // No `Default`: `..Default::default()` silently minting a random id would be a trap.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(format!("{}_{}", $prefix, Ulid::new()))
            }

            pub fn parse(input: &str) -> Result<Self, IdError> {
                parse_prefixed($prefix, input).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema($prefix, $doc)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

prefixed_id!(ContactId, "ct", "Identifies a contact (a person or company the tenant talks to).");
prefixed_id!(ConversationId, "cv", "Identifies a conversation thread on one channel.");
prefixed_id!(MessageId, "msg", "Identifies a single inbound or outbound message.");
prefixed_id!(DealId, "dl", "Identifies a deal (sales opportunity) in a pipeline.");
prefixed_id!(MemberId, "mb", "Identifies a member (user) of a tenant's team.");
prefixed_id!(AuditId, "au", "Identifies an audit log entry.");
prefixed_id!(AlertId, "al", "Identifies an alert for a tenant's admins.");
prefixed_id!(NoteId, "nt", "Identifies a note attached to a record.");
prefixed_id!(PipelineId, "pl", "Identifies a sales pipeline.");
prefixed_id!(TaskId, "tk", "Identifies a task assigned to a member.");
prefixed_id!(AppointmentId, "ap", "Identifies a scheduled appointment.");
prefixed_id!(ProductId, "pr", "Identifies a product or service in the catalogue.");
prefixed_id!(AutomationId, "at", "Identifies an automation rule.");
prefixed_id!(PrivacyRequestId, "prq", "Identifies a data-subject (ARCO) privacy request.");
prefixed_id!(FileId, "file", "Identifies a file the frontend uploaded for sending.");
prefixed_id!(TeamId, "tm", "Identifies a team of members (conversations can be assigned to one).");
prefixed_id!(
    ChannelAccountId,
    "ch",
    "Identifies a connected channel account (a WhatsApp number, an inbox...)."
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;
    use utoipa::{PartialSchema, ToSchema};

    #[test]
    fn new_ids_have_the_prefix_and_an_uppercase_ulid() {
        let id = ContactId::new();
        let ulid = id.as_str().strip_prefix("ct_").unwrap();
        assert_eq!(ulid.len(), 26);
        assert!(ulid.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(PrivacyRequestId::new().as_str().get(..4), Some("prq_"));
        assert_eq!(MessageId::PREFIX, "msg");
    }

    #[test]
    fn parse_accepts_lowercase_ulids_and_stores_them_uppercase() {
        let id = ContactId::parse("ct_01hzx3k9q7m2n4p6r8t0v2w4y6").unwrap();
        assert_eq!(id.as_str(), "ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6");
        assert_eq!(id, "ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6".parse().unwrap());
    }

    #[test]
    fn parse_refuses_other_prefixes_and_bad_ulids() {
        let wrong = |s| ContactId::parse(s).unwrap_err();
        assert_eq!(wrong("dl_01HZX3K9Q7M2N4P6R8T0V2W4Y6"), IdError::WrongPrefix { expected: "ct" });
        assert_eq!(wrong("CT_01HZX3K9Q7M2N4P6R8T0V2W4Y6"), IdError::WrongPrefix { expected: "ct" });
        assert_eq!(wrong("ct01HZX3K9Q7M2N4P6R8T0V2W4Y6"), IdError::WrongPrefix { expected: "ct" });
        assert_eq!(wrong(""), IdError::WrongPrefix { expected: "ct" });
        for bad in [
            "ct_",
            "ct_01HZX3K9Q7M2N4P6R8T0V2W4Y",
            "ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6Z",
            "ct_01HZX3K9Q7M2N4P6R8T0V2W4YU",
            "ct_01HZX3K9Q7M2N4P6R8T0V2W4YI",
            "ct_81HZX3K9Q7M2N4P6R8T0V2W4Y6",
            "ct_01HZX3K9Q7M2N4P6R8T0V2W4Yé",
            " ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6",
        ] {
            assert!(ContactId::parse(bad).is_err(), "{bad}");
        }
        // `pr_` and `prq_` must not be confused with each other.
        let product = ProductId::new();
        assert!(PrivacyRequestId::parse(product.as_str()).is_err());
        assert!(ProductId::parse(PrivacyRequestId::new().as_str()).is_err());
        assert_eq!(ContactId::parse("dl_x").unwrap_err().to_string(), "must be an id starting with `ct_`");
    }

    #[test]
    fn serde_is_a_plain_string_and_deserialize_validates() {
        let id = DealId::parse("dl_01HZX3K9Q7M2N4P6R8T0V2W4Y6").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"dl_01HZX3K9Q7M2N4P6R8T0V2W4Y6\"");
        assert_eq!(serde_json::from_str::<DealId>(&json).unwrap(), id);
        let lower: DealId = serde_json::from_str("\"dl_01hzx3k9q7m2n4p6r8t0v2w4y6\"").unwrap();
        assert_eq!(lower, id);
        assert!(serde_json::from_str::<DealId>("\"ct_01HZX3K9Q7M2N4P6R8T0V2W4Y6\"").is_err());
        assert!(serde_json::from_str::<DealId>("42").is_err());
    }

    #[test]
    fn schema_is_a_string_with_pattern_and_example() {
        assert_eq!(ContactId::name(), "ContactId");
        let schema = serde_json::to_value(ContactId::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["pattern"], "^ct_[0-7][0-9A-HJKMNP-TV-Z]{25}$");
        assert_eq!(schema["minLength"], 29);
        let example = schema["examples"][0].as_str().unwrap();
        assert!(ContactId::parse(example).is_ok());
    }

    #[test]
    fn bounds_cover_exactly_one_millisecond() {
        let t = datetime!(2024-06-01 12:00:00.123_456 UTC);
        let (lo, hi) = ulid_bounds_for_time(t);
        let ms = 1_717_243_200_123_u64;
        assert_eq!(Ulid::from_string(&lo).unwrap(), Ulid::from_parts(ms, 0));
        assert_eq!(Ulid::from_string(&hi).unwrap().timestamp_ms(), ms);
        assert!(hi.ends_with("ZZZZZZZZZZZZZZZZ"));
        let inside = Ulid::from_parts(ms, 12345).to_string();
        assert!(lo <= inside && inside <= hi);
        let (next_lo, _) = ulid_bounds_for_time(t + time::Duration::milliseconds(1));
        assert!(hi < next_lo);
    }

    #[test]
    fn bounds_clamp_unrepresentable_times() {
        let (lo, _) = ulid_bounds_for_time(datetime!(1960-01-01 0:00 UTC));
        assert_eq!(lo, "00000000000000000000000000");
        let (_, hi) = ulid_bounds_for_time(datetime!(1969-12-31 23:59:59.9999 UTC));
        assert_eq!(Ulid::from_string(&hi).unwrap().timestamp_ms(), 0);
    }

    proptest! {
        #[test]
        fn new_round_trips_through_parse(_seed in any::<u8>()) {
            let id = ConversationId::new();
            prop_assert_eq!(ConversationId::parse(id.as_str()), Ok(id.clone()));
            let lower = id.as_str().to_ascii_lowercase();
            prop_assert_eq!(ConversationId::parse(&lower), Ok(id));
        }

        #[test]
        fn string_order_follows_time_order(a in 0u64..(1 << 48), b in 0u64..(1 << 48),
                                           ra in any::<u128>(), rb in any::<u128>()) {
            prop_assume!(a != b);
            let mask = (1u128 << 80) - 1;
            let ua = Ulid::from_parts(a, ra & mask).to_string();
            let ub = Ulid::from_parts(b, rb & mask).to_string();
            prop_assert_eq!(a < b, ua < ub);
            let id = format!("tk_{ua}");
            prop_assert_eq!(TaskId::parse(&id).map(TaskId::into_string), Ok(id));
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = ContactId::parse(&s);
            let _ = ContactId::parse(&format!("ct_{s}"));
        }
    }

    #[test]
    fn ids_made_in_later_milliseconds_sort_later() {
        let first = NoteId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = NoteId::new();
        assert!(first < second);
        assert!(first.as_str() < second.as_str());
    }
}
