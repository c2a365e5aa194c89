//! The channels customers write on.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Whatsapp,
    Messenger,
    Instagram,
    Tiktok,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::Whatsapp, Self::Messenger, Self::Instagram, Self::Tiktok];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
            Self::Tiktok => "tiktok",
        }
    }

    /// The channel named in a route (`/webhooks/{channel}`), lowercase as the API spells it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The channels Meta delivers, signed with the app secret.
    pub fn is_meta(self) -> bool {
        !matches!(self, Self::Tiktok)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Channel {
    /// The OpenAPI schema of a channel field: the channels' route names.
    pub fn schema() -> utoipa::openapi::schema::Object {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Channel::ALL.map(Channel::as_str)))
            .build()
    }
}
