//! Phone numbers in E.164, the key that joins WhatsApp, SMS and manually typed contacts.

use super::StringSchema;

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("must not be empty")]
    Empty,
    #[error(
        "must be an E.164 phone number such as +525512345678; only digits, spaces, dashes, dots and parentheses are allowed"
    )]
    InvalidCharacter,
    #[error("must have 8 to 15 digits including the country code, such as +525512345678")]
    Length,
    #[error("must be an E.164 phone number such as +525512345678")]
    NotE164,
    #[error("must be the digits of a WhatsApp id, such as 5215512345678")]
    InvalidWaId,
}

/// A phone number in E.164 form (`+` and 8–15 digits), normalised so that every way of
/// writing one number yields the same value.
///
/// Mexican numbers get special care: WhatsApp still reports mobiles with the retired `1`
/// after the country code (`wa_id` `5215512345678`) while people write `+52 55 1234 5678`;
/// both normalise to `+525512345678` so a chat and a typed-in contact match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Parses what a person typed: `+52 (55) 1234-5678`, `0052 55 1234 5678`, `tel:+52...`,
    /// or a bare 10-digit Mexican number.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let body = match trimmed.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &trimmed[4..],
            _ => trimmed,
        };
        let (has_plus, rest) = match body.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '-' | '.' | '(' | ')' => {}
                // Pasted numbers often carry non-breaking or other Unicode spaces.
                c if c.is_whitespace() => {}
                _ => return Err(PhoneError::InvalidCharacter),
            }
        }
        if has_plus {
            return Self::from_international(&digits);
        }
        if let Some(international) = digits.strip_prefix("00") {
            return Self::from_international(international);
        }
        // The CRM's users are mostly in Mexico, where numbers are 10 digits and people omit
        // the country code; any other length without a `+` is ambiguous.
        if digits.len() == 10 && !digits.starts_with('0') {
            return Self::from_international(&format!("52{digits}"));
        }
        Err(PhoneError::NotE164)
    }

    /// Builds a phone from a WhatsApp `wa_id` (country code and number, digits only).
    pub fn from_wa_id(wa_id: &str) -> Result<Self, PhoneError> {
        if wa_id.is_empty() || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::InvalidWaId);
        }
        Self::from_international(wa_id)
    }

    /// `digits` is the country code and number, without `+` or separators.
    fn from_international(digits: &str) -> Result<Self, PhoneError> {
        let digits = match digits.strip_prefix("521") {
            Some(national) if national.len() == 10 => format!("52{national}"),
            _ => digits.to_owned(),
        };
        if digits.is_empty() || digits.starts_with('0') {
            return Err(PhoneError::NotE164);
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneError::Length);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The E.164 form, e.g. `+525512345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The digits without `+`, as WhatsApp's API takes a recipient.
    pub fn whatsapp_digits(&self) -> String {
        self.0.trim_start_matches('+').to_owned()
    }
}

string_serde!(Phone, PhoneError);

impl utoipa::PartialSchema for Phone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        StringSchema {
            description: "A phone number in E.164 form. Input may contain spaces, dashes, dots \
                          and parentheses, start with 00 instead of +, or be a bare 10-digit \
                          Mexican number; it is stored normalised.",
            format: Some("e164"),
            pattern: Some(r"^\+[1-9][0-9]{7,14}$"),
            max_length: Some(MAX_DIGITS + 1),
            example: "+525512345678",
        }
        .build()
    }
}

impl utoipa::ToSchema for Phone {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use utoipa::PartialSchema;

    fn ok(s: &str) -> String {
        Phone::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).into_string()
    }

    #[test]
    fn the_many_ways_of_writing_a_mexican_number_agree() {
        for input in [
            "+525512345678",
            "+52 55 1234 5678",
            "+52 (55) 1234-5678",
            "+52.55.1234.5678",
            "+5215512345678",
            "+52 1 55 1234 5678",
            "0052 55 1234 5678",
            "00521 55 1234 5678",
            "55 1234 5678",
            "(55) 1234-5678",
            "5512345678",
            "tel:+52-55-1234-5678",
            "TEL:+525512345678",
            "  +52\u{a0}55\u{a0}1234\u{a0}5678 ",
        ] {
            assert_eq!(ok(input), "+525512345678", "{input}");
        }
        assert_eq!(Phone::from_wa_id("5215512345678").unwrap().as_str(), "+525512345678");
        assert_eq!(Phone::from_wa_id("525512345678").unwrap().as_str(), "+525512345678");
    }

    #[test]
    fn other_countries_keep_their_digits() {
        assert_eq!(ok("+1 (415) 555-2671"), "+14155552671");
        assert_eq!(ok("+57 301 234 5678"), "+573012345678");
        assert_eq!(ok("+54 9 11 1234 5678"), "+5491112345678");
        assert_eq!(ok("+44 20 7946 0958"), "+442079460958");
        assert_eq!(Phone::from_wa_id("14155552671").unwrap().as_str(), "+14155552671");
        // Only a 13-digit `521...` is the old Mexican mobile form.
        assert_eq!(ok("+52155123456"), "+52155123456");
    }

    #[test]
    fn whatsapp_digits_drop_the_plus() {
        let phone = Phone::parse("+52 55 1234 5678").unwrap();
        assert_eq!(phone.whatsapp_digits(), "525512345678");
        assert_eq!(Phone::from_wa_id(&phone.whatsapp_digits()), Ok(phone));
    }

    #[test]
    fn refuses_what_is_not_a_phone_number() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("  "), Err(PhoneError::Empty));
        for bad in ["+52 55 CALL ME", "55-1234-567x", "+52 55 1234 5678 ext 2", "+52+5512345678"] {
            assert_eq!(Phone::parse(bad), Err(PhoneError::InvalidCharacter), "{bad}");
        }
        assert_eq!(Phone::parse("+1234567"), Err(PhoneError::Length));
        assert_eq!(Phone::parse("+1234567890123456"), Err(PhoneError::Length));
        assert_eq!(Phone::parse("+0525512345678"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("+"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("00"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("525512345678"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("0512345678"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("12345"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("tel:"), Err(PhoneError::NotE164));
        for bad in ["", "+5215512345678", "52 55", "52a"] {
            assert_eq!(Phone::from_wa_id(bad), Err(PhoneError::InvalidWaId), "{bad}");
        }
        assert_eq!(Phone::from_wa_id("0525512345678"), Err(PhoneError::NotE164));
        assert_eq!(PhoneError::NotE164.to_string(), "must be an E.164 phone number such as +525512345678");
    }

    #[test]
    fn serde_validates_and_normalises() {
        let phone: Phone = serde_json::from_str("\"+52 1 55 1234 5678\"").unwrap();
        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+525512345678\"");
        assert!(serde_json::from_str::<Phone>("\"call me\"").is_err());
        assert!(serde_json::from_str::<Phone>("5512345678").is_err());
        assert_eq!(phone.to_string(), "+525512345678");
    }

    #[test]
    fn schema_is_an_e164_string() {
        let schema = serde_json::to_value(Phone::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["pattern"], r"^\+[1-9][0-9]{7,14}$");
        assert!(Phone::parse(schema["examples"][0].as_str().unwrap()).is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC*") {
            if let Ok(phone) = Phone::parse(&s) {
                prop_assert_eq!(Phone::parse(phone.as_str()), Ok(phone.clone()));
            }
            let _ = Phone::from_wa_id(&s);
        }

        #[test]
        fn plausible_inputs_are_idempotent(s in "(tel:)?[+]?[0-9 ().-]{0,24}") {
            if let Ok(phone) = Phone::parse(&s) {
                prop_assert!(phone.as_str().starts_with('+'));
                prop_assert_eq!(Phone::parse(phone.as_str()), Ok(phone.clone()));
                prop_assert_eq!(Phone::from_wa_id(&phone.whatsapp_digits()), Ok(phone));
            }
        }

        #[test]
        fn mexican_spellings_are_one_person(national in "[2-9][0-9]{9}") {
            let canonical = Phone::parse(&format!("+52{national}")).unwrap();
            prop_assert_eq!(canonical.as_str(), format!("+52{national}"));
            let (area, number) = national.split_at(2);
            for spelling in [
                national.clone(),
                format!("+521{national}"),
                format!("0052 {area} {number}"),
                format!("+52 1 ({area}) {number}"),
            ] {
                prop_assert_eq!(Phone::parse(&spelling), Ok(canonical.clone()));
            }
            prop_assert_eq!(Phone::from_wa_id(&format!("521{national}")), Ok(canonical.clone()));
            prop_assert_eq!(Phone::from_wa_id(&canonical.whatsapp_digits()), Ok(canonical));
        }
    }
}
