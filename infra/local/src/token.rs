//! The emulated JWT authorizer: HS256 tokens signed with `GESTOR_DEV_JWT_SECRET`, carrying
//! `sub` and `email` as Cognito's do.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The issuer and audience of development tokens: checked as API Gateway checks its
/// authorizer's (`GESTOR_DEV_JWT_ISSUER`, `GESTOR_DEV_JWT_AUDIENCE` override them).
pub const ISSUER: &str = "gestor-local";
pub const AUDIENCE: &str = "gestor-frontend";
/// Clock skew tolerated between the token's issuer and this server, in seconds, on `exp`,
/// `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 60;

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    /// Cognito's ID tokens carry it, its access tokens do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// `false` when the identity provider has not verified `email` (then it is no email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<serde_json::Value>,
    /// One per issued token: the sign-in a session is recorded for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// What a token must say to be let in.
#[derive(Debug, Clone)]
pub struct Expected {
    pub issuer: String,
    pub audience: String,
}

impl Default for Expected {
    fn default() -> Self {
        Self { issuer: ISSUER.into(), audience: AUDIENCE.into() }
    }
}

const LIFETIME_SECS: i64 = 12 * 3600;

pub fn issue(
    secret: &str,
    expected: &Expected,
    sub: &str,
    email: &str,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = TokenClaims {
        sub: sub.into(),
        email: Some(email.into()),
        email_verified: Some(true.into()),
        iat: now,
        exp: now + LIFETIME_SECS,
        nbf: Some(now),
        iss: Some(expected.issuer.clone()),
        aud: Some(expected.audience.clone().into()),
        jti: Some(ulid::Ulid::new().to_string()),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// The claims of a valid token from an `Authorization: Bearer` header: signed with the
/// secret, unexpired and already valid (`exp`, `nbf`, `iat`, within [`LEEWAY_SECS`]), from
/// the expected issuer for the expected audience. A token minted without `iss` or `aud` by a
/// tool holding the development secret is let in; one naming another issuer or audience is
/// not.
pub fn verify(secret: &str, expected: &Expected, authorization: Option<&str>) -> Option<TokenClaims> {
    let token = authorization?.strip_prefix("Bearer ").or_else(|| authorization?.strip_prefix("bearer "))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    // Checked below, so that a token without them is still accepted.
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<TokenClaims>(
        token.trim(),
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()?
    .claims;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let issued_in_future = claims.iat > now + LEEWAY_SECS as i64;
    let wrong_issuer = claims.iss.as_ref().is_some_and(|iss| *iss != expected.issuer);
    let wrong_audience = match &claims.aud {
        None => false,
        Some(serde_json::Value::String(aud)) => *aud != expected.audience,
        Some(serde_json::Value::Array(auds)) => {
            !auds.iter().any(|a| a.as_str() == Some(expected.audience.as_str()))
        }
        Some(_) => true,
    };
    (!issued_in_future && !wrong_issuer && !wrong_audience && !claims.sub.is_empty()).then_some(claims)
}

/// A stable `sub` for a development user, so the same email is one user across tenants.
pub fn dev_sub(email: &str) -> String {
    let digest = gestor_shared::repo::idempotency::fingerprint(email.trim().to_lowercase().as_bytes());
    format!("dev-{}", &digest[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mint(claims: serde_json::Value) -> String {
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"s1"));
        format!("Bearer {}", token.unwrap_or_default())
    }

    #[test]
    fn tokens_verify_only_with_their_secret() {
        let expected = Expected::default();
        let token = issue("s1", &expected, "u1", "a@b.mx").unwrap_or_default();
        let header = format!("Bearer {token}");
        assert_eq!(verify("s1", &expected, Some(&header)).map(|c| c.sub), Some("u1".into()));
        assert!(verify("s2", &expected, Some(&header)).is_none());
        assert!(verify("s1", &expected, None).is_none());
        assert!(verify("s1", &expected, Some("Bearer garbage")).is_none());
    }

    #[test]
    fn the_email_verified_claim_is_read() {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let token = mint(serde_json::json!({"sub": "u1", "email": "a@b.mx", "email_verified": false,
                                            "iat": now, "exp": now + 600}));
        let claims = verify("s1", &Expected::default(), Some(&token));
        assert_eq!(claims.and_then(|c| c.email_verified), Some(serde_json::Value::Bool(false)));
    }

    #[test]
    fn issuer_audience_expiry_and_skew_are_checked_as_the_gateway_does() {
        let expected = Expected::default();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let base = serde_json::json!({"sub": "u1", "email": "a@b.mx", "iat": now, "exp": now + 600,
                                      "iss": ISSUER, "aud": AUDIENCE});
        let with = |name: &str, value: serde_json::Value| {
            let mut claims = base.clone();
            claims[name] = value;
            mint(claims)
        };
        let ok = |header: &str| verify("s1", &expected, Some(header)).is_some();
        assert!(ok(&mint(base.clone())));
        assert!(
            !ok(&with("iss", "https://cognito-idp.us-east-1.amazonaws.com/otro".into())),
            "another issuer"
        );
        assert!(!ok(&with("aud", "otra-app".into())), "another audience");
        assert!(ok(&with("aud", serde_json::json!(["otra-app", AUDIENCE]))), "one of the audiences");
        assert!(!ok(&with("exp", (now - 3600).into())), "expired an hour ago");
        assert!(ok(&with("exp", (now - 20).into())), "expired within the clock skew");
        assert!(!ok(&with("exp", (now - 120).into())), "expired beyond the clock skew");
        assert!(!ok(&with("nbf", (now + 600).into())), "not valid yet");
        assert!(ok(&with("nbf", (now + 20).into())), "valid within the clock skew");
        assert!(!ok(&with("iat", (now + 600).into())), "issued in the future");
        assert!(!ok(&with("sub", "".into())), "no subject");
        let mut no_exp = base.clone();
        no_exp.as_object_mut().map(|c| c.remove("exp"));
        assert!(!ok(&mint(no_exp)), "a token that never expires");
        // A tool's token with the development secret and no issuer or audience.
        assert!(ok(&mint(serde_json::json!({"sub": "u1", "email": "a@b.mx", "iat": now, "exp": now + 600}))));
    }
}
