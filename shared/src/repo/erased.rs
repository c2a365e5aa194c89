//! What stands for an erased identifier once its data is gone: a keyed digest (HMAC-SHA256
//! under `ERASURE_KEY`). A WhatsApp message id embeds the customer's phone number, so the id
//! cannot stay; its digest is enough to drop a late redelivery of the message, or a status
//! for it, so that nothing in flight brings the data back. Without the key, a digest cannot
//! be matched by hashing every phone number there is.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use time::OffsetDateTime;

use super::keys::erased as keys;
use crate::domain::TenantId;
use crate::ports::{Item, Key, Table, TableError, TxOp};
use crate::settings::{Setting, SettingError, Settings};

#[derive(Clone)]
pub struct ErasedIds {
    key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for ErasedIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasedIds(<key>)")
    }
}

impl ErasedIds {
    pub fn new(key: &[u8]) -> Self {
        Self { key: Arc::new(key.to_vec()) }
    }

    pub fn from_settings(settings: &Settings) -> Result<Self, SettingError> {
        Ok(Self::new(settings.get(Setting::ErasureKey)?.as_bytes()))
    }

    /// The digest of `parts`, each length-prefixed so that no two lists digest alike.
    pub fn digest(&self, parts: &[&str]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            // HMAC takes keys of any length; this arm cannot be reached.
            return String::new();
        };
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// What an erased request keeps of its subject (a contact or member id).
    pub fn subject(&self, tenant: &TenantId, subject_id: &str) -> String {
        self.digest(&["subject", tenant.as_str(), subject_id])
    }

    pub fn message_key(&self, tenant: &TenantId, channel: &str, channel_message_id: &str) -> Key {
        keys::erased_message(
            tenant,
            channel,
            &self.digest(&["message", tenant.as_str(), channel, channel_message_id]),
        )
    }

    /// The write that marks a channel message erased, by the request that erased it.
    pub fn mark_op(
        &self,
        tenant: &TenantId,
        channel: &str,
        channel_message_id: &str,
        request_id: &str,
        at: OffsetDateTime,
    ) -> TxOp {
        let key = self.message_key(tenant, channel, channel_message_id);
        let at = at.unix_timestamp();
        let item = Item::from_iter([
            ("pk".to_owned(), Value::from(key.pk)),
            ("sk".to_owned(), Value::from(key.sk)),
            ("request_id".to_owned(), Value::from(request_id)),
            ("erased_at".to_owned(), Value::from(at)),
        ]);
        TxOp::Put { item, condition: None }
    }

    /// Whether the channel message was erased.
    pub async fn is_erased(
        &self,
        table: &dyn Table,
        tenant: &TenantId,
        channel: &str,
        channel_message_id: &str,
    ) -> Result<bool, TableError> {
        Ok(table.get(&self.message_key(tenant, channel, channel_message_id)).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_differ_by_key_tenant_and_id_and_hold_no_id() {
        let tenant = TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        let other = TenantId::parse("other").unwrap_or_else(|e| panic!("{e}"));
        let ids = ErasedIds::new(b"one key");
        let id = "wamid.HBgNNTIxNTU1MTIzNDU2NxUCABIYFjNFQjBDMEE";
        let key = ids.message_key(&tenant, "whatsapp", id);
        assert!(!key.pk.contains(id) && !key.pk.contains("5215551234567"));
        assert_eq!(key, ids.message_key(&tenant, "whatsapp", id));
        assert_ne!(key.pk, ids.message_key(&other, "whatsapp", id).pk);
        assert_ne!(key.pk, ErasedIds::new(b"another key").message_key(&tenant, "whatsapp", id).pk);
        assert_ne!(ids.digest(&["ab", "c"]), ids.digest(&["a", "bc"]));
    }
}
