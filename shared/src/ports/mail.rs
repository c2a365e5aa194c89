//! Sending email: today the invites (`POST /v1/members`). SES in AWS; in the local server a
//! mailbox folder that `GET /dev/mail` shows, so an invite can be followed end to end.

use async_trait::async_trait;

/// One plain-text email to one person, from the deployment's sender (`MAIL_FROM`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The service refused this email for good (the sender or the recipient is not allowed,
    /// the account is paused): sending it again does not help until someone fixes the setup.
    #[error("the mail service refused the email: {0}")]
    Refused(String),
    /// Busy, throttled, or unreachable: the same email may go through later.
    #[error("the mail service is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`; the answer is the service's id for it.
    async fn send(&self, mail: &Mail) -> Result<String, MailError>;
}
