//! The mail port over a local folder: each email is a JSON file under `{dir}/mail/`, named by
//! a ULID so that the newest sorts last. The local server shows them at `GET /dev/mail`, so
//! a developer can follow an invite from `POST /v1/members` to its acceptance.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::mail::{Mail, MailError, Mailer};

#[derive(Clone)]
pub struct LocalMailbox {
    dir: PathBuf,
    from: String,
    /// Monotonic within a millisecond, so two emails sent in one still list in order.
    ids: Arc<Mutex<ulid::Generator>>,
}

/// One email as the mailbox holds it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Delivered {
    pub id: String,
    pub from: String,
    #[serde(flatten)]
    pub mail: Mail,
}

impl LocalMailbox {
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Self {
        Self { dir: dir.into(), from: from.into(), ids: Arc::new(Mutex::new(ulid::Generator::new())) }
    }

    /// Every email sent so far, the newest first.
    pub fn list(&self) -> std::io::Result<Vec<Delivered>> {
        let mut names = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| n.ends_with(".json"))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        names.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let bytes = std::fs::read(self.dir.join(&name))?;
            if let Ok(delivered) = serde_json::from_slice(&bytes) {
                out.push(delivered);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Mailer for LocalMailbox {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        let id = {
            let mut ids = self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            ids.generate().unwrap_or_else(|_| ulid::Ulid::new()).to_string()
        };
        let delivered = Delivered { id: id.clone(), from: self.from.clone(), mail: mail.clone() };
        let bytes = serde_json::to_vec_pretty(&delivered).map_err(|e| MailError::Refused(e.to_string()))?;
        let unavailable = |e: std::io::Error| MailError::Unavailable(e.to_string());
        std::fs::create_dir_all(&self.dir).map_err(unavailable)?;
        // Written aside and renamed, so that a listing never reads half an email.
        let partial = self.dir.join(format!("{id}.part"));
        std::fs::write(&partial, bytes).map_err(unavailable)?;
        std::fs::rename(&partial, self.dir.join(format!("{id}.json"))).map_err(unavailable)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str) -> Mail {
        Mail { to: to.into(), subject: "Invitación".into(), text: "código ABC".into() }
    }

    #[tokio::test]
    async fn lists_what_was_sent_newest_first() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mailbox = LocalMailbox::new(dir.path().join("mail"), "GestorDigital <no-reply@x.test>");
        assert!(mailbox.list().unwrap_or_else(|e| panic!("{e}")).is_empty());
        let first = mailbox.send(&mail("ana@example.com")).await.unwrap_or_else(|e| panic!("{e}"));
        let second = mailbox.send(&mail("luis@example.com")).await.unwrap_or_else(|e| panic!("{e}"));
        let listed = mailbox.list().unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = listed.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids, vec![second, first]);
        assert_eq!(listed[0].mail, mail("luis@example.com"));
        assert_eq!(listed[0].from, "GestorDigital <no-reply@x.test>");
    }
}
