//! The tenant (customer business) every record belongs to.

use super::StringSchema;

const MIN_LEN: usize = 3;
const MAX_LEN: usize = 64;

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    #[error("must be 3 to 64 characters long")]
    Length,
    #[error("may contain only letters, digits, `_` and `-`")]
    InvalidCharacter,
    #[error("is a name the platform keeps for itself")]
    Reserved,
}

/// The names of the table's global partitions and of the bucket's prefixes outside any
/// business, which no tenant id may take (in any case): `{tenant}#` and `{tenant}/` must never
/// be the start of a key that is not the business's.
pub const RESERVED: [&str; 14] = [
    "ROUTE",
    "SUBSCRIBER",
    "USER",
    "INVITE",
    "OUTBOX",
    "SNOOZE",
    "SECURITY",
    "TENANTS",
    "RATE",
    "ERASED_ACCOUNT",
    "ERASED_ACCOUNT_CHECK",
    "quarantine",
    "inbound-overflow",
    "dead-letters",
];

/// A tenant's id: 3–64 characters of `[A-Za-z0-9_-]`.
///
/// Storage keys are built as `{tenant}#...`, so the alphabet deliberately excludes `#` and
/// every other separator: a tenant id can never forge a key inside another tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// A fresh `tn_<ULID>` id for a newly signed-up tenant.
    // No `Default`: `..Default::default()` silently minting a random id would be a trap.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(format!("tn_{}", ulid::Ulid::new()))
    }

    pub fn parse(input: &str) -> Result<Self, TenantIdError> {
        if !input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(TenantIdError::InvalidCharacter);
        }
        // Every accepted byte is ASCII, so bytes and characters count the same.
        if !(MIN_LEN..=MAX_LEN).contains(&input.len()) {
            return Err(TenantIdError::Length);
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(input)) {
            return Err(TenantIdError::Reserved);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

string_serde!(TenantId, TenantIdError);

impl utoipa::PartialSchema for TenantId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        StringSchema {
            description: "Identifies a tenant (the business using GestorDigital).",
            format: None,
            pattern: Some("^[A-Za-z0-9_-]{3,64}$"),
            max_length: Some(MAX_LEN),
            example: "tn_01HZX3K9Q7M2N4P6R8T0V2W4Y6",
        }
        .build()
    }
}

impl utoipa::ToSchema for TenantId {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use utoipa::{PartialSchema, ToSchema};

    #[test]
    fn accepts_the_allowed_alphabet_and_lengths() {
        for ok in ["acme", "t1_", "Tienda-La_Esquina-2", &"a".repeat(64)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_the_names_of_global_partitions_and_prefixes() {
        for reserved in ["ROUTE", "route", "Tenants", "quarantine", "DEAD-LETTERS", "erased_account"] {
            assert_eq!(TenantId::parse(reserved), Err(TenantIdError::Reserved), "{reserved}");
        }
        assert!(TenantId::parse("routes").is_ok());
    }

    #[test]
    fn refuses_key_separators_and_bad_lengths() {
        assert_eq!(TenantId::parse("ab"), Err(TenantIdError::Length));
        assert_eq!(TenantId::parse(""), Err(TenantIdError::Length));
        assert_eq!(TenantId::parse(&"a".repeat(65)), Err(TenantIdError::Length));
        for bad in ["acme#CONTACT", "ac me", "acmé", "acme/x", "acme.mx", "acme\n", "a#"] {
            assert_eq!(TenantId::parse(bad), Err(TenantIdError::InvalidCharacter), "{bad}");
        }
    }

    #[test]
    fn new_is_a_prefixed_ulid_and_parses() {
        let id = TenantId::new();
        assert!(id.as_str().starts_with("tn_"));
        assert_eq!(id.as_str().len(), 29);
        assert_eq!(TenantId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn serde_validates() {
        let id: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
        assert_eq!(id.to_string(), "acme");
        assert!(serde_json::from_str::<TenantId>("\"acme#x\"").is_err());
        assert_eq!("acme".parse::<TenantId>(), Ok(id));
    }

    #[test]
    fn schema_is_a_string_with_pattern() {
        assert_eq!(TenantId::name(), "TenantId");
        let schema = serde_json::to_value(TenantId::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["pattern"], "^[A-Za-z0-9_-]{3,64}$");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_never_admits_a_hash(s in "\\PC*") {
            if let Ok(id) = TenantId::parse(&s) {
                prop_assert!(!id.as_str().contains('#'));
                prop_assert_eq!(TenantId::parse(id.as_str()), Ok(id.clone()));
            }
        }

        #[test]
        fn valid_ids_round_trip(s in "[A-Za-z0-9_-]{3,64}") {
            prop_assert_eq!(TenantId::parse(&s).map(TenantId::into_string), Ok(s));
        }
    }
}
