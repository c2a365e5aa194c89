//! Key format of an idempotency record (infra/DATA-MODEL.md).

use sha2::{Digest, Sha256};

use crate::domain::TenantId;
use crate::ports::Key;

/// One record per (tenant, user, key); the key is hashed, so a client's choice of key never
/// shapes ours.
pub fn record(tenant: &TenantId, sub: &str, idempotency_key: &str) -> Key {
    Key::new(format!("{tenant}#IDEMPOTENCY"), format!("{sub}#{}", fingerprint(idempotency_key.as_bytes())))
}

pub fn fingerprint(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
