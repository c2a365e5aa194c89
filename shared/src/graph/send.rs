//! Sending to a channel: one JSON POST whose answer the sender reads itself, because a send's
//! refusal says what to do next (wait, give up, reconnect) through the channel's own codes.

use bytes::Bytes;
use http::{HeaderName, Method};
use serde_json::Value;

use super::{GraphClient, GraphError, MAX_ANSWER, bearer, header};
use crate::crypto::Secret;

/// Which API a send goes to, and how it takes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The Graph API (WhatsApp Cloud API, Messenger, Instagram): `Authorization: Bearer`.
    Meta,
    /// TikTok's Business API: `Access-Token`.
    Tiktok,
}

/// What the channel answered: its HTTP status and JSON body, whatever the status.
#[derive(Debug, Clone, PartialEq)]
pub struct SendAnswer {
    pub status: u16,
    pub body: Option<Value>,
}

/// A file in a `multipart/form-data` body.
pub struct FilePart<'a> {
    pub field: &'a str,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

impl GraphClient {
    /// `POST {base}{path}` with `body`. Only a failure to get an answer is an error
    /// ([`GraphError::Unavailable`] for timeouts and lost connections).
    pub async fn post_json(
        &self,
        api: Api,
        path: &str,
        token: &Secret,
        body: &Value,
    ) -> Result<SendAnswer, GraphError> {
        let bytes = serde_json::to_vec(body).map_err(|_| GraphError::Invalid("the message is not JSON"))?;
        self.post(api, path, token, "application/json", bytes).await
    }

    /// `POST {base}{path}` with a `multipart/form-data` body of text `fields` and one file
    /// (a channel's media upload), answered as [`Self::post_json`] is.
    pub async fn post_multipart(
        &self,
        api: Api,
        path: &str,
        token: &Secret,
        fields: &[(&str, &str)],
        file: &FilePart<'_>,
    ) -> Result<SendAnswer, GraphError> {
        let boundary = format!("gestor-{}", ulid::Ulid::new());
        let mut body = Vec::with_capacity(file.bytes.len() + 512);
        let quoted = |s: &str| s.replace(['"', '\r', '\n'], "_");
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                    quoted(name)
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                quoted(file.field),
                quoted(file.filename),
                file.content_type
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.post(api, path, token, &format!("multipart/form-data; boundary={boundary}"), body).await
    }

    async fn post(
        &self,
        api: Api,
        path: &str,
        token: &Secret,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<SendAnswer, GraphError> {
        let (base, auth) = match api {
            Api::Meta => (&self.meta_graph_url, bearer(token)?),
            Api::Tiktok => (
                &self.tiktok_api_url,
                (HeaderName::from_static("access-token"), header(token.expose().to_owned())?),
            ),
        };
        let content_type = (http::header::CONTENT_TYPE, header(content_type.to_owned())?);
        let url = format!("{base}{path}");
        let answer = self
            .send(
                &self.http,
                Method::POST,
                &url,
                &[auth, content_type],
                Some(Bytes::from(body)),
                MAX_ANSWER,
                self.total_timeout,
            )
            .await?;
        Ok(SendAnswer { status: answer.status.as_u16(), body: serde_json::from_slice(&answer.body).ok() })
    }
}
