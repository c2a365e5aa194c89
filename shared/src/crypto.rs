//! Encryption at rest of the secrets we keep for tenants (channel access tokens).
//!
//! AES-256-GCM with a fresh random 96-bit nonce per encryption. Every sealed value names the
//! key that sealed it, so keys can rotate: the key ring's first key seals, every key in it
//! opens. Callers pass associated data naming the record a value belongs to, so a ciphertext
//! copied into another record fails to open instead of handing out another tenant's token.
//!
//! The key ring comes from `CHANNEL_TOKEN_KEYS`: comma-separated `kid:base64(32 bytes)`, the
//! current key first. To rotate, put a new key first and keep the old ones after it until
//! every stored value has been sealed again (a reconnection seals with the current key).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Bytes of a GCM nonce (96 bits, the size GCM is designed for).
const NONCE_LEN: usize = 12;
/// Longest key id: it is stored beside every ciphertext, so keep it short.
const MAX_KID_LEN: usize = 32;

/// A secret string, such as an access token: it never prints, in `Debug` or otherwise, so it
/// cannot reach a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send or seal it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A sealed value as stored: the key id, the nonce and the ciphertext (with its tag), the
/// last two in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub kid: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// Why a key ring setting is refused. Messages name entries by position and key id, never
/// by their key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key ring names no key")]
    Empty,
    #[error("key ring entry {0} is not `kid:base64`, with a kid of 1 to 32 characters [A-Za-z0-9_-]")]
    Malformed(usize),
    #[error("key {0} is not the base64 of exactly 32 bytes")]
    BadKey(String),
    #[error("key id {0} appears twice")]
    DuplicateKid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The value was sealed with a key the ring no longer (or never) held.
    #[error("no key with id {0} in the key ring")]
    UnknownKey(String),
    #[error("the sealed value is malformed")]
    Malformed,
    /// Tampered with, sealed for another record, or sealed by another key with the same id.
    #[error("the sealed value does not open with its key and context")]
    Rejected,
    #[error("no randomness for a nonce, or the cipher refused the value")]
    Seal,
}

/// The keys that seal and open tenants' secrets: the first seals, all of them open.
#[derive(Clone)]
pub struct TokenCipher {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for TokenCipher {
    // Key ids only: the keys never print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCipher").field("kids", &self.kids().collect::<Vec<_>>()).finish()
    }
}

fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl TokenCipher {
    /// Reads `kid:base64,kid:base64,...`; the first key is the current one.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (kid, material) = entry.split_once(':').ok_or(KeyError::Malformed(i + 1))?;
            let kid = kid.trim();
            if !valid_kid(kid) {
                return Err(KeyError::Malformed(i + 1));
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(KeyError::DuplicateKid(kid.to_owned()));
            }
            let bytes = STANDARD.decode(material.trim()).map_err(|_| KeyError::BadKey(kid.to_owned()))?;
            if bytes.len() != KEY_LEN {
                return Err(KeyError::BadKey(kid.to_owned()));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| KeyError::BadKey(kid.to_owned()))?;
            keys.push((kid.to_owned(), cipher));
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// The key ring named by the settings (`CHANNEL_TOKEN_KEYS`).
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<Self, KeyError> {
        match settings.get(crate::settings::Setting::ChannelTokenKeys) {
            Ok(keys) => Self::parse(keys),
            Err(_) => Err(KeyError::Empty),
        }
    }

    /// The id of the key that seals.
    pub fn current_kid(&self) -> &str {
        self.keys.first().map(|(kid, _)| kid.as_str()).unwrap_or_default()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(kid, _)| kid.as_str())
    }

    /// Seals `plaintext` with the current key; `aad` names the record it belongs to.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CryptoError> {
        let (kid, cipher) = self.keys.first().ok_or(CryptoError::Seal)?;
        // A fresh random nonce each time: with a 96-bit nonce, 2^32 seals per key stay far
        // within GCM's bound, and a token is sealed once per connection.
        let mut random = [0u8; NONCE_LEN];
        getrandom::fill(&mut random).map_err(|_| CryptoError::Seal)?;
        let nonce = Nonce::from(random);
        let ciphertext =
            cipher.encrypt(&nonce, Payload { msg: plaintext, aad }).map_err(|_| CryptoError::Seal)?;
        Ok(Sealed {
            kid: kid.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    /// Opens a sealed value with the key it names; `aad` must name the same record.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == sealed.kid)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.kid.clone()))?;
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| CryptoError::Malformed)?;
        if nonce.len() != NONCE_LEN {
            return Err(CryptoError::Malformed);
        }
        let nonce = Nonce::try_from(nonce.as_slice()).map_err(|_| CryptoError::Malformed)?;
        let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| CryptoError::Malformed)?;
        cipher.decrypt(&nonce, Payload { msg: &ciphertext, aad }).map_err(|_| CryptoError::Rejected)
    }

    pub fn seal_secret(&self, secret: &Secret, aad: &[u8]) -> Result<Sealed, CryptoError> {
        self.seal(secret.expose().as_bytes(), aad)
    }

    pub fn open_secret(&self, sealed: &Sealed, aad: &[u8]) -> Result<Secret, CryptoError> {
        let bytes = self.open(sealed, aad)?;
        String::from_utf8(bytes).map(Secret).map_err(|_| CryptoError::Malformed)
    }
}

/// Lowercase hex SHA-256 of `bytes`: what a stored file's `sha256` says.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn ring(spec: &str) -> TokenCipher {
        TokenCipher::parse(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn round_trips_and_never_repeats_a_nonce() {
        let c = ring(&format!("k1:{}", key(1)));
        let a = c.seal(b"EAAG-token", b"acme#ch_1").unwrap();
        let b = c.seal(b"EAAG-token", b"acme#ch_1").unwrap();
        assert_eq!(a.kid, "k1");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a.ciphertext.contains("EAAG"));
        assert_eq!(c.open(&a, b"acme#ch_1").unwrap(), b"EAAG-token");
        let secret = c.seal_secret(&Secret::new("tok"), b"x").unwrap();
        assert_eq!(c.open_secret(&secret, b"x").unwrap().expose(), "tok");
    }

    #[test]
    fn another_records_context_fails() {
        let c = ring(&format!("k1:{}", key(1)));
        let sealed = c.seal(b"token", b"acme#ch_1").unwrap();
        assert_eq!(c.open(&sealed, b"other#ch_1"), Err(CryptoError::Rejected));
        assert_eq!(c.open(&sealed, b"acme#ch_2"), Err(CryptoError::Rejected));
    }

    #[test]
    fn tampering_fails() {
        let c = ring(&format!("k1:{}", key(1)));
        let sealed = c.seal(b"token", b"aad").unwrap();
        let mut bytes = STANDARD.decode(&sealed.ciphertext).unwrap();
        bytes[0] ^= 1;
        let flipped = Sealed { ciphertext: STANDARD.encode(&bytes), ..sealed.clone() };
        assert_eq!(c.open(&flipped, b"aad"), Err(CryptoError::Rejected));
        let mut nonce = STANDARD.decode(&sealed.nonce).unwrap();
        nonce[0] ^= 1;
        let renonced = Sealed { nonce: STANDARD.encode(&nonce), ..sealed.clone() };
        assert_eq!(c.open(&renonced, b"aad"), Err(CryptoError::Rejected));
        let short = Sealed { nonce: STANDARD.encode([0u8; 8]), ..sealed.clone() };
        assert_eq!(c.open(&short, b"aad"), Err(CryptoError::Malformed));
        let garbage = Sealed { ciphertext: "***".into(), ..sealed };
        assert_eq!(c.open(&garbage, b"aad"), Err(CryptoError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_with_the_new_key() {
        let old = ring(&format!("k1:{}", key(1)));
        let sealed_before = old.seal(b"token", b"aad").unwrap();
        let rotated = ring(&format!("k2:{}, k1:{}", key(2), key(1)));
        assert_eq!(rotated.current_kid(), "k2");
        assert_eq!(rotated.open(&sealed_before, b"aad").unwrap(), b"token");
        let sealed_after = rotated.seal(b"token", b"aad").unwrap();
        assert_eq!(sealed_after.kid, "k2");
        // The old ring cannot read what the new key sealed: it fails cleanly, naming the kid.
        assert_eq!(old.open(&sealed_after, b"aad"), Err(CryptoError::UnknownKey("k2".into())));
    }

    #[test]
    fn a_different_key_under_a_known_id_is_rejected() {
        let sealed = ring(&format!("k1:{}", key(1))).seal(b"token", b"aad").unwrap();
        assert_eq!(ring(&format!("k1:{}", key(9))).open(&sealed, b"aad"), Err(CryptoError::Rejected));
    }

    #[test]
    fn bad_key_rings_are_refused_without_showing_keys() {
        assert_eq!(TokenCipher::parse("").err(), Some(KeyError::Empty));
        assert_eq!(TokenCipher::parse(" , ").err(), Some(KeyError::Empty));
        assert_eq!(TokenCipher::parse("nokid").err(), Some(KeyError::Malformed(1)));
        assert_eq!(TokenCipher::parse(&format!("a#b:{}", key(1))).err(), Some(KeyError::Malformed(1)));
        let short = STANDARD.encode([1u8; 16]);
        let err = TokenCipher::parse(&format!("k1:{short}")).err();
        assert_eq!(err, Some(KeyError::BadKey("k1".into())));
        assert!(!err.map(|e| e.to_string()).unwrap_or_default().contains(&short));
        let dup = format!("k1:{},k1:{}", key(1), key(2));
        assert_eq!(TokenCipher::parse(&dup).err(), Some(KeyError::DuplicateKid("k1".into())));
        let printed = format!("{:?}", ring(&format!("k1:{}", key(7))));
        assert!(printed.contains("k1") && !printed.contains(&key(7)));
        assert_eq!(format!("{:?}", Secret::new("EAAG")), "Secret(..)");
    }
}
