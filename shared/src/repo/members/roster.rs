//! The roster: every member of a tenant, and the changes that keep it governable. A business
//! always keeps an owner: a change that would leave none is refused, and changes are
//! serialized by the roster's revision, so two owners demoting each other at once cannot both
//! succeed.

use serde_json::Value;

use super::{Member, MemberRepo, keys};
use crate::domain::{Role, TenantId};
use crate::ids::MemberId;
use crate::ports::{Condition, Index, Item, Query, TableError, TxOp, Update};
use crate::repo::from_item;
use crate::repo::keys::tenants as tenant_keys;

/// Tries before a change racing others gives up.
const ATTEMPTS: usize = 5;

/// Why a roster change was not made.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("no such member")]
    NotFound,
    #[error("the business would have no owner left")]
    LastOwner,
    #[error("the roster kept changing; retry")]
    Busy,
    #[error(transparent)]
    Table(#[from] TableError),
}

/// What a change does to the member.
enum Change {
    Role(Role),
    Remove,
}

impl MemberRepo {
    /// Every member of the tenant (a business has tens), by member id.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Member>, TableError> {
        let mut members = Vec::new();
        let mut after = None;
        loop {
            let query =
                Query::index(Index::Gsi1, keys::by_id_partition(tenant)).limit(100).start_after(after);
            let page = self.table.query(query).await?;
            for item in page.items {
                members.push(from_item(item)?);
            }
            match page.last_key {
                Some(last) => after = Some(last),
                None => return Ok(members),
            }
        }
    }

    /// Gives the member `role`; refused when it would leave the business without an owner.
    pub async fn change_role(
        &self,
        tenant: &TenantId,
        id: &MemberId,
        role: Role,
    ) -> Result<Member, RosterError> {
        self.apply(tenant, id, Change::Role(role)).await
    }

    /// Removes the member from the business (their membership too); refused for its last owner.
    pub async fn remove(&self, tenant: &TenantId, id: &MemberId) -> Result<Member, RosterError> {
        self.apply(tenant, id, Change::Remove).await
    }

    async fn apply(&self, tenant: &TenantId, id: &MemberId, change: Change) -> Result<Member, RosterError> {
        for _ in 0..ATTEMPTS {
            let roster = self.table.get(&tenant_keys::roster(tenant)).await?;
            let rev = roster.as_ref().and_then(|r| r.get("rev")).and_then(Value::as_u64);
            let members = self.list(tenant).await?;
            let Some(current) = members.iter().find(|m| &m.id == id).cloned() else {
                return Err(RosterError::NotFound);
            };
            let owners_after = members
                .iter()
                .filter(|m| match (&change, &m.id == id) {
                    (Change::Role(role), true) => *role == Role::Owner,
                    (Change::Remove, true) => false,
                    (_, false) => m.role == Role::Owner,
                })
                .count();
            if owners_after == 0 {
                return Err(RosterError::LastOwner);
            }
            let member_key = keys::member(tenant, &current.sub);
            let same = Condition::Equals("role".into(), current.role.as_str().into());
            let (mut ops, changed) = match &change {
                Change::Role(role) if *role == current.role => return Ok(current),
                Change::Role(role) => (
                    vec![TxOp::Update {
                        key: member_key,
                        update: Update::default().set("role", role.as_str()),
                        condition: Some(same),
                    }],
                    Member { role: *role, ..current.clone() },
                ),
                Change::Remove => (
                    vec![
                        TxOp::Delete { key: member_key, condition: Some(same) },
                        TxOp::Delete { key: keys::membership(&current.sub, tenant), condition: None },
                    ],
                    current.clone(),
                ),
            };
            ops.push(roster_op(tenant, rev));
            match self.table.transact(ops).await {
                Ok(()) => return Ok(changed),
                Err(TableError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RosterError::Busy)
    }
}

/// The roster's next revision, conditional on the one read (absent: none yet).
fn roster_op(tenant: &TenantId, read: Option<u64>) -> TxOp {
    let key = tenant_keys::roster(tenant);
    let mut item = Item::new();
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert("rev".into(), (read.unwrap_or(0) + 1).into());
    let condition = match read {
        Some(rev) => Condition::Equals("rev".into(), rev.into()),
        None => Condition::NotExists,
    };
    TxOp::Put { item, condition: Some(condition) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{embedded_core, member};

    #[tokio::test]
    async fn two_owners_stepping_down_at_once_leave_one_owner() {
        let (core, _dir) = embedded_core();
        let acme = TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
        for email in ["ana@acme.mx", "beto@acme.mx"] {
            member(&core, "acme", email, Role::Owner).await;
        }
        let members = core.members.list(&acme).await.unwrap_or_default();
        let (a, b) = (members[0].id.clone(), members[1].id.clone());
        let (first, second) = tokio::join!(
            core.members.change_role(&acme, &a, Role::Admin),
            core.members.change_role(&acme, &b, Role::Admin)
        );
        let refused = [&first, &second].iter().filter(|r| matches!(r, Err(RosterError::LastOwner))).count();
        assert_eq!((first.is_ok() as u8 + second.is_ok() as u8, refused), (1, 1), "{first:?} {second:?}");
        let owners = core
            .members
            .list(&acme)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        assert_eq!(owners, 1);
    }
}
