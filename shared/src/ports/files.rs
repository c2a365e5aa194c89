//! The file port: objects in the bucket (S3) or in a local folder.

use async_trait::async_trait;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no object at that key")]
    NotFound,
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    #[error("file backend failure: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Files: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), FileError>;

    /// Stores an object carrying `tags` (S3 object tags, which the bucket's lifecycle rules
    /// filter on). A plain [`Files::put`] over it leaves it with none.
    async fn put_tagged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), FileError>;

    /// The object's tags, in the order stored.
    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, FileError>;

    async fn get(&self, key: &str) -> Result<StoredObject, FileError>;

    /// Deleting an absent object is not an error.
    async fn delete(&self, key: &str) -> Result<(), FileError>;

    /// Every key starting with the prefix, in lexicographic order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, FileError>;

    /// A URL anyone can GET for `expires_in`, without other credentials.
    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<String, FileError>;

    /// A URL anyone can PUT one object to, at `key`, for `expires_in`: the request must carry
    /// `Content-Type: {content_type}` and exactly `size` bytes, which the signature covers.
    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<String, FileError>;

    /// The object's size and type, without its bytes.
    async fn head(&self, key: &str) -> Result<ObjectInfo, FileError> {
        let object = self.get(key).await?;
        Ok(ObjectInfo { size: object.bytes.len() as u64, content_type: object.content_type })
    }

    /// Copies the object at `from` to `to` (replacing what is there).
    async fn copy(&self, from: &str, to: &str) -> Result<(), FileError> {
        let object = self.get(from).await?;
        let content_type = object.content_type.unwrap_or_else(|| "application/octet-stream".into());
        self.put(to, object.bytes, &content_type).await
    }
}

/// What [`Files::head`] tells of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

/// Object keys are paths of safe segments: no empty, `.` or `..` segment, no leading slash,
/// no backslash or control character. Both adapters refuse anything else.
pub fn validate_key(key: &str) -> Result<(), FileError> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.chars().any(|c| c == '\\' || c.is_control())
        || key.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad { Err(FileError::InvalidKey(key.to_owned())) } else { Ok(()) }
}

/// Percent-encodes a key for a URL path, keeping its slashes.
pub fn encode_key_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
