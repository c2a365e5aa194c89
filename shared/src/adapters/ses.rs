//! The mail port over Amazon SES (API v2 `SendEmail`), plain text from `MAIL_FROM`.
//!
//! A refusal that only a change of setup can cure (an unverified sender, a suspended or
//! paused account, a rejected message) is `Refused`; throttling, 5xx answers and transport
//! failures are `Unavailable`, because the same email may go through a moment later.

use async_trait::async_trait;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::ports::mail::{Mail, MailError, Mailer};

pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self { client, from: from.into() }
    }
}

fn utf8(text: &str) -> Result<Content, MailError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| MailError::Refused(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(utf8(&mail.subject)?)
            .body(Body::builder().text(utf8(&mail.text)?).build())
            .build();
        let answer = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match answer {
            Ok(output) => Ok(output.message_id.unwrap_or_default()),
            Err(e) => Err(classify(e)),
        }
    }
}

fn classify(error: SdkError<SendEmailError, HttpResponse>) -> MailError {
    let Some(service) = error.as_service_error() else {
        let detail = DisplayErrorContext(&error).to_string();
        // Timeouts, dispatch and response failures: nothing says the email was refused.
        return match error {
            SdkError::ConstructionFailure(_) => MailError::Refused(detail),
            _ => MailError::Unavailable(detail),
        };
    };
    // SES's messages name the addresses that failed its checks: only the error code is kept,
    // so that no address reaches a log line.
    let detail = format!("SES answered {}", service.code().unwrap_or("an unnamed error"));
    match service {
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
            MailError::Unavailable(detail)
        }
        SendEmailError::AccountSuspendedException(_)
        | SendEmailError::BadRequestException(_)
        | SendEmailError::MailFromDomainNotVerifiedException(_)
        | SendEmailError::MessageRejected(_)
        | SendEmailError::NotFoundException(_)
        | SendEmailError::SendingPausedException(_) => MailError::Refused(detail),
        // An unmodelled answer: a 5xx from SES is worth another try, anything else is not.
        _ => match error.raw_response().map(|r| r.status().as_u16()) {
            Some(status) if status >= 500 || status == 429 => MailError::Unavailable(detail),
            _ => MailError::Refused(detail),
        },
    }
}
