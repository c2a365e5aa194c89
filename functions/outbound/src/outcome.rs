//! What became of one attempt to send, whatever the channel.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The channel took it, under this id.
    Accepted(String),
    /// Try again later: a rate limit, an outage, a timeout. `pace` when the channel asked to
    /// slow down for this recipient or number (that is no failure of the message);
    /// `account` when the limit is the whole account's (the number, the Page, the app), so
    /// that its other conversations wait too instead of meeting it again.
    Again { reason: String, after: Option<Duration>, pace: bool, account: bool },
    /// Never going to work as it is: `failed` with the channel's code and why.
    Refused { code: String, title: String },
    /// The channel refused the account's token: the account needs connecting again.
    TokenRefused { code: String },
}

impl Outcome {
    pub fn refused(code: &str, title: &str) -> Self {
        Self::Refused { code: code.to_owned(), title: title.to_owned() }
    }

    pub fn again(reason: &str) -> Self {
        Self::Again { reason: reason.to_owned(), after: None, pace: false, account: false }
    }

    pub fn paced(after: Duration, reason: &str) -> Self {
        Self::Again { reason: reason.to_owned(), after: Some(after), pace: true, account: false }
    }

    /// A pace the whole channel account must keep (a number's throughput, an app's limit).
    pub fn account_paced(after: Duration, reason: &str) -> Self {
        Self::Again { reason: reason.to_owned(), after: Some(after), pace: true, account: true }
    }
}
