//! Email addresses as the CRM stores and matches them.

use super::StringSchema;

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;

/// Why a string is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 254 characters long")]
    TooLong,
    #[error("must be an email address such as ana@example.com")]
    Invalid,
}

/// A syntactically valid email address, trimmed and lowercased.
///
/// Stored lowercased because the CRM matches contacts by email case-insensitively;
/// `Ana@Example.com` and `ana@example.com` must be one contact. The checks are deliberately
/// pragmatic (what people type into a form), not the full RFC 5322 grammar.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        // Lowercasing first means the limits are checked on what is stored, so re-parsing a
        // stored email can never fail.
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = email.split_once('@').ok_or(EmailError::Invalid)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }

    /// The part after `@`, e.g. to group contacts by company.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.chars().any(|c| c == '@' || c.is_whitespace() || c.is_control())
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(|label| valid_label(label))
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

string_serde!(Email, EmailError);

impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        StringSchema {
            description: "An email address; stored trimmed and lowercased.",
            format: Some("email"),
            pattern: None,
            max_length: Some(MAX_LEN),
            example: "ana@example.com",
        }
        .build()
    }
}

impl utoipa::ToSchema for Email {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use utoipa::PartialSchema;

    fn ok(s: &str) -> String {
        Email::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).into_string()
    }

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(ok("  Ana.Perez@Example.COM \n"), "ana.perez@example.com");
        assert_eq!(ok("ventas+web@tienda-la-esquina.com.mx"), "ventas+web@tienda-la-esquina.com.mx");
        assert_eq!(ok("JOSÉ@correo.mx"), "josé@correo.mx");
        let email = Email::parse("Ana@Example.com").unwrap();
        assert_eq!(email.local_part(), "ana");
        assert_eq!(email.domain(), "example.com");
    }

    #[test]
    fn refuses_malformed_addresses() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        for bad in [
            "ana",
            "@example.com",
            "ana@",
            "ana@@example.com",
            "ana@b@example.com",
            "an a@example.com",
            "ana\t@example.com",
            "ana\u{0}@example.com",
            "ana@example",
            "ana@example.c",
            "ana@example.c0m",
            "ana@-example.com",
            "ana@example-.com",
            "ana@exa_mple.com",
            "ana@example..com",
            "ana@.example.com",
            "ana@example.com.",
            "ana@ex ample.com",
            "ana@exámple.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn enforces_length_limits() {
        let local64 = "a".repeat(64);
        assert!(Email::parse(&format!("{local64}@example.com")).is_ok());
        assert_eq!(Email::parse(&format!("a{local64}@example.com")), Err(EmailError::Invalid));
        let label = "b".repeat(63);
        let long = format!("a@{label}.{label}.{label}.{}.com", "c".repeat(56));
        assert_eq!(long.len(), 254);
        assert!(Email::parse(&long).is_ok());
        let too_long = format!("a{long}");
        assert_eq!(Email::parse(&too_long), Err(EmailError::TooLong));
        assert_eq!(Email::parse(&format!("a@{}.com", "b".repeat(64))), Err(EmailError::Invalid));
    }

    #[test]
    fn serde_validates_and_normalises() {
        let email: Email = serde_json::from_str("\"Ana@Example.com\"").unwrap();
        assert_eq!(serde_json::to_string(&email).unwrap(), "\"ana@example.com\"");
        assert!(serde_json::from_str::<Email>("\"not-an-email\"").is_err());
        assert_eq!(email.to_string(), "ana@example.com");
        assert_eq!("ANA@example.com".parse::<Email>(), Ok(email));
    }

    #[test]
    fn schema_has_email_format() {
        let schema = serde_json::to_value(Email::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["format"], "email");
        assert!(Email::parse(schema["examples"][0].as_str().unwrap()).is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC*") {
            if let Ok(email) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
        }

        #[test]
        fn case_and_surrounding_space_do_not_matter(
            local in "[A-Za-z0-9._%+-]{1,20}",
            domain in "[A-Za-z0-9]{1,10}\\.[A-Za-z]{2,6}",
            pad in " {0,3}",
        ) {
            let plain = format!("{local}@{domain}");
            let parsed = Email::parse(&plain).unwrap();
            prop_assert_eq!(Email::parse(&format!("{pad}{}{pad}", plain.to_uppercase())), Ok(parsed.clone()));
            prop_assert_eq!(Email::parse(parsed.as_str()), Ok(parsed));
        }

        #[test]
        fn unicode_local_parts_normalise_idempotently(local in "\\PC{1,30}") {
            if let Ok(email) = Email::parse(&format!("{local}@example.com")) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
        }
    }
}
