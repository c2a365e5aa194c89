//! The email that carries an invite to the invited person, in Spanish: who invites them, to
//! which business, with which role, the link that accepts it and the code itself.
//!
//! The link puts the code after `#`, which browsers never send to a server: it reaches the
//! frontend, not the access logs of whatever serves the page.

use gestor_shared::domain::Role;
use gestor_shared::ports::Mail;
use time::OffsetDateTime;

/// What the email says, beyond the code.
pub struct InviteLetter<'a> {
    pub to: &'a str,
    pub business: &'a str,
    pub inviter: &'a str,
    pub role: Role,
    pub code: &'a str,
    pub expires_at: OffsetDateTime,
    /// The frontend (`APP_URL`).
    pub app_url: &'a str,
}

fn role_in_spanish(role: Role) -> &'static str {
    match role {
        Role::Owner => "propietario",
        Role::Admin => "administrador",
        Role::Manager => "gerente",
        Role::Agent => "agente",
        Role::Viewer => "observador (solo lectura)",
    }
}

/// A name as one line: a business or member name cannot add lines or headers to the email.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

/// `2026-12-10 14:05 UTC`.
fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

impl InviteLetter<'_> {
    pub fn link(&self) -> String {
        format!("{}/invites/accept#code={}", self.app_url.trim_end_matches('/'), self.code)
    }

    pub fn mail(&self) -> Mail {
        let (business, inviter) = (one_line(self.business), one_line(self.inviter));
        let subject = format!("{inviter} te invitó a {business} en GestorDigital");
        let text = format!(
            "Hola:\n\n\
             {inviter} te invitó a unirte a {business} en GestorDigital como {role}.\n\n\
             Para aceptar, inicia sesión con este correo ({to}) y abre:\n{link}\n\n\
             Si te lo piden, tu código de invitación es:\n{code}\n\n\
             La invitación sirve una sola vez y vence el {expires}. \
             Si no esperabas este correo, ignóralo: sin el código nadie entra en tu nombre.\n",
            role = role_in_spanish(self.role),
            to = self.to,
            link = self.link(),
            code = self.code,
            expires = when(self.expires_at),
        );
        Mail { to: self.to.to_owned(), subject, text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_letter_names_the_business_the_role_and_carries_the_code_in_the_link() {
        let letter = InviteLetter {
            to: "luisa@acme.mx",
            business: "Ferretería\r\nBcc: otro@x.mx",
            inviter: "Ana",
            role: Role::Agent,
            code: "c0d3",
            expires_at: time::macros::datetime!(2026-12-10 14:05 UTC),
            app_url: "https://app.gestor.mx/",
        };
        let mail = letter.mail();
        assert_eq!(mail.to, "luisa@acme.mx");
        assert_eq!(mail.subject, "Ana te invitó a Ferretería  Bcc: otro@x.mx en GestorDigital");
        assert!(mail.text.contains("https://app.gestor.mx/invites/accept#code=c0d3\n"), "{}", mail.text);
        assert!(mail.text.contains("como agente"), "{}", mail.text);
        assert!(mail.text.contains("vence el 2026-12-10 14:05 UTC"), "{}", mail.text);
    }
}
