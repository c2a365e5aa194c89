//! The emulated JWT authorizer: HS256 tokens signed with `GESTOR_DEV_JWT_SECRET`, carrying
//! `sub` and `email` as Cognito's do.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
}

const LIFETIME_SECS: i64 = 12 * 3600;

pub fn issue(secret: &str, sub: &str, email: &str) -> Result<String, jsonwebtoken::errors::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = TokenClaims { sub: sub.into(), email: email.into(), iat: now, exp: now + LIFETIME_SECS };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// The claims of a valid, unexpired token from an `Authorization: Bearer` header.
pub fn verify(secret: &str, authorization: Option<&str>) -> Option<TokenClaims> {
    let token = authorization?.strip_prefix("Bearer ").or_else(|| authorization?.strip_prefix("bearer "))?;
    let validation = Validation::new(Algorithm::HS256);
    jsonwebtoken::decode::<TokenClaims>(
        token.trim(),
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()
    .map(|data| data.claims)
}

/// A stable `sub` for a development user, so the same email is one user across tenants.
pub fn dev_sub(email: &str) -> String {
    let digest = gestor_shared::repo::idempotency::fingerprint(email.trim().to_lowercase().as_bytes());
    format!("dev-{}", &digest[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_secret() {
        let token = issue("s1", "u1", "a@b.mx").unwrap_or_default();
        let header = format!("Bearer {token}");
        assert_eq!(verify("s1", Some(&header)).map(|c| c.sub), Some("u1".into()));
        assert!(verify("s2", Some(&header)).is_none());
        assert!(verify("s1", None).is_none());
        assert!(verify("s1", Some("Bearer garbage")).is_none());
    }
}
