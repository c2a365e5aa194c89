//! Domain value types. Each one can only be built by parsing, so holding one is proof the
//! value was validated and normalised; handlers parse at the edge and never re-check.

/// Serialises a parsed string type as its canonical string and routes deserialisation
/// through `parse`, so a payload can never smuggle in an unvalidated value.
macro_rules! string_serde {
    ($name:ident, $error:ty) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

mod access;
mod channel;
mod contact;
mod conversation;
mod email;
mod message;
mod money;
pub mod outgoing_media;
mod phone;
pub mod reply_window;
mod tenant;
pub mod user_agent;

pub use access::{Permission, Role};
pub use channel::Channel;
pub use contact::Lifecycle;
pub use conversation::ConversationStatus;
pub use email::{Email, EmailError};
pub use message::{Direction, MessageKind, MessageStatus};
pub use money::{Currency, CurrencyError, Money, MoneyError};
pub use phone::{Phone, PhoneError};
pub use tenant::{TenantId, TenantIdError};

/// Describes a string-typed value in OpenAPI.
struct StringSchema<'a> {
    description: &'a str,
    format: Option<&'a str>,
    pattern: Option<&'a str>,
    max_length: Option<usize>,
    example: &'a str,
}

impl StringSchema<'_> {
    fn build(self) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(self.description))
            .format(self.format.map(|f| SchemaFormat::Custom(f.to_owned())))
            .pattern(self.pattern)
            .max_length(self.max_length)
            .examples([serde_json::Value::String(self.example.to_owned())])
            .into()
    }
}
