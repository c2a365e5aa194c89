//! The file port over one S3 bucket, plus creating that bucket.

use crate::ports::files::{encode_key_path, validate_key};
use crate::ports::{FileError, Files, ObjectInfo, StoredObject};
use crate::resources;
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, TaggingDirective,
};
use std::time::Duration;

pub struct S3Files {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl Files for S3Files {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), FileError> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_error(key, e))?;
        Ok(())
    }

    async fn put_tagged(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), FileError> {
        validate_key(key)?;
        // The `x-amz-tagging` header: a URL query string.
        let tagging: Vec<String> =
            tags.iter().map(|(k, v)| format!("{}={}", encode_key_path(k), encode_key_path(v))).collect();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .tagging(tagging.join("&"))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_error(key, e))?;
        Ok(())
    }

    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, FileError> {
        validate_key(key)?;
        match self.client.get_object_tagging().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                Err(FileError::NotFound)
            }
            Err(e) => Err(sdk_error(key, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<StoredObject, FileError> {
        validate_key(key)?;
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(FileError::NotFound);
            }
            Err(e) => return Err(sdk_error(key, e)),
        };
        let content_type = out.content_type().map(str::to_owned);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| FileError::Backend(format!("reading {key} from S3: {e}")))?
            .into_bytes()
            .to_vec();
        Ok(StoredObject { bytes, content_type })
    }

    async fn delete(&self, key: &str) -> Result<(), FileError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(key, e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, FileError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(prefix, e))?;
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        // S3 lists in UTF-8 byte order already; sorting keeps the port's promise explicit.
        keys.sort();
        Ok(keys)
    }

    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<String, FileError> {
        validate_key(key)?;
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| FileError::Backend(format!("cannot presign for {expires_in:?}: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| sdk_error(key, e))?;
        Ok(request.uri().to_owned())
    }

    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<String, FileError> {
        let length = i64::try_from(size).map_err(|_| FileError::Backend(format!("{size} bytes")))?;
        validate_key(key)?;
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| FileError::Backend(format!("cannot presign for {expires_in:?}: {e}")))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .tagging(format!("{}={}", resources::UPLOAD_TAG.0, resources::UPLOAD_TAG.1))
            .presigned(config)
            .await
            .map_err(|e| sdk_error(key, e))?;
        Ok(request.uri().to_owned())
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, FileError> {
        validate_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(ObjectInfo {
                size: out.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                content_type: out.content_type().map(str::to_owned),
            }),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Err(FileError::NotFound),
            Err(e) => Err(sdk_error(key, e)),
        }
    }

    /// A copy inside the bucket, made by S3 itself: the bytes never pass through the function.
    async fn copy(&self, from: &str, to: &str) -> Result<(), FileError> {
        validate_key(from)?;
        validate_key(to)?;
        // `CopySource` is URL-encoded.
        let source = format!("{}/{}", self.bucket, encode_key_path(from));
        // The copy keeps no tag: an upload's expiry is not the message's.
        let copy = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .tagging_directive(TaggingDirective::Replace);
        match copy.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                Err(FileError::NotFound)
            }
            Err(e) => Err(sdk_error(from, e)),
        }
    }
}

fn sdk_error<E, R>(key: &str, err: SdkError<E, R>) -> FileError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    FileError::Backend(format!("S3, {key}: {}", DisplayErrorContext(&err)))
}

/// Creates the bucket (an existing bucket of ours is fine), blocks all public access, turns
/// on SSE-S3 default encryption, and expires export archives after
/// [`resources::EXPORTS_EXPIRE_DAYS`] and uploads after [`resources::UPLOADS_EXPIRE_DAYS`].
pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) -> Result<(), FileError> {
    let mut create = client.create_bucket().bucket(name);
    // us-east-1 refuses a location constraint naming itself.
    if let Some(region) = client.config().region().map(|r| r.as_ref().to_owned())
        && region != "us-east-1"
    {
        let location = CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region.as_str()))
            .build();
        create = create.create_bucket_configuration(location);
    }
    match create.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(sdk_error(name, e)),
    }

    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    client
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| sdk_error(name, e))?;

    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .map_err(|e| FileError::Backend(e.to_string()))?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build(),
        )
        .build()
        .map_err(|e| FileError::Backend(e.to_string()))?;
    client
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| sdk_error(name, e))?;

    let (tag, value) = resources::EXPORT_TAG;
    let tag = Tag::builder().key(tag).value(value).build().map_err(|e| FileError::Backend(e.to_string()))?;
    let exports = LifecycleRule::builder()
        .id("expire-exports")
        .filter(LifecycleRuleFilter::builder().tag(tag).build())
        .expiration(LifecycleExpiration::builder().days(days(resources::EXPORTS_EXPIRE_DAYS)).build())
        .status(ExpirationStatus::Enabled)
        .build()
        .map_err(|e| FileError::Backend(e.to_string()))?;
    let (tag, value) = resources::UPLOAD_TAG;
    let tag = Tag::builder().key(tag).value(value).build().map_err(|e| FileError::Backend(e.to_string()))?;
    let uploads = LifecycleRule::builder()
        .id("expire-uploads")
        .filter(LifecycleRuleFilter::builder().tag(tag).build())
        .expiration(LifecycleExpiration::builder().days(days(resources::UPLOADS_EXPIRE_DAYS)).build())
        .status(ExpirationStatus::Enabled)
        .build()
        .map_err(|e| FileError::Backend(e.to_string()))?;
    let (tag, value) = crate::dead_letters::TAG;
    let tag = Tag::builder().key(tag).value(value).build().map_err(|e| FileError::Backend(e.to_string()))?;
    let dead_letters = LifecycleRule::builder()
        .id("expire-dead-letters")
        .filter(LifecycleRuleFilter::builder().tag(tag).build())
        .expiration(LifecycleExpiration::builder().days(days(crate::dead_letters::EXPIRE_DAYS)).build())
        .status(ExpirationStatus::Enabled)
        .build()
        .map_err(|e| FileError::Backend(e.to_string()))?;
    let lifecycle = BucketLifecycleConfiguration::builder()
        .rules(exports)
        .rules(uploads)
        .rules(dead_letters)
        .build()
        .map_err(|e| FileError::Backend(e.to_string()))?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(lifecycle)
        .send()
        .await
        .map_err(|e| sdk_error(name, e))?;
    Ok(())
}

fn days(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
