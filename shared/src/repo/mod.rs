//! Repositories: the CRM's items over the table port, written once for both adapters. The key
//! formats of each item type are a leaf module of `keys` (listed in infra/DATA-MODEL.md).

pub mod account_erasure;
pub mod alerts;
pub mod arrivals;
pub mod audit;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod erased;
pub mod erasure;
pub mod holdings;
pub mod idempotency;
mod keys;
pub mod member_erasure;
pub mod members;
pub mod messages;
pub mod opposition;
pub mod outbox;
pub mod parked;
pub mod partial_erasure;
pub mod personal;
pub mod privacy;
pub mod rate_limits;
pub mod replies;
pub mod scope;
pub mod security;
pub mod sending;
pub mod sessions;
pub mod snoozes;
pub mod templates;
pub mod tenants;
pub mod uploads;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ports::{Item, TableError};

/// Serializes a record into an item's attributes.
pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<Item, TableError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(TableError::Invalid("a record must serialize to an object".into())),
        Err(e) => Err(TableError::Invalid(e.to_string())),
    }
}

/// Reads a record back from an item, ignoring the key and index attributes.
pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, TableError> {
    serde_json::from_value(serde_json::Value::Object(item))
        .map_err(|e| TableError::Backend(format!("stored item does not match its type: {e}")))
}

pub(crate) fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
