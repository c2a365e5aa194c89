//! Where a contact is in the business's funnel.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Lead,
    Client,
    Inactive,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 3] = [Lifecycle::Lead, Lifecycle::Client, Lifecycle::Inactive];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Lead => "lead",
            Lifecycle::Client => "client",
            Lifecycle::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}
