//! Key formats, one module per item type (infra/DATA-MODEL.md). Each is a leaf: it knows the
//! domain's ids and the table's key shape, never a repository or a record.

pub mod alerts;
pub mod audit;
pub mod channels;
pub mod claims;
pub mod contacts;
pub mod conversations;
pub mod erased;
pub mod idempotency;
pub mod members;
pub mod messages;
pub mod outbox;
pub mod privacy;
pub mod security;
pub mod sessions;
pub mod shards;
pub mod snoozes;
pub mod templates;
pub mod tenants;
pub mod time;
pub mod uploads;
