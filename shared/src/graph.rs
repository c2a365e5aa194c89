//! The HTTP client for the channels' own APIs: Meta's Graph API (WhatsApp, Messenger,
//! Instagram) and TikTok's Business API, as far as connecting an account needs.
//!
//! Also downloads inbound media (WhatsApp media ids, Messenger/Instagram attachment URLs);
//! TikTok media is not fetched yet.
//!
//! Built once per cold start over the same hyper/rustls/aws-lc-rs stack the AWS SDK uses, so a
//! function carries one HTTP and one TLS stack. Every call has a connect timeout of 2 s and a
//! total one of 5 s, follows no redirect (hyper never does) and reads at most 1 MiB of answer.
//! Base URLs are settings (`META_GRAPH_URL`, `TIKTOK_API_URL`) so tests point them at a local
//! server. Tokens and the app secret travel in headers or query strings as each API takes
//! them; no URL, header or answer body is ever logged or put into an error message.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

use crate::crypto::Secret;
use crate::fetch_guard::{FetchPolicy, GuardedResolver};
use crate::inbound::Channel;
use crate::settings::{Setting, Settings};

mod control;
mod send;
mod templates;
pub use control::{Control, TokenInfo};
pub use send::{Api, FilePart, SendAnswer};
pub use templates::placeholders;

/// Largest answer read from a provider; theirs are a few hundred bytes.
const MAX_ANSWER: usize = 1024 * 1024;

/// Largest media file downloaded: WhatsApp's documented limit for documents (100 MB; video
/// is 16 MB, images 5 MB). Anything larger is refused, not cut.
pub const MAX_MEDIA: usize = 100 * 1024 * 1024;

/// A media download's total time: a large file needs more than an API call's 5 s, and the
/// inbound worker's Lambda timeout (30 s) must leave room for storing it.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(20);

/// A downloaded media file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub bytes: Bytes,
    /// The type the provider gave, when it gave one.
    pub mime_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the last byte of the answer.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(2), total: Duration::from_secs(5) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The provider refused: a 4xx, TikTok's non-zero `code`, or an answer about another
    /// object than the one asked for. The token, code or id does not do what was asked.
    #[error("the provider refused the request (HTTP {status}, code {code:?})")]
    Refused { status: u16, code: Option<i64> },
    /// 5xx, 429, a timeout or no connection: worth retrying later.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// A 2xx or 3xx whose body is not what the API documents.
    #[error("unexpected answer from the provider: {0}")]
    Unexpected(String),
    /// Input that cannot be sent (an id that is not a Graph id, a token that is not a header).
    #[error("cannot send the request: {0}")]
    Invalid(&'static str),
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

/// What a provider says about the account a token reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub id: String,
    /// The account's own name (WhatsApp `verified_name`, a Page's `name`, TikTok's
    /// `display_name`), when the answer has one.
    pub name: Option<String>,
}

/// A WhatsApp business phone number of a WhatsApp Business Account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    pub id: String,
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
}

type Http = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

#[derive(Clone)]
pub struct GraphClient {
    /// The channels' APIs, at the base URLs an operator configured.
    http: Http,
    /// Media downloads, at URLs from webhooks and answers: public addresses only.
    media_http: Http,
    media_policy: FetchPolicy,
    meta_graph_url: String,
    tiktok_api_url: String,
    /// The Meta app's id and secret, for a function that declares them (the code exchange
    /// and `debug_token` of Embedded Signup); downloads and sends need neither.
    app: Option<(String, Secret)>,
    total_timeout: Duration,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("meta_graph_url", &self.meta_graph_url)
            .field("tiktok_api_url", &self.tiktok_api_url)
            .finish_non_exhaustive()
    }
}

fn http_client(policy: FetchPolicy, timeouts: Timeouts) -> Result<Http, GraphError> {
    let mut tcp = HttpConnector::new_with_resolver(GuardedResolver { policy });
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(timeouts.connect));
    // aws-lc-rs named explicitly: the provider the SDK already links, and no reliance on a
    // process-wide default that nothing installs.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| GraphError::Setup(e.to_string()))?
        // Plain HTTP passes only what the policy lets through: an operator's base URL, or a
        // loopback fake where allowed (`FetchPolicy::allows_url`).
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new())
        // Lambda freezes between invocations; an idle connection older than this is likely
        // closed by the other end.
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// Graph ids (phone number, page, Instagram account, WABA) are decimal numbers; checking
/// that keeps a caller's id from becoming another path (`me`, `../oauth`).
pub fn is_graph_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 3986 percent-encoding of a query value: everything but the unreserved characters.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    encoded.join("&")
}

fn header(value: String) -> Result<HeaderValue, GraphError> {
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| GraphError::Invalid("the token is not a valid header value"))?;
    // Marks it for HTTP/2 HPACK and for any debug print of the request.
    value.set_sensitive(true);
    Ok(value)
}

fn bearer(token: &Secret) -> Result<(HeaderName, HeaderValue), GraphError> {
    Ok((http::header::AUTHORIZATION, header(format!("Bearer {}", token.expose()))?))
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

impl GraphClient {
    /// The client for the configured base URLs, with native root certificates.
    pub fn new(settings: &Settings) -> Result<Self, GraphError> {
        Self::with_timeouts(settings, Timeouts::default())
    }

    pub fn with_timeouts(settings: &Settings, timeouts: Timeouts) -> Result<Self, GraphError> {
        let media_policy = FetchPolicy::media(settings.fetch_loopback);
        let url = |setting| -> Result<String, GraphError> {
            let value = settings.get(setting).map_err(|e| GraphError::Setup(e.to_string()))?;
            Ok(value.trim_end_matches('/').to_owned())
        };
        let app = match (settings.get(Setting::MetaAppId), settings.get(Setting::MetaAppSecret)) {
            (Ok(id), Ok(secret)) => Some((id.to_owned(), Secret::new(secret))),
            _ => None,
        };
        Ok(Self {
            http: http_client(FetchPolicy::OPERATOR, timeouts)?,
            media_http: http_client(media_policy, timeouts)?,
            media_policy,
            meta_graph_url: url(Setting::MetaGraphUrl)?,
            tiktok_api_url: url(Setting::TiktokApiUrl)?,
            app,
            total_timeout: timeouts.total,
        })
    }

    fn app(&self) -> Result<(&str, &Secret), GraphError> {
        match &self.app {
            Some((id, secret)) => Ok((id, secret)),
            None => Err(GraphError::Setup("META_APP_ID and META_APP_SECRET are not declared".into())),
        }
    }

    /// Shows that `token` reaches the channel account `external_id`: for Meta,
    /// `GET {graph}/{external_id}` answers that very object; for TikTok,
    /// `GET {tiktok}/business/get/?business_id={external_id}` with `Access-Token` answers
    /// `code: 0` (TikTok's documented success; best known, as its docs are not public).
    pub async fn verify_account(
        &self,
        kind: Channel,
        external_id: &str,
        token: &Secret,
    ) -> Result<AccountInfo, GraphError> {
        if kind == Channel::Tiktok {
            return self.verify_tiktok(external_id, token).await;
        }
        if !is_graph_id(external_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let url = format!("{}/{external_id}", self.meta_graph_url);
        let answer = self.call(Method::GET, &url, &[bearer(token)?], None).await?;
        if answer.get("id").and_then(Value::as_str) != Some(external_id) {
            // The token reached something, but not this account.
            return Err(GraphError::Refused { status: 200, code: None });
        }
        let name = ["verified_name", "name", "username", "display_phone_number"]
            .iter()
            .find_map(|key| text(&answer, key));
        Ok(AccountInfo { id: external_id.to_owned(), name })
    }

    async fn verify_tiktok(&self, business_id: &str, token: &Secret) -> Result<AccountInfo, GraphError> {
        let url = format!("{}/business/get/?{}", self.tiktok_api_url, query(&[("business_id", business_id)]));
        let access = (HeaderName::from_static("access-token"), header(token.expose().to_owned())?);
        let answer = self.call(Method::GET, &url, &[access], None).await?;
        match answer.get("code").and_then(Value::as_i64) {
            Some(0) => {
                let data = answer.get("data").cloned().unwrap_or(Value::Null);
                Ok(AccountInfo { id: business_id.to_owned(), name: text(&data, "display_name") })
            }
            // TikTok answers errors with HTTP 200 and a code: 40100 is its rate limit and
            // 5xxxx its own failures (worth a retry); any other code refuses the token.
            Some(code) if code == 40100 || code >= 50000 => {
                Err(GraphError::Unavailable(format!("TikTok answered code {code}")))
            }
            Some(code) => Err(GraphError::Refused { status: 200, code: Some(code) }),
            None => Err(GraphError::Unexpected("TikTok's answer has no code".into())),
        }
    }

    /// Exchanges an Embedded Signup code for the business's token:
    /// `GET {graph}/oauth/access_token?client_id&client_secret&code` (the secret in the query
    /// string is how Meta takes it; this URL is never logged).
    pub async fn exchange_code(&self, code: &Secret) -> Result<Secret, GraphError> {
        let (app_id, app_secret) = self.app()?;
        let q =
            query(&[("client_id", app_id), ("client_secret", app_secret.expose()), ("code", code.expose())]);
        let url = format!("{}/oauth/access_token?{q}", self.meta_graph_url);
        let answer = self.call(Method::GET, &url, &[], None).await?;
        text(&answer, "access_token")
            .map(Secret::new)
            .ok_or_else(|| GraphError::Unexpected("no access_token in the code exchange's answer".into()))
    }

    /// Unsubscribes our app from a WhatsApp Business Account's or a Page's webhooks:
    /// `DELETE {graph}/{id}/subscribed_apps` with its token.
    pub async fn unsubscribe_app(&self, graph_id: &str, token: &Secret) -> Result<(), GraphError> {
        if !is_graph_id(graph_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let url = format!("{}/{graph_id}/subscribed_apps", self.meta_graph_url);
        let answer = self.call(Method::DELETE, &url, &[bearer(token)?], None).await?;
        match answer.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(GraphError::Refused { status: 200, code: None }),
        }
    }

    /// Subscribes our app to a Page's messaging webhooks (Messenger, and the Instagram account
    /// of the Page): `POST {graph}/{page}/subscribed_apps?subscribed_fields=...` with the
    /// Page's token.
    pub async fn subscribe_page(&self, page_id: &str, token: &Secret) -> Result<(), GraphError> {
        if !is_graph_id(page_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let fields =
            "messages,messaging_postbacks,message_echoes,message_reactions,message_reads,message_edits";
        let url = format!(
            "{}/{page_id}/subscribed_apps?{}",
            self.meta_graph_url,
            query(&[("subscribed_fields", fields)])
        );
        let answer = self.call(Method::POST, &url, &[bearer(token)?], Some(Bytes::new())).await?;
        match answer.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(GraphError::Refused { status: 200, code: None }),
        }
    }

    /// Subscribes our app to a WhatsApp Business Account's webhooks:
    /// `POST {graph}/{waba_id}/subscribed_apps` with the business token.
    pub async fn subscribe_app(&self, waba_id: &str, token: &Secret) -> Result<(), GraphError> {
        if !is_graph_id(waba_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let url = format!("{}/{waba_id}/subscribed_apps", self.meta_graph_url);
        let answer = self.call(Method::POST, &url, &[bearer(token)?], Some(Bytes::new())).await?;
        match answer.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(GraphError::Refused { status: 200, code: None }),
        }
    }

    /// The WhatsApp Business Accounts a business token was granted, newest first:
    /// `GET {graph}/debug_token?input_token=...` with the app's own token, read from
    /// `granular_scopes` for `whatsapp_business_management`.
    pub async fn shared_wabas(&self, token: &Secret) -> Result<Vec<String>, GraphError> {
        let url =
            format!("{}/debug_token?{}", self.meta_graph_url, query(&[("input_token", token.expose())]));
        let (app_id, app_secret) = self.app()?;
        let app_token = Secret::new(format!("{app_id}|{}", app_secret.expose()));
        let answer = self.call(Method::GET, &url, &[bearer(&app_token)?], None).await?;
        let scopes = answer.pointer("/data/granular_scopes").and_then(Value::as_array);
        Ok(scopes
            .into_iter()
            .flatten()
            .filter(|s| s.get("scope").and_then(Value::as_str) == Some("whatsapp_business_management"))
            .filter_map(|s| s.get("target_ids").and_then(Value::as_array))
            .flatten()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .filter(|id| is_graph_id(id))
            .collect())
    }

    /// The phone numbers of a WhatsApp Business Account: `GET {graph}/{waba_id}/phone_numbers`.
    pub async fn phone_numbers(&self, waba_id: &str, token: &Secret) -> Result<Vec<PhoneNumber>, GraphError> {
        if !is_graph_id(waba_id) {
            return Err(GraphError::Invalid("a Graph id is a decimal number"));
        }
        let url = format!("{}/{waba_id}/phone_numbers", self.meta_graph_url);
        let answer = self.call(Method::GET, &url, &[bearer(token)?], None).await?;
        let data = answer.get("data").and_then(Value::as_array);
        Ok(data
            .into_iter()
            .flatten()
            .filter_map(|n| {
                Some(PhoneNumber {
                    id: text(n, "id").filter(|id| is_graph_id(id))?,
                    display_phone_number: text(n, "display_phone_number"),
                    verified_name: text(n, "verified_name"),
                })
            })
            .collect())
    }

    /// Downloads a WhatsApp media file: `GET {graph}/{media_id}` with the business token
    /// answers `{url, mime_type, sha256, file_size, id}`, then `GET {url}` with the same token
    /// answers the bytes. Two requests; at most [`MAX_MEDIA`] bytes.
    pub async fn whatsapp_media(&self, media_id: &str, token: &Secret) -> Result<MediaFile, GraphError> {
        if !is_graph_id(media_id) {
            return Err(GraphError::Invalid("a WhatsApp media id is a decimal number"));
        }
        let auth = bearer(token)?;
        let url = format!("{}/{media_id}", self.meta_graph_url);
        let meta = self.call(Method::GET, &url, std::slice::from_ref(&auth), None).await?;
        if meta.get("file_size").and_then(Value::as_u64).is_some_and(|size| size > MAX_MEDIA as u64) {
            return Err(GraphError::Invalid("the media file is larger than the download limit"));
        }
        let Some(location) = text(&meta, "url") else {
            return Err(GraphError::Unexpected("no url in the media's answer".into()));
        };
        let mut file = self.download(&location, &[auth]).await?;
        // Meta's own type for the file is more precise than its CDN's content type.
        if let Some(mime_type) = text(&meta, "mime_type") {
            file.mime_type = Some(mime_type);
        }
        Ok(file)
    }

    /// Downloads a Messenger or Instagram attachment from the URL its webhook carried: one
    /// unauthenticated `GET` (the URL itself is signed and expires).
    pub async fn attachment(&self, url: &str) -> Result<MediaFile, GraphError> {
        self.download(url, &[]).await
    }

    /// A file from a URL someone gave (a reply's media by URL): the same guarded `GET`, at
    /// most `limit` bytes.
    pub async fn public_file(&self, url: &str, limit: usize) -> Result<MediaFile, GraphError> {
        self.download_up_to(url, &[], limit).await
    }

    async fn download(
        &self,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<MediaFile, GraphError> {
        self.download_up_to(url, headers, MAX_MEDIA).await
    }

    async fn download_up_to(
        &self,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        limit: usize,
    ) -> Result<MediaFile, GraphError> {
        let allowed = url.parse::<http::Uri>().is_ok_and(|uri| self.media_policy.allows_url(&uri));
        if !allowed {
            return Err(GraphError::Invalid("a media URL must be https to a public address"));
        }
        let answer =
            self.send(&self.media_http, Method::GET, url, headers, None, limit, MEDIA_TIMEOUT).await?;
        if !answer.status.is_success() {
            return Err(failure(answer.status, serde_json::from_slice::<Value>(&answer.body).ok().as_ref()));
        }
        Ok(MediaFile { bytes: answer.body, mime_type: answer.content_type })
    }

    /// One request: its JSON answer on a 2xx, the refusal or failure otherwise.
    async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
    ) -> Result<Value, GraphError> {
        let answer =
            self.send(&self.http, method, url, headers, body, MAX_ANSWER, self.total_timeout).await?;
        let json = serde_json::from_slice::<Value>(&answer.body).ok();
        let status = answer.status;
        if status.is_success() {
            return json.ok_or_else(|| GraphError::Unexpected(format!("HTTP {status} without a JSON body")));
        }
        Err(failure(status, json.as_ref()))
    }

    /// One request, its answer read whole up to `limit` bytes within `timeout`.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        http: &Http,
        method: Method,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Option<Bytes>,
        limit: usize,
        timeout: Duration,
    ) -> Result<Answer, GraphError> {
        let mut request =
            Request::builder().method(method).uri(url).header(http::header::ACCEPT, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            // Only a malformed URL gets here; the URL itself stays out of the message.
            .map_err(|_| GraphError::Setup("the provider's URL is not a valid URL".into()))?;
        let exchange = async {
            let response = http.request(request).await.map_err(|e| {
                if refused_address(&e) {
                    // Retrying cannot change where a name points for us.
                    return GraphError::Invalid("the media host has no public address");
                }
                // hyper's error names its kind, never the URL.
                let kind = if e.is_connect() { "no connection" } else { "request failed" };
                GraphError::Unavailable(kind.into())
            })?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    // Too large stays too large; a cut-off answer may come whole next time.
                    if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                        GraphError::Invalid("the answer is larger than the limit")
                    } else {
                        GraphError::Unavailable("the answer was cut off".into())
                    }
                })?
                .to_bytes();
            Ok::<_, GraphError>(Answer { status, content_type, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| GraphError::Unavailable("timed out".into()))?
    }
}

/// Whether a request failed because the guarded resolver refused every address of its host.
fn refused_address(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A provider's answer, read whole.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Bytes,
}

/// The error for a non-2xx answer.
fn failure(status: StatusCode, json: Option<&Value>) -> GraphError {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return GraphError::Unavailable(format!("HTTP {}", status.as_u16()));
    }
    if status.is_client_error() {
        // Meta's errors: {"error": {"message", "type", "code", ...}}; only the code is kept
        // (the message can quote the request).
        let code = json.and_then(|j| j.pointer("/error/code")).and_then(Value::as_i64);
        return GraphError::Refused { status: status.as_u16(), code };
    }
    // A 3xx among them: redirects are never followed.
    GraphError::Unexpected(format!("HTTP {}", status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query(&[("a", "x y&z=1#"), ("b", "AQB-_.~")]), "a=x%20y%26z%3D1%23&b=AQB-_.~");
        assert_eq!(encode("ñ"), "%C3%B1");
    }

    fn client(fetch_loopback: bool, graph: &str) -> GraphClient {
        let mut settings = Settings::local_with(|_| None);
        settings.set(Setting::MetaGraphUrl, graph);
        settings.fetch_loopback = fetch_loopback;
        GraphClient::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn media_is_never_fetched_from_an_internal_address_nor_by_a_redirect() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let fake = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/moved"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", format!("{}/file", fake.uri())),
            )
            .mount(&fake)
            .await;
        Mock::given(method("GET"))
            .and(path("/file"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(b"x".to_vec(), "image/png"))
            .mount(&fake)
            .await;
        let port = fake.address().port();

        // A deployed function: loopback refused by address, by name (after resolution), and
        // the instance metadata address, each before any byte is sent.
        let strict = client(false, &fake.uri());
        for url in [
            format!("http://127.0.0.1:{port}/file"),
            format!("https://127.0.0.1:{port}/file"),
            format!("https://localhost:{port}/file"),
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "http://lookaside.fbsbx.com/file".to_owned(),
        ] {
            let refused = strict.attachment(&url).await;
            assert!(matches!(refused, Err(GraphError::Invalid(_))), "{url}: {refused:?}");
        }
        assert!(fake.received_requests().await.unwrap_or_default().is_empty(), "nothing reached the server");

        // The local server's fakes: loopback allowed, a redirect still not followed.
        let local = client(true, &fake.uri());
        assert_eq!(
            local.attachment(&format!("{}/file", fake.uri())).await.map(|f| f.bytes.len()).ok(),
            Some(1)
        );
        let moved = local.attachment(&format!("{}/moved", fake.uri())).await;
        assert!(matches!(moved, Err(GraphError::Unexpected(_))), "{moved:?}");
        let paths: Vec<String> = fake
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect();
        assert_eq!(paths, vec!["/file", "/moved"], "the redirect's target was never asked for");
    }

    #[test]
    fn graph_ids_are_decimal() {
        assert!(is_graph_id("106540352242922"));
        for bad in ["", "me", "1/../oauth", "12 3", "１２", &"9".repeat(33)] {
            assert!(!is_graph_id(bad), "{bad}");
        }
    }
}
