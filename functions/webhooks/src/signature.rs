//! Who sent a delivery: the channels' signatures, checked on the raw body before anything
//! parses it, and Meta's verification token. Every comparison is constant-time.
//!
//! - Meta: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>`, over the bytes
//!   as sent (Meta escapes non-ASCII as `\uXXXX`: a re-serialized body hashes differently).
//! - TikTok: `TikTok-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(client secret,
//!   "{t}.{body}")>`, refused when `t` is more than [`TIKTOK_TOLERANCE`] away from now.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

pub const META_HEADER: &str = "x-hub-signature-256";
pub const TIKTOK_HEADER: &str = "tiktok-signature";
/// How far a TikTok signature's timestamp may be from our clock, either way.
pub const TIKTOK_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a delivery's signature was refused (logged and counted; the sender gets a plain 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No signature header.
    Missing,
    /// A header that is not of the channel's form.
    Malformed,
    /// A well-formed signature that does not match the body.
    Mismatch,
    /// TikTok: a timestamp outside the tolerance.
    Stale,
}

impl SignatureError {
    /// The reason as logs and metrics show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Mismatch => "mismatch",
            Self::Stale => "stale",
        }
    }
}

/// The secrets that authenticate the channels, keyed once per cold start.
#[derive(Clone)]
pub struct Secrets {
    meta: HmacSha256,
    tiktok: HmacSha256,
    /// A MAC of the verification token, so that a candidate is compared by its MAC in
    /// constant time whatever its length.
    verify_token_tag: Vec<u8>,
}

impl Secrets {
    pub fn new(meta_app_secret: &str, meta_verify_token: &str, tiktok_client_secret: &str) -> Self {
        Self {
            meta: keyed(meta_app_secret.as_bytes()),
            tiktok: keyed(tiktok_client_secret.as_bytes()),
            verify_token_tag: token_mac(meta_verify_token).finalize().into_bytes().to_vec(),
        }
    }

    /// Meta's `X-Hub-Signature-256` header over the raw body.
    pub fn verify_meta(&self, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?.trim();
        let hex_digest = header
            .get(..7)
            .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
            .map(|_| &header[7..])
            .ok_or(SignatureError::Malformed)?;
        let claimed = decode_digest(hex_digest)?;
        let mut mac = self.meta.clone();
        mac.update(body);
        mac.verify_slice(&claimed).map_err(|_| SignatureError::Mismatch)
    }

    /// TikTok's `TikTok-Signature` header over `"{t}.{body}"`, with `t` within the tolerance
    /// of `now`. Several `s=` elements are allowed (as during a secret rotation): one match
    /// suffices.
    pub fn verify_tiktok(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut timestamp = None;
        let mut claimed = Vec::new();
        for element in header.split(',') {
            match element.trim().split_once('=') {
                Some(("t", t)) => timestamp = Some(t.trim()),
                Some(("s", s)) => claimed.push(s.trim()),
                _ => {}
            }
        }
        let (Some(timestamp), false) = (timestamp, claimed.is_empty()) else {
            return Err(SignatureError::Malformed);
        };
        let signed_at: u64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
        let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if now.abs_diff(signed_at) > TIKTOK_TOLERANCE.as_secs() {
            return Err(SignatureError::Stale);
        }
        let mut mac = self.tiktok.clone();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let mut outcome = Err(SignatureError::Mismatch);
        for candidate in claimed {
            let Ok(digest) = decode_digest(candidate) else { continue };
            if mac.clone().verify_slice(&digest).is_ok() {
                outcome = Ok(());
            }
        }
        outcome
    }

    /// Whether `given` is Meta's verification token, compared in constant time.
    pub fn is_verify_token(&self, given: &str) -> bool {
        token_mac(given).verify_slice(&self.verify_token_tag).is_ok()
    }
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

fn token_mac(token: &str) -> HmacSha256 {
    let mut mac = keyed(b"gestor/webhooks/verify-token/v1");
    mac.update(token.as_bytes());
    mac
}

fn decode_digest(hex_digest: &str) -> Result<Vec<u8>, SignatureError> {
    let digest = hex::decode(hex_digest.trim()).map_err(|_| SignatureError::Malformed)?;
    if digest.len() == 32 { Ok(digest) } else { Err(SignatureError::Malformed) }
}

/// The `X-Hub-Signature-256` value Meta would send for `body` (tests, tools, the local demo).
pub fn sign_meta(app_secret: &str, body: &[u8]) -> String {
    let mut mac = keyed(app_secret.as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `TikTok-Signature` value TikTok would send for `body` at `timestamp` (Unix seconds).
pub fn sign_tiktok(client_secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = keyed(client_secret.as_bytes());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},s={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"object":"page","entry":[]}"#;

    fn secrets() -> Secrets {
        Secrets::new("app-secret", "verify-me", "tiktok-secret")
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn meta_signatures_are_checked_on_the_exact_bytes() {
        let s = secrets();
        let good = sign_meta("app-secret", BODY);
        assert_eq!(s.verify_meta(Some(&good), BODY), Ok(()));
        assert_eq!(s.verify_meta(Some(&good.to_uppercase().replace("SHA256=", "sha256=")), BODY), Ok(()));
        assert_eq!(
            s.verify_meta(Some(&good), br#"{"object":"page","entry":[] }"#),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(s.verify_meta(Some(&sign_meta("other", BODY)), BODY), Err(SignatureError::Mismatch));
        assert_eq!(s.verify_meta(None, BODY), Err(SignatureError::Missing));
        for bad in ["", "sha256=", "sha1=abcd", "sha256=zz", "sha256=abcd", &good[7..]] {
            assert_eq!(s.verify_meta(Some(bad), BODY), Err(SignatureError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn tiktok_signatures_cover_the_timestamp_and_refuse_stale_ones() {
        let s = secrets();
        let t = 1_790_000_000;
        let good = sign_tiktok("tiktok-secret", t, BODY);
        assert_eq!(s.verify_tiktok(Some(&good), BODY, at(t)), Ok(()));
        assert_eq!(s.verify_tiktok(Some(&good), BODY, at(t + 300)), Ok(()));
        assert_eq!(s.verify_tiktok(Some(&good), BODY, at(t - 300)), Ok(()));
        assert_eq!(s.verify_tiktok(Some(&good), BODY, at(t + 301)), Err(SignatureError::Stale));
        assert_eq!(s.verify_tiktok(Some(&good), BODY, at(t - 301)), Err(SignatureError::Stale));
        // The timestamp is signed: moving it breaks the signature.
        let moved = good.replacen(&t.to_string(), &(t + 1).to_string(), 1);
        assert_eq!(s.verify_tiktok(Some(&moved), BODY, at(t)), Err(SignatureError::Mismatch));
        let other = sign_tiktok("other", t, BODY);
        assert_eq!(s.verify_tiktok(Some(&other), BODY, at(t)), Err(SignatureError::Mismatch));
        // A rotation: one of several signatures matching is enough.
        let both = format!("{other}, s={}", &good[good.len() - 64..]);
        assert_eq!(s.verify_tiktok(Some(&both), BODY, at(t)), Ok(()));
        assert_eq!(s.verify_tiktok(None, BODY, at(t)), Err(SignatureError::Missing));
        for bad in ["", "t=abc,s=00", "s=00", &format!("t={t}")] {
            assert_eq!(s.verify_tiktok(Some(bad), BODY, at(t)), Err(SignatureError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_verify_token_must_match_exactly() {
        let s = secrets();
        assert!(s.is_verify_token("verify-me"));
        for other in ["", "verify-m", "verify-me ", "VERIFY-ME", "verify-me-too"] {
            assert!(!s.is_verify_token(other), "{other:?}");
        }
    }
}
