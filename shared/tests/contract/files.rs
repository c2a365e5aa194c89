//! The file contract: every scenario runs against the local folder and against S3 (the
//! emulator). Presigned links are fetched over HTTP: from the emulator, or from a small
//! server here standing in for the local server's `GET /files/{*key}` route.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gestor_shared::adapters::local_files::{LocalFiles, PresignedError};
use gestor_shared::adapters::s3::{self, S3Files};
use gestor_shared::adapters::{aws, provision, sqs};
use gestor_shared::ports::{FileError, Files};
use gestor_shared::resources;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

struct Setup {
    files: Arc<dyn Files>,
    local: Option<Arc<LocalFiles>>,
    _dir: Option<tempfile::TempDir>,
}

async fn serve_presigned(
    State(files): State<Arc<LocalFiles>>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    match files.open_presigned(&key, param("expires"), param("signature"), SystemTime::now()) {
        Ok(object) => {
            let content_type = object.content_type.unwrap_or_else(|| "application/octet-stream".into());
            ([(header::CONTENT_TYPE, content_type)], object.bytes).into_response()
        }
        Err(PresignedError::Expired) => StatusCode::GONE.into_response(),
        Err(PresignedError::BadSignature) => StatusCode::FORBIDDEN.into_response(),
        Err(PresignedError::File(FileError::NotFound)) => StatusCode::NOT_FOUND.into_response(),
        Err(PresignedError::File(_)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn accept_presigned(
    State(files): State<Arc<LocalFiles>>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let param = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let stored = files
        .accept_presigned_put(
            &key,
            param("expires"),
            param("signature"),
            content_type,
            body.to_vec(),
            SystemTime::now(),
        )
        .await;
    match stored {
        Ok(()) => StatusCode::OK.into_response(),
        Err(PresignedError::Expired) => StatusCode::GONE.into_response(),
        Err(PresignedError::BadSignature) => StatusCode::FORBIDDEN.into_response(),
        Err(PresignedError::File(_)) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn local_setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let local = Arc::new(LocalFiles::new(dir.path(), base_url, b"contract-test-key".to_vec()));
    let app = axum::Router::new()
        .route("/files/{*key}", axum::routing::get(serve_presigned).put(accept_presigned))
        .with_state(Arc::clone(&local));
    // Lives as long as the test's runtime.
    tokio::spawn(async move { axum::serve(listener, app).await });
    Setup { files: local.clone(), local: Some(local), _dir: Some(dir) }
}

async fn aws_setup() -> Option<Setup> {
    let config = crate::aws_env::config().await?;
    let client = aws::s3_client(&config);
    let bucket = crate::aws_env::unique_name("files");
    s3::create_bucket(&client, &bucket).await.unwrap();
    Some(Setup { files: Arc::new(S3Files::new(client, bucket)), local: None, _dir: None })
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod on_local {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::local_setup().await.files).await;
                }
            )*
        }
        mod on_aws {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let Some(setup) = super::aws_setup().await else { return };
                    super::$scenario(setup.files).await;
                }
            )*
        }
    };
}

contract!(
    put_get_overwrite_delete,
    list_by_prefix_in_order,
    missing_keys_are_not_found,
    invalid_keys_are_refused,
    presigned_links_can_be_fetched,
    presigned_puts_store_the_object_with_its_signed_type_only,
    head_and_copy,
    tagged_objects_keep_their_tags_until_overwritten,
);

async fn tagged_objects_keep_their_tags_until_overwritten(files: Arc<dyn Files>) {
    let key = "acme/exports/prq_1.zip";
    files.put_tagged(key, b"zip".to_vec(), "application/zip", &[("retention", "export")]).await.unwrap();
    assert_eq!(files.tags(key).await.unwrap(), vec![("retention".to_owned(), "export".to_owned())]);
    assert_eq!(files.get(key).await.unwrap().bytes, b"zip");
    assert_eq!(files.list("acme/").await.unwrap(), vec![key.to_owned()], "tags are no object");
    // As S3 does: a plain put replaces the object, tags and all.
    files.put(key, b"again".to_vec(), "application/zip").await.unwrap();
    assert_eq!(files.tags(key).await.unwrap(), Vec::<(String, String)>::new());
    files.put_tagged(key, b"zip".to_vec(), "application/zip", &[("retention", "export")]).await.unwrap();
    files.delete(key).await.unwrap();
    assert!(matches!(files.tags(key).await, Err(FileError::NotFound)));
    assert!(files.list("acme/").await.unwrap().is_empty());
}

async fn put_get_overwrite_delete(files: Arc<dyn Files>) {
    let key = "contacts/42/notes.txt";
    files.put(key, b"first".to_vec(), "text/plain").await.unwrap();
    let object = files.get(key).await.unwrap();
    assert_eq!(object.bytes, b"first");
    assert_eq!(object.content_type.as_deref(), Some("text/plain"));

    files.put(key, vec![0, 159, 146, 150], "application/octet-stream").await.unwrap();
    let object = files.get(key).await.unwrap();
    assert_eq!(object.bytes, [0, 159, 146, 150]);
    assert_eq!(object.content_type.as_deref(), Some("application/octet-stream"));

    files.delete(key).await.unwrap();
    assert!(matches!(files.get(key).await, Err(FileError::NotFound)));
    files.delete(key).await.unwrap();
    assert!(files.list("contacts/").await.unwrap().is_empty());
}

async fn list_by_prefix_in_order(files: Arc<dyn Files>) {
    let keys = ["b/6.txt", "a/b/c/4.txt", "a", "ab/5.txt", "a/2.txt", "a/b/3.txt", "a/1.txt"];
    for key in keys {
        files.put(key, key.as_bytes().to_vec(), "text/plain").await.unwrap();
    }
    let list = |prefix: &'static str| {
        let files = Arc::clone(&files);
        async move { files.list(prefix).await.unwrap() }
    };
    assert_eq!(list("a/").await, ["a/1.txt", "a/2.txt", "a/b/3.txt", "a/b/c/4.txt"]);
    assert_eq!(list("a/b").await, ["a/b/3.txt", "a/b/c/4.txt"]);
    assert_eq!(list("a/b/c/").await, ["a/b/c/4.txt"]);
    assert_eq!(list("a").await, ["a", "a/1.txt", "a/2.txt", "a/b/3.txt", "a/b/c/4.txt", "ab/5.txt"]);
    let mut all = keys.to_vec();
    all.sort_unstable();
    assert_eq!(list("").await, all);
    assert!(list("zz").await.is_empty());

    // "a" and "a/..." live side by side; deleting one leaves the others.
    files.delete("a").await.unwrap();
    files.delete("a/b/c/4.txt").await.unwrap();
    assert_eq!(list("a").await, ["a/1.txt", "a/2.txt", "a/b/3.txt", "ab/5.txt"]);
    assert_eq!(files.get("a/b/3.txt").await.unwrap().bytes, b"a/b/3.txt");
}

async fn missing_keys_are_not_found(files: Arc<dyn Files>) {
    assert!(matches!(files.get("nothing/here.txt").await, Err(FileError::NotFound)));
    files.put("something/here.txt", b"x".to_vec(), "text/plain").await.unwrap();
    assert!(matches!(files.get("something").await, Err(FileError::NotFound)));
    assert!(matches!(files.get("something/here.txt/deeper").await, Err(FileError::NotFound)));
}

async fn invalid_keys_are_refused(files: Arc<dyn Files>) {
    let long = "k".repeat(1025);
    let bad =
        ["", "/abs", "a//b", "a/../b", "./a", "a/.", "trailing/", "back\\slash", "ctl\u{1}", long.as_str()];
    for key in bad {
        let refused = |r: Result<(), FileError>| matches!(r, Err(FileError::InvalidKey(_)));
        assert!(refused(files.put(key, b"x".to_vec(), "text/plain").await), "put {key:?}");
        assert!(refused(files.get(key).await.map(drop)), "get {key:?}");
        assert!(refused(files.delete(key).await), "delete {key:?}");
        assert!(
            refused(files.presigned_get(key, Duration::from_secs(60)).await.map(drop)),
            "presign {key:?}"
        );
    }
}

async fn presigned_links_can_be_fetched(files: Arc<dyn Files>) {
    let key = "exports/2024 q1/summary (final).csv";
    files.put(key, b"id,name\n1,Ana\n".to_vec(), "text/csv").await.unwrap();
    let url = files.presigned_get(key, Duration::from_secs(300)).await.unwrap();
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.headers()[reqwest::header::CONTENT_TYPE], "text/csv");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"id,name\n1,Ana\n");
}

async fn presigned_puts_store_the_object_with_its_signed_type_only(files: Arc<dyn Files>) {
    let key = "acme/uploads/file_01 catálogo";
    let url = files.presigned_put(key, "application/pdf", 13, Duration::from_secs(300)).await.unwrap();
    let http = reqwest::Client::new();
    // S3 checks the signature, which the emulator does not: there, the link must sign the type.
    let signs = |url: &str| url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost");
    let on_s3 = url.contains("X-Amz-Signature");
    if on_s3 {
        assert!(signs(&url), "the type is signed: {url}");
    } else {
        // Another type, or another size, than the one signed is refused, and stores nothing.
        let wrong =
            http.put(&url).header("content-type", "image/png").body("%PDF-1.7 hola").send().await.unwrap();
        assert!(wrong.status().is_client_error(), "{}", wrong.status());
        let longer = http
            .put(&url)
            .header("content-type", "application/pdf")
            .body("%PDF-1.7 hola!")
            .send()
            .await
            .unwrap();
        assert!(longer.status().is_client_error(), "{}", longer.status());
        assert!(matches!(files.head(key).await, Err(FileError::NotFound)));
    }
    let put = http
        .put(&url)
        .header("content-type", "application/pdf")
        .header("x-amz-tagging", "retention=upload")
        .body("%PDF-1.7 hola")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{url}");
    let object = files.get(key).await.unwrap();
    assert_eq!(
        (object.bytes.as_slice(), object.content_type.as_deref()),
        (&b"%PDF-1.7 hola"[..], Some("application/pdf"))
    );
    // A GET link is no PUT link.
    if !on_s3 {
        let read = files.presigned_get(key, Duration::from_secs(300)).await.unwrap();
        let forged =
            http.put(&read).header("content-type", "application/pdf").body("y").send().await.unwrap();
        assert!(forged.status().is_client_error(), "{}", forged.status());
        assert_eq!(files.get(key).await.unwrap().bytes, b"%PDF-1.7 hola");
    }
}

async fn head_and_copy(files: Arc<dyn Files>) {
    files.put("acme/uploads/a", b"12345".to_vec(), "image/jpeg").await.unwrap();
    let info = files.head("acme/uploads/a").await.unwrap();
    assert_eq!((info.size, info.content_type.as_deref()), (5, Some("image/jpeg")));
    assert!(matches!(files.head("acme/uploads/none").await, Err(FileError::NotFound)));
    files.copy("acme/uploads/a", "acme/media/msg_1").await.unwrap();
    let copy = files.get("acme/media/msg_1").await.unwrap();
    assert_eq!((copy.bytes.as_slice(), copy.content_type.as_deref()), (&b"12345"[..], Some("image/jpeg")));
    // The copy is its own object: deleting the original leaves it.
    files.delete("acme/uploads/a").await.unwrap();
    assert_eq!(files.get("acme/media/msg_1").await.unwrap().bytes, b"12345");
    assert!(matches!(files.copy("acme/uploads/a", "acme/media/msg_2").await, Err(FileError::NotFound)));
}

/// In S3, an uploaded file carries the tag its lifecycle rule expires it by; the message's
/// copy carries none.
#[tokio::test]
async fn aws_uploads_are_tagged_for_expiry_and_their_copies_are_not() {
    let Some(config) = crate::aws_env::config().await else { return };
    let client = aws::s3_client(&config);
    let bucket = crate::aws_env::unique_name("tags");
    s3::create_bucket(&client, &bucket).await.unwrap();
    let files = S3Files::new(client.clone(), bucket.clone());
    let url =
        files.presigned_put("acme/uploads/file_1", "image/png", 3, Duration::from_secs(300)).await.unwrap();
    assert!(url.contains("x-amz-tagging"), "the tag is signed: {url}");
    let put = reqwest::Client::new()
        .put(&url)
        .header("content-type", "image/png")
        .header("x-amz-tagging", "retention=upload")
        .body("PNG")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let tags = |key: &'static str| {
        let (client, bucket) = (client.clone(), bucket.clone());
        async move {
            let out = client.get_object_tagging().bucket(bucket).key(key).send().await.unwrap();
            out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect::<Vec<_>>()
        }
    };
    assert_eq!(tags("acme/uploads/file_1").await, [("retention".to_owned(), "upload".to_owned())]);
    files.copy("acme/uploads/file_1", "acme/media/msg_1").await.unwrap();
    assert!(tags("acme/media/msg_1").await.is_empty());
    let rules = client.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    assert!(rules.rules().iter().any(|r| r.id() == Some("expire-uploads")));
}

// What only the local adapter promises: its links refuse tampering and expiry.

#[tokio::test]
async fn local_links_refuse_tampering_and_expiry() {
    let setup = local_setup().await;
    let files = setup.files;
    files.put("exports/a.zip", b"zip".to_vec(), "application/zip").await.unwrap();
    files.put("exports/b.zip", b"other".to_vec(), "application/zip").await.unwrap();
    let url = files.presigned_get("exports/a.zip", Duration::from_secs(300)).await.unwrap();
    let status = |url: String| async move { reqwest::get(&url).await.unwrap().status().as_u16() };
    assert_eq!(status(url.clone()).await, 200);

    let other_key = url.replace("exports/a.zip", "exports/b.zip");
    assert_eq!(status(other_key).await, 403);
    let (head, signature) = url.rsplit_once("signature=").unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    assert_eq!(status(format!("{head}signature={flipped}{}", &signature[1..])).await, 403);
    let (before, after) = url.split_once("expires=").unwrap();
    assert_eq!(status(format!("{before}expires=9{after}")).await, 403);

    let expired = files.presigned_get("exports/a.zip", Duration::ZERO).await.unwrap();
    assert_eq!(status(expired).await, 410);

    let missing = files.presigned_get("exports/gone.zip", Duration::from_secs(300)).await.unwrap();
    assert_eq!(status(missing).await, 404);
}

#[tokio::test]
async fn local_links_expire_at_their_instant() {
    let setup = local_setup().await;
    let local = setup.local.unwrap();
    local.put("x/y", b"y".to_vec(), "text/plain").await.unwrap();
    let url = local.presigned_get("x/y", Duration::from_secs(60)).await.unwrap();
    let query: HashMap<String, String> = url
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let expires: u64 = query["expires"].parse().unwrap();
    let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let open = |now| local.open_presigned("x/y", &query["expires"], &query["signature"], now);
    assert_eq!(open(at(expires - 1)).unwrap().bytes, b"y");
    assert!(matches!(open(at(expires)), Err(PresignedError::Expired)));
    assert!(matches!(
        local.open_presigned("x/y", &query["expires"], "zz", at(0)),
        Err(PresignedError::BadSignature)
    ));
}

// Provisioning the whole stack's resources on the emulator.

#[tokio::test]
async fn aws_provision_creates_every_resource_as_specified() {
    let Some(config) = crate::aws_env::config().await else {
        return;
    };
    let prefix = format!("{}-", crate::aws_env::unique_name("stack"));
    let provisioned = provision::provision(&config, &prefix).await.unwrap();
    assert_eq!(provisioned, provision::provision(&config, &prefix).await.unwrap(), "idempotent");

    let exports: HashMap<String, String> = provisioned.env_exports().into_iter().collect();
    assert_eq!(exports["TABLE_NAME"], format!("{prefix}table"));
    assert_eq!(exports["BUCKET_NAME"], format!("{prefix}files"));

    let sqs = aws::sqs_client(&config);
    for spec in resources::QUEUES {
        let url = &exports[spec.url_setting.name()];
        assert!(url.ends_with(&spec.queue_name(&prefix)), "{url}");
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attributes = attributes.attributes().unwrap();
        let get = |name: &str| attributes.get(&name.into()).cloned().unwrap_or_default();
        assert_eq!(get("VisibilityTimeout"), spec.visibility_timeout_secs().to_string());
        assert_eq!(get("FifoQueue") == "true", spec.fifo, "{}", spec.name);
        let redrive: serde_json::Value = serde_json::from_str(&get("RedrivePolicy")).unwrap();
        assert_eq!(
            redrive["maxReceiveCount"].to_string().trim_matches('"'),
            spec.max_receive_count.to_string()
        );
        assert!(redrive["deadLetterTargetArn"].as_str().unwrap().ends_with(&spec.dlq_name(&prefix)));
        sqs::queue_url(&sqs, &spec.dlq_name(&prefix)).await.unwrap();
    }

    let s3 = aws::s3_client(&config);
    let bucket = &provisioned.bucket_name;
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    let algorithm = rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm();
    assert_eq!(algorithm, &aws_sdk_s3::types::ServerSideEncryption::Aes256);
    let block = s3.get_public_access_block().bucket(bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
}
