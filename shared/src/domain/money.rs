//! Amounts of money in integer minor units, never floats, so sums of deal values and order
//! lines are exact.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StringSchema;

/// Why a string is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("must be a three-letter ISO 4217 currency code such as MXN")]
    Invalid,
}

/// Why an arithmetic operation on money failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine amounts in {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount is too large")]
    Overflow,
}

/// An ISO 4217 currency code such as `MXN`, stored uppercase.
///
/// Any three letters are accepted rather than a fixed list, so a newly issued code never
/// needs a deploy; only the shape is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const MXN: Currency = Currency(*b"MXN");
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(input: &str) -> Result<Self, CurrencyError> {
        match input.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_alphabetic()) => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()]))
            }
            _ => Err(CurrencyError::Invalid),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail; "XXX" is ISO 4217's
        // "no currency" should that invariant ever break.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// How many decimal digits the minor unit has (2 for MXN: 12550 is 125.50; 0 for CLP).
    pub fn minor_unit_digits(&self) -> u32 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG" | b"RWF"
            | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }
}

string_serde!(Currency, CurrencyError);

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        StringSchema {
            description: "An ISO 4217 currency code; lowercase input is stored uppercase.",
            format: Some("iso-4217"),
            pattern: Some("^[A-Z]{3}$"),
            max_length: Some(3),
            example: "MXN",
        }
        .build()
    }
}

impl utoipa::ToSchema for Currency {}

/// An amount in a currency's minor units (centavos for MXN): `{"amount": 12550,
/// "currency": "MXN"}` is MXN 125.50.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": 12550, "currency": "MXN"}))]
pub struct Money {
    /// Integer amount in the currency's minor units (12550 MXN is 125.50 pesos).
    #[schema(example = 12550)]
    amount: i64,
    currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// The amount in minor units.
    pub fn amount(&self) -> i64 {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        let currency = self.same_currency(other)?;
        let amount = self.amount.checked_add(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        let currency = self.same_currency(other)?;
        let amount = self.amount.checked_sub(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, currency))
    }

    /// The price of `quantity` units at this unit price.
    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(quantity).ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<Currency, MoneyError> {
        if self.currency == other.currency {
            Ok(self.currency)
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }
}

/// Shows the major units, e.g. `125.50 MXN` or `-0.05 USD`, for logs and messages.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        let digits = self.currency.minor_unit_digits();
        if digits == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(digits);
        let width = digits as usize;
        write!(f, "{sign}{}.{:0width$} {}", abs / scale, abs % scale, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use utoipa::{PartialSchema, ToSchema};

    fn mxn(amount: i64) -> Money {
        Money::new(amount, Currency::MXN)
    }

    #[test]
    fn currency_accepts_three_letters_in_any_case() {
        assert_eq!(Currency::parse("mxn"), Ok(Currency::MXN));
        assert_eq!(Currency::parse("Usd").unwrap().as_str(), "USD");
        for bad in ["", "MX", "MXNN", "M1N", "MX ", "méx", "ÉUR"] {
            assert_eq!(Currency::parse(bad), Err(CurrencyError::Invalid), "{bad}");
        }
    }

    #[test]
    fn serde_shape_is_amount_and_currency() {
        let money = mxn(12550);
        let value = serde_json::to_value(money).unwrap();
        assert_eq!(value, json!({"amount": 12550, "currency": "MXN"}));
        let back: Money = serde_json::from_value(json!({"amount": 12550, "currency": "mxn"})).unwrap();
        assert_eq!(back, money);
    }

    #[test]
    fn deserialize_refuses_floats_strings_and_bad_currencies() {
        for bad in [
            r#"{"amount": 125.5, "currency": "MXN"}"#,
            r#"{"amount": 12550.0, "currency": "MXN"}"#,
            r#"{"amount": "12550", "currency": "MXN"}"#,
            r#"{"amount": 12550, "currency": "PESOS"}"#,
            r#"{"amount": 12550}"#,
            r#"{"amount": 12550, "currency": "MXN", "extra": 1}"#,
            r#"{"amount": 1e3, "currency": "MXN"}"#,
        ] {
            assert!(serde_json::from_str::<Money>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(mxn(100).checked_add(mxn(250)), Ok(mxn(350)));
        assert_eq!(mxn(100).checked_sub(mxn(250)), Ok(mxn(-150)));
        assert_eq!(mxn(12550).checked_mul(3), Ok(mxn(37650)));
        let usd = Money::new(1, Currency::USD);
        let mismatch = mxn(1).checked_add(usd).unwrap_err();
        assert_eq!(mismatch, MoneyError::CurrencyMismatch { left: Currency::MXN, right: Currency::USD });
        assert_eq!(mismatch.to_string(), "cannot combine amounts in MXN and USD");
        assert_eq!(mxn(i64::MAX).checked_add(mxn(1)), Err(MoneyError::Overflow));
        assert_eq!(mxn(i64::MAX / 2 + 1).checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(Money::zero(Currency::MXN).amount(), 0);
    }

    #[test]
    fn display_uses_the_currency_exponent() {
        assert_eq!(mxn(12550).to_string(), "125.50 MXN");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(Money::new(1500, Currency::parse("CLP").unwrap()).to_string(), "1500 CLP");
        assert_eq!(Money::new(1234, Currency::parse("KWD").unwrap()).to_string(), "1.234 KWD");
        assert_eq!(mxn(i64::MIN).to_string(), "-92233720368547758.08 MXN");
    }

    #[test]
    fn schemas_are_an_object_and_a_string() {
        assert_eq!(Money::name(), "Money");
        let money = serde_json::to_value(Money::schema()).unwrap();
        assert_eq!(money["type"], "object");
        assert_eq!(money["properties"]["amount"]["type"], "integer");
        assert_eq!(money["properties"]["currency"]["$ref"], "#/components/schemas/Currency");
        let currency = serde_json::to_value(Currency::schema()).unwrap();
        assert_eq!(currency["pattern"], "^[A-Z]{3}$");
        let mut nested = Vec::new();
        <Money as ToSchema>::schemas(&mut nested);
        assert!(nested.iter().any(|(name, _)| name == "Currency"));
    }

    proptest! {
        #[test]
        fn currency_parse_never_panics_and_is_idempotent(s in "\\PC*") {
            if let Ok(c) = Currency::parse(&s) {
                prop_assert_eq!(Currency::parse(c.as_str()), Ok(c));
            }
        }

        #[test]
        fn money_round_trips_through_json(amount in any::<i64>(), code in "[A-Za-z]{3}") {
            let money = Money::new(amount, Currency::parse(&code).unwrap());
            let json = serde_json::to_string(&money).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        }

        #[test]
        fn add_matches_integer_addition(a in any::<i32>(), b in any::<i32>()) {
            let sum = mxn(a.into()).checked_add(mxn(b.into())).unwrap();
            prop_assert_eq!(sum.amount(), i64::from(a) + i64::from(b));
        }
    }
}
