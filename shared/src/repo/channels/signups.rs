//! An Embedded Signup in progress: the business's token, once Meta exchanged the code for it,
//! kept (encrypted) until the number is connected. Meta's code works once, so a signup that
//! fails after the exchange (a timeout, Meta briefly down) would otherwise leave the business
//! with a spent code and nothing connected; the same code sent again resumes from the token.
//! Kept an hour at most (older ones are ignored, and removed once the signup completes).
//!
//! Keys: `pk = {tenant}#SIGNUP`, `sk = {digest of the code}`; no personal data.

use serde_json::Value;
use time::OffsetDateTime;

use super::{ChannelError, ChannelRepo};
use crate::crypto::{Sealed, Secret, TokenCipher};
use crate::domain::TenantId;
use crate::ports::table::{PK, SK};
use crate::ports::{Item, Key, TableError};

/// How long an exchanged token waits for the signup to be retried.
pub const RESUMABLE_FOR: time::Duration = time::Duration::hours(1);

fn key(tenant: &TenantId, code_digest: &str) -> Key {
    Key::new(format!("{tenant}#SIGNUP"), code_digest)
}

fn aad(tenant: &TenantId, code_digest: &str) -> Vec<u8> {
    format!("gestor/signup-token/v1/{}/{tenant}/{code_digest}", tenant.as_str().len()).into_bytes()
}

impl ChannelRepo {
    /// Keeps the token Meta exchanged the code (by its digest) for.
    pub async fn keep_signup_token(
        &self,
        tenant: &TenantId,
        code_digest: &str,
        token: &Secret,
        cipher: &TokenCipher,
        now: OffsetDateTime,
    ) -> Result<(), ChannelError> {
        let sealed = cipher.seal_secret(token, &aad(tenant, code_digest))?;
        let key = key(tenant, code_digest);
        let sealed = serde_json::to_value(&sealed).map_err(|e| TableError::Invalid(e.to_string()))?;
        let item = Item::from_iter([
            (PK.to_owned(), key.pk.into()),
            (SK.to_owned(), key.sk.into()),
            ("token".to_owned(), sealed),
            ("exchanged_at".to_owned(), now.unix_timestamp().into()),
            ("expires_at".to_owned(), (now + RESUMABLE_FOR).unix_timestamp().into()),
        ]);
        Ok(self.table.put(item, None).await?)
    }

    /// The token of a signup started with this code less than [`RESUMABLE_FOR`] ago.
    pub async fn signup_token(
        &self,
        tenant: &TenantId,
        code_digest: &str,
        cipher: &TokenCipher,
        now: OffsetDateTime,
    ) -> Result<Option<Secret>, ChannelError> {
        let Some(item) = self.table.get(&key(tenant, code_digest)).await? else { return Ok(None) };
        let exchanged = item.get("exchanged_at").and_then(Value::as_i64).unwrap_or_default();
        if now.unix_timestamp() - exchanged >= RESUMABLE_FOR.whole_seconds() {
            return Ok(None);
        }
        let Some(sealed) = item.get("token").cloned() else { return Ok(None) };
        let sealed: Sealed = serde_json::from_value(sealed)
            .map_err(|e| TableError::Backend(format!("a kept signup token: {e}")))?;
        Ok(Some(cipher.open_secret(&sealed, &aad(tenant, code_digest))?))
    }

    /// The signup is complete: its token is no longer kept.
    pub async fn forget_signup(&self, tenant: &TenantId, code_digest: &str) -> Result<(), TableError> {
        self.table.delete(&key(tenant, code_digest), None).await.map(|_| ())
    }
}
