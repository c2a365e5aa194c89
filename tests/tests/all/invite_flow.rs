//! Black-box: an invite followed as its two people live it, on the local server. The owner
//! invites by email; the invited person finds the email (`GET /dev/mail`, the local mailbox),
//! signs in with that address, follows the link, and is a member with the invited role. The
//! code works once, and not for another address.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::local_server::{Server, local_settings, start};

/// The code in the newest email to `to`, as the link carries it.
async fn code_emailed_to(server: &Server, to: &str) -> (String, Value) {
    let (status, mailbox) = server.send("GET", "/dev/mail", None, None).await;
    assert_eq!(status, StatusCode::OK, "{mailbox}");
    let mail = mailbox["mail"].as_array().into_iter().flatten().find(|m| m["to"] == to).cloned();
    let Some(mail) = mail else { panic!("no email to {to}: {mailbox}") };
    let text = mail["text"].as_str().unwrap_or_default();
    let code = text.split("/invites/accept#code=").nth(1).and_then(|rest| rest.lines().next());
    (code.unwrap_or_default().to_owned(), mail)
}

async fn user_token(server: &Server, email: &str) -> String {
    let (status, body) = server.send("POST", "/dev/token", None, Some(json!({"email": email}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_invited_person_joins_from_the_email() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut settings = local_settings();
    settings.set(gestor_shared::settings::Setting::MailFrom, "GestorDigital <hola@ferreteria.test>");
    let server = start(gestor_local::BackendKind::Embedded, dir.path(), None, settings).await;
    let owner = server.token("ferreteria", "duena@ferreteria.mx", "owner").await;
    let (status, invite) = server
        .send(
            "POST",
            "/v1/members",
            Some(&owner),
            Some(json!({"email": "Luisa@Ferreteria.mx", "role": "agent"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");

    let (code, mail) = code_emailed_to(&server, "luisa@ferreteria.mx").await;
    assert_eq!(code, invite["code"].as_str().unwrap_or_default(), "{mail}");
    assert!(mail["subject"].as_str().is_some_and(|s| s.contains("GestorDigital")), "{mail}");
    assert_eq!(mail["from"], "GestorDigital <hola@ferreteria.test>", "the server's MAIL_FROM");

    let accept = format!("/v1/invites/{code}/accept");
    let stranger = user_token(&server, "otra@ferreteria.mx").await;
    assert_eq!(server.send("POST", &accept, Some(&stranger), None).await.0, StatusCode::FORBIDDEN);
    let luisa = user_token(&server, "luisa@ferreteria.mx").await;
    let (status, joined) = server.send("POST", &accept, Some(&luisa), None).await;
    assert_eq!((status, &joined["role"]), (StatusCode::CREATED, &json!("agent")), "{joined}");
    let (status, me) =
        server.send_with("GET", "/v1/me", Some(&luisa), None, &[("x-tenant-id", "ferreteria")]).await;
    assert_eq!(
        (status, &me["role"], &me["tenant"]["id"]),
        (StatusCode::OK, &json!("agent"), &json!("ferreteria"))
    );
    // Spent: nobody else gets in with it.
    let copycat = user_token(&server, "luisa@ferreteria.mx.otro.mx").await;
    assert_ne!(server.send("POST", &accept, Some(&copycat), None).await.0, StatusCode::CREATED);
}
