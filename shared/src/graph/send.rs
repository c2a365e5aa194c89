//! Sending to a channel: one JSON POST whose answer the sender reads itself, because a send's
//! refusal says what to do next (wait, give up, reconnect) through the channel's own codes.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
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
        let (base, auth) = match api {
            Api::Meta => (&self.meta_graph_url, bearer(token)?),
            Api::Tiktok => (
                &self.tiktok_api_url,
                (HeaderName::from_static("access-token"), header(token.expose().to_owned())?),
            ),
        };
        let content_type = (http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let bytes = serde_json::to_vec(body).map_err(|_| GraphError::Invalid("the message is not JSON"))?;
        let url = format!("{base}{path}");
        let answer = self
            .send(
                &self.http,
                Method::POST,
                &url,
                &[auth, content_type],
                Some(Bytes::from(bytes)),
                MAX_ANSWER,
                self.total_timeout,
            )
            .await?;
        Ok(SendAnswer { status: answer.status.as_u16(), body: serde_json::from_slice(&answer.body).ok() })
    }
}
