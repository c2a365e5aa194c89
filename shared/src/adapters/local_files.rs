//! The file port over a local folder, with presigned links the local server honours.
//!
//! Layout under `root`: `objects/` holds one file per object, each key segment but the last
//! a directory named `{segment}.d` and the last a file named `{segment}.o`. The suffixes let
//! `a` and `a/b` both exist, as they can in S3. An object file starts with the content
//! type's length (4 bytes, big-endian) and the content type, then the bytes, so one rename
//! publishes both. Writes go to `tmp/` first and are renamed into place. An object's tags
//! are in a file beside it, `{segment}.t`.

use crate::ports::files::{encode_key_path, validate_key};
use crate::ports::{FileError, Files, StoredObject};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DIR_SUFFIX: &str = ".d";
const OBJECT_SUFFIX: &str = ".o";
/// An object's tags, beside it: one `key=value` line each. A plain put removes them.
const TAGS_SUFFIX: &str = ".t";
/// A rename can race a delete removing the now-empty parent directory; retrying recreates it.
const RENAME_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct LocalFiles {
    root: PathBuf,
    base_url: String,
    signing_key: Vec<u8>,
}

/// Why a presigned link was refused.
#[derive(Debug, thiserror::Error)]
pub enum PresignedError {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error(transparent)]
    File(#[from] FileError),
}

impl LocalFiles {
    pub fn new(
        root: impl Into<PathBuf>,
        base_url: impl Into<String>,
        signing_key: impl Into<Vec<u8>>,
    ) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { root: root.into(), base_url, signing_key: signing_key.into() }
    }

    /// Serves a link made by [`Files::presigned_get`]: `expires` and `signature` are its query
    /// parameters, `key` its decoded path after `/files/`. Links expire at `expires` exactly.
    pub fn open_presigned(
        &self,
        key: &str,
        expires: &str,
        signature: &str,
        now: SystemTime,
    ) -> Result<StoredObject, PresignedError> {
        let claimed = hex::decode(signature).map_err(|_| PresignedError::BadSignature)?;
        let mut mac = self.mac()?;
        mac.update(signed_text(key, expires).as_bytes());
        mac.verify_slice(&claimed).map_err(|_| PresignedError::BadSignature)?;
        // The signature covers `expires`, so a well-signed one always parses.
        let expires: u64 = expires.parse().map_err(|_| PresignedError::BadSignature)?;
        if unix_secs(now) >= expires {
            return Err(PresignedError::Expired);
        }
        validate_key(key)?;
        Ok(read_object(&self.object_path(key))?)
    }

    /// Stores the body of a PUT to a link made by [`Files::presigned_put`]: `expires` and
    /// `signature` are its query parameters, `content_type` the request's header; both it and
    /// the body's length must be the ones the link was made for.
    pub async fn accept_presigned_put(
        &self,
        key: &str,
        expires: &str,
        signature: &str,
        content_type: &str,
        bytes: Vec<u8>,
        now: SystemTime,
    ) -> Result<(), PresignedError> {
        let claimed = hex::decode(signature).map_err(|_| PresignedError::BadSignature)?;
        let mut mac = self.mac()?;
        mac.update(signed_put_text(key, expires, content_type, bytes.len() as u64).as_bytes());
        mac.verify_slice(&claimed).map_err(|_| PresignedError::BadSignature)?;
        let expires: u64 = expires.parse().map_err(|_| PresignedError::BadSignature)?;
        if unix_secs(now) >= expires {
            return Err(PresignedError::Expired);
        }
        Ok(self.put(key, bytes, content_type).await?)
    }

    fn mac(&self) -> Result<Hmac<Sha256>, FileError> {
        Hmac::<Sha256>::new_from_slice(&self.signing_key)
            .map_err(|e| FileError::Backend(format!("unusable signing key: {e}")))
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn object_path(&self, key: &str) -> PathBuf {
        let mut path = self.objects();
        let mut segments = key.split('/').peekable();
        while let Some(segment) = segments.next() {
            let suffix = if segments.peek().is_some() { DIR_SUFFIX } else { OBJECT_SUFFIX };
            path.push(format!("{segment}{suffix}"));
        }
        path
    }

    /// Runs blocking file work off the async runtime's threads.
    async fn blocking<T, F>(&self, f: F) -> Result<T, FileError>
    where
        T: Send + 'static,
        F: FnOnce(LocalFiles) -> Result<T, FileError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(|e| FileError::Backend(format!("local files task failed: {e}")))?
    }
}

#[async_trait]
impl Files for LocalFiles {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), FileError> {
        self.put_tagged(key, bytes, content_type, &[]).await
    }

    async fn put_tagged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), FileError> {
        validate_key(key)?;
        let (key, content_type) = (key.to_owned(), content_type.to_owned());
        let tags: String = tags.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        self.blocking(move |this| {
            let path = this.object_path(&key);
            let tags_path = path.with_extension(&TAGS_SUFFIX[1..]);
            if tags.is_empty() {
                match std::fs::remove_file(&tags_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&key)(e)),
                }
            } else {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(&key))?;
                }
                std::fs::write(&tags_path, tags.as_bytes()).map_err(io(&key))?;
            }
            let tmp_dir = this.root.join("tmp");
            std::fs::create_dir_all(&tmp_dir).map_err(io(&key))?;
            let tmp = tmp_dir.join(ulid::Ulid::new().to_string());
            write_object(&tmp, &content_type, &bytes).map_err(io(&key))?;
            let mut attempt = 1;
            loop {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(&key))?;
                }
                match std::fs::rename(&tmp, &path) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::NotFound && attempt < RENAME_ATTEMPTS => attempt += 1,
                    Err(e) => {
                        // Best effort: a leftover temp file is garbage, not data.
                        let _ = std::fs::remove_file(&tmp);
                        return Err(io(&key)(e));
                    }
                }
            }
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<StoredObject, FileError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |this| read_object(&this.object_path(&key))).await
    }

    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, FileError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |this| {
            let path = this.object_path(&key);
            if !path.exists() {
                return Err(FileError::NotFound);
            }
            let text = match std::fs::read_to_string(path.with_extension(&TAGS_SUFFIX[1..])) {
                Ok(text) => text,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(io(&key)(e)),
            };
            Ok(text
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), FileError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.blocking(move |this| {
            let path = this.object_path(&key);
            match std::fs::remove_file(path.with_extension(&TAGS_SUFFIX[1..])) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io(&key)(e)),
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io(&key)(e)),
            }
            // Empty directories would pile up under keys long gone; removing one that is not
            // empty fails, which ends the climb.
            let objects = this.objects();
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| *d != objects.as_path()) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, FileError> {
        let prefix = prefix.to_owned();
        self.blocking(move |this| {
            let mut keys = Vec::new();
            collect_keys(&this.objects(), "", &prefix, &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<String, FileError> {
        validate_key(key)?;
        let expires = unix_secs(SystemTime::now()).saturating_add(expires_in.as_secs()).to_string();
        let mut mac = self.mac()?;
        mac.update(signed_text(key, &expires).as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        Ok(format!(
            "{}/files/{}?expires={expires}&signature={signature}",
            self.base_url,
            encode_key_path(key)
        ))
    }

    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<String, FileError> {
        validate_key(key)?;
        let expires = unix_secs(SystemTime::now()).saturating_add(expires_in.as_secs()).to_string();
        let mut mac = self.mac()?;
        mac.update(signed_put_text(key, &expires, content_type, size).as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        Ok(format!(
            "{}/files/{}?expires={expires}&signature={signature}",
            self.base_url,
            encode_key_path(key)
        ))
    }
}

fn signed_text(key: &str, expires: &str) -> String {
    format!("{key}\n{expires}")
}

/// Unlike a GET link's text, it starts with the method, and keys hold no newline: one link
/// can never pass for the other.
fn signed_put_text(key: &str, expires: &str, content_type: &str, size: u64) -> String {
    format!("PUT\n{key}\n{expires}\n{content_type}\n{size}")
}

/// Walks `dir` (holding the keys starting with `above`), descending only where keys can
/// start with `prefix`.
fn collect_keys(dir: &Path, above: &str, prefix: &str, keys: &mut Vec<String>) -> Result<(), FileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(above)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(above))?;
        let name = entry.file_name();
        // Anything not named by this adapter is not an object.
        let Some(name) = name.to_str() else { continue };
        if let Some(segment) = name.strip_suffix(DIR_SUFFIX) {
            let below = format!("{above}{segment}/");
            if below.starts_with(prefix) || prefix.starts_with(&below) {
                collect_keys(&entry.path(), &below, prefix, keys)?;
            }
        } else if let Some(segment) = name.strip_suffix(OBJECT_SUFFIX) {
            let key = format!("{above}{segment}");
            if key.starts_with(prefix) {
                keys.push(key);
            }
        }
    }
    Ok(())
}

fn write_object(path: &Path, content_type: &str, bytes: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(content_type.len())
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "content type too long"))?;
    let mut file = std::fs::File::create(path)?;
    file.write_all(&length.to_be_bytes())?;
    file.write_all(content_type.as_bytes())?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn read_object(path: &Path) -> Result<StoredObject, FileError> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(FileError::NotFound),
        Err(e) => return Err(FileError::Backend(format!("{}: {e}", path.display()))),
    };
    let corrupt = || FileError::Backend(format!("{} is not an object file", path.display()));
    let (length, rest) = data.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| corrupt())?;
    if rest.len() < length {
        return Err(corrupt());
    }
    let (content_type, bytes) = rest.split_at(length);
    let content_type = std::str::from_utf8(content_type).map_err(|_| corrupt())?;
    Ok(StoredObject {
        bytes: bytes.to_vec(),
        content_type: Some(content_type.to_owned()).filter(|c| !c.is_empty()),
    })
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn io(key: &str) -> impl Fn(std::io::Error) -> FileError + '_ {
    move |e| FileError::Backend(format!("local files, {key}: {e}"))
}
