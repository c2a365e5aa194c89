//! Invites: a member-to-be, by email and role. The code goes to the invited person only; it is
//! kept as its SHA-256 (a leaked table holds no usable code), works once, expires, and is
//! bound to the invited email: accepting needs a token with that email.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Member, MemberRepo, creation_ops, keys};
use crate::domain::{Role, TenantId};
use crate::ids::MemberId;
use crate::ports::{Condition, Item, Key, TableError, TxOp, Update};
use crate::repo::{from_item, personal, to_item};

/// How long an invite can be accepted.
pub const INVITE_LIFETIME: time::Duration = time::Duration::days(7);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    pub tenant_id: TenantId,
    /// Lowercased.
    pub email: String,
    pub role: Role,
    pub invited_by: MemberId,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Who accepted it (the `sub`), empty while it is open: kept until it expires, so that
    /// the same user's retried acceptance is answered, and anyone else's refused.
    #[serde(default)]
    pub accepted_by: String,
}

/// Why an invite was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// Unknown, used, or expired: the same answer for each, so that a code cannot be probed.
    #[error("the invite is not valid")]
    Invalid,
    #[error("the invite is for another email")]
    OtherEmail,
    #[error(transparent)]
    Table(#[from] TableError),
}

/// A new invite code: 32 random bytes, URL-safe.
pub fn new_code() -> Result<String, TableError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TableError::Backend(format!("no randomness: {e}")))?;
    Ok(base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes))
}

fn code_hash(code: &str) -> String {
    crate::crypto::sha256_hex(code.as_bytes())
}

/// Whose data an open invite is: the invited person, known only by email until they accept
/// (then the member they became), so that a privacy request by that email finds it.
pub fn invitee_subject(email: &str) -> String {
    format!("email:{}", email.trim().to_ascii_lowercase())
}

/// `update`, also moving the invite's subject mark to the member who accepted it: from then on
/// it is their data, found with the rest of theirs, no longer under the email.
fn marked_as_theirs(update: Update, key: &Key, tenant: &TenantId, member: &MemberId) -> Update {
    let mut marked = Item::new();
    marked.insert("pk".into(), key.pk.clone().into());
    marked.insert("sk".into(), key.sk.clone().into());
    personal::mark(&mut marked, tenant, member.as_str(), "INVITE");
    marked
        .into_iter()
        .filter(|(name, _)| name != "pk" && name != "sk")
        .fold(update, |update, (name, value)| update.set(name, value))
}

impl MemberRepo {
    /// Stores an invite under its code.
    pub async fn invite(&self, code: &str, invite: &Invite) -> Result<(), TableError> {
        let mut item = to_item(invite)?;
        let key = keys::invite(&code_hash(code));
        item.insert("pk".into(), key.pk.into());
        item.insert("sk".into(), key.sk.into());
        personal::mark(&mut item, &invite.tenant_id, &invitee_subject(&invite.email), "INVITE");
        self.table.put(item, Some(Condition::NotExists)).await
    }

    /// Takes back an invite nobody has accepted (its email could not be sent): the code
    /// stops working at once. An accepted one stays, with the member it made.
    pub async fn withdraw_invite(&self, code: &str) -> Result<(), TableError> {
        let open = Condition::Equals("accepted_by".into(), "".into());
        match self.table.delete(&keys::invite(&code_hash(code)), Some(open)).await {
            Ok(_) | Err(TableError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Accepts the invite `code` as the user `sub` signed in with `email`: the member is
    /// created and the invite marked accepted in one transaction conditional on it being open,
    /// so a code works once (a retry by the same user is answered the member it made).
    pub async fn accept(
        &self,
        code: &str,
        sub: &str,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<(TenantId, Member), InviteError> {
        let key = keys::invite(&code_hash(code));
        let Some(item) = self.table.get(&key).await? else { return Err(InviteError::Invalid) };
        let invite: Invite = from_item(item)?;
        if invite.expires_at <= now {
            return Err(InviteError::Invalid);
        }
        if !invite.email.eq_ignore_ascii_case(email.trim()) {
            return Err(InviteError::OtherEmail);
        }
        if !invite.accepted_by.is_empty() {
            if invite.accepted_by != sub {
                return Err(InviteError::Invalid);
            }
            let member = self.get_by_sub(&invite.tenant_id, sub).await?.ok_or(InviteError::Invalid)?;
            return Ok((invite.tenant_id, member));
        }
        let accepted = Update::default().set("accepted_by", sub);
        let open = Condition::Equals("accepted_by".into(), "".into());
        if let Some(existing) = self.get_by_sub(&invite.tenant_id, sub).await? {
            // Already a member: the invite is spent, the role they have stays.
            let accepted = marked_as_theirs(accepted, &key, &invite.tenant_id, &existing.id);
            return match self.table.update(&key, accepted, Some(open)).await {
                Ok(_) | Err(TableError::ConditionFailed) => Ok((invite.tenant_id, existing)),
                Err(e) => Err(e.into()),
            };
        }
        let member = Member {
            id: MemberId::new(),
            sub: sub.to_owned(),
            email: invite.email.clone(),
            name: invite.email.split('@').next().unwrap_or(&invite.email).to_owned(),
            role: invite.role,
            team_ids: Vec::new(),
            created_at: now,
            sessions_seen: Default::default(),
        };
        let accepted = marked_as_theirs(accepted, &key, &invite.tenant_id, &member.id);
        let mut ops = vec![TxOp::Update { key, update: accepted, condition: Some(open) }];
        ops.extend(creation_ops(&invite.tenant_id, &member)?);
        // Nobody joins a business whose erasure was accepted.
        ops.push(TxOp::Check {
            key: crate::repo::tenants::key(&invite.tenant_id),
            condition: Condition::Lacks(crate::repo::personal::ERASING.into()),
        });
        match self.table.transact(ops).await {
            Ok(()) => Ok((invite.tenant_id, member)),
            // Accepted meanwhile, by someone else.
            Err(TableError::TransactionCanceled { .. }) => Err(InviteError::Invalid),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::embedded_core;

    #[tokio::test]
    async fn an_invite_expires_and_keeps_no_code() {
        let (core, _dir) = embedded_core();
        let acme = TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        let profile = crate::repo::tenants::item(&crate::repo::tenants::Tenant::new(acme.clone(), "Acme"));
        core.table
            .put(profile.unwrap_or_else(|e| panic!("{e}")), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let now = OffsetDateTime::now_utc();
        let invite = Invite {
            tenant_id: acme,
            email: "luisa@acme.mx".into(),
            role: Role::Agent,
            invited_by: MemberId::new(),
            expires_at: now + INVITE_LIFETIME,
            accepted_by: String::new(),
        };
        let code = new_code().unwrap_or_else(|e| panic!("{e}"));
        core.members.invite(&code, &invite).await.unwrap_or_else(|e| panic!("{e}"));
        let stored = core.table.get(&keys::invite(&code_hash(&code))).await.ok().flatten();
        let text = serde_json::to_string(&stored).unwrap_or_default();
        assert!(!text.is_empty() && !text.contains(&code), "only the code's hash is kept: {text}");
        let late = now + INVITE_LIFETIME + time::Duration::seconds(1);
        let accepted = core.members.accept(&code, "luisa", "luisa@acme.mx", late).await;
        assert!(matches!(accepted, Err(InviteError::Invalid)), "{accepted:?}");
        let in_time = core.members.accept(&code, "luisa", "LUISA@acme.mx", now).await;
        assert!(matches!(in_time, Ok((_, ref m)) if m.role == Role::Agent), "{in_time:?}");
    }
}
