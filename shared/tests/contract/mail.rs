//! The SES mailer against the emulator, and against an HTTP stand-in for the answers the
//! emulator never gives (throttling, 5xx, a dead endpoint): a sender that is not a verified
//! identity is refused for good, one that is sends; a busy or unreachable service is
//! `Unavailable`, so the invite is withdrawn and can be sent again.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use gestor_shared::adapters::ses::SesMailer;
use gestor_shared::ports::mail::{Mail, MailError, Mailer};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::aws_env;

fn invite(to: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Te invitaron a Ferretería López".into(),
        text: "Tu código de invitación: inv-ABC".into(),
    }
}

#[tokio::test]
async fn an_unverified_sender_is_refused_and_a_verified_one_sends() {
    let Some(config) = aws_env::config().await else { return };
    let client = aws_sdk_sesv2::Client::new(&config);
    let domain = format!("{}.example.com", aws_env::unique_name("tienda"));
    let sender = format!("GestorDigital <no-reply@{domain}>");
    let mailer = SesMailer::new(client.clone(), sender);

    let refused = mailer.send(&invite("ana@example.com")).await;
    assert!(matches!(refused, Err(MailError::Refused(_))), "{refused:?}");

    let verified = client.create_email_identity().email_identity(&domain).send().await;
    assert!(verified.is_ok(), "{verified:?}");
    let sent = mailer.send(&invite("ana@example.com")).await;
    assert!(sent.as_ref().is_ok_and(|id| !id.is_empty()), "{sent:?}");
}

/// An SES client that makes one attempt at `endpoint`, so each answer is seen as it is.
async fn single_attempt_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "contract-tests"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(2))
                .build(),
        )
        .load()
        .await
}

async fn answer_with(response: ResponseTemplate) -> Result<String, MailError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/email/outbound-emails"))
        .respond_with(response)
        .mount(&server)
        .await;
    let client = aws_sdk_sesv2::Client::new(&single_attempt_config(&server.uri()).await);
    SesMailer::new(client, "no-reply@tienda.example.com").send(&invite("luis@example.com")).await
}

fn error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-ErrorType", code)
        .set_body_json(serde_json::json!({ "message": "from the stand-in" }))
}

#[tokio::test]
async fn each_answer_of_ses_is_told_apart() {
    let sent =
        answer_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "MessageId": "m-1" })))
            .await;
    assert_eq!(sent.ok().as_deref(), Some("m-1"));
    for (status, code) in [
        (400, "MessageRejected"),
        (400, "MailFromDomainNotVerifiedException"),
        (400, "SendingPausedException"),
        (400, "AccountSuspendedException"),
    ] {
        let answer = answer_with(error(status, code)).await;
        assert!(matches!(answer, Err(MailError::Refused(_))), "{code}: {answer:?}");
    }
    for (status, code) in
        [(429, "TooManyRequestsException"), (500, "InternalFailure"), (503, "ServiceUnavailable")]
    {
        let answer = answer_with(error(status, code)).await;
        assert!(matches!(answer, Err(MailError::Unavailable(_))), "{code}: {answer:?}");
    }
}

#[tokio::test]
async fn an_unreachable_service_is_unavailable() {
    // A port that was just free: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
    let Ok(addr) = free else { panic!("no free port") };
    let client = aws_sdk_sesv2::Client::new(&single_attempt_config(&format!("http://{addr}")).await);
    let answer =
        SesMailer::new(client, "no-reply@tienda.example.com").send(&invite("luis@example.com")).await;
    assert!(matches!(answer, Err(MailError::Unavailable(_))), "{answer:?}");
}

#[tokio::test]
async fn a_refusal_keeps_no_address() {
    let refused = answer_with(error(400, "MessageRejected").set_body_json(serde_json::json!({
        "message": "Email address is not verified: no-reply@tienda.example.com, luis@example.com"
    })))
    .await;
    let text = format!("{refused:?}");
    assert!(matches!(refused, Err(MailError::Refused(_))) && !text.contains('@'), "{text}");
}
