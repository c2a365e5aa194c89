//! Members: the people of a business who use the CRM, with their role.
//!
//! Keys:
//! - member: `pk = {tenant}#MEMBER`, `sk = SUB#{sub}`; `gsi1pk = {tenant}#MEMBER#ID`,
//!   `gsi1sk = {member id}`; personal data of the member (subject index).
//! - membership (global, ids only, because a request names no tenant before it is known):
//!   `pk = USER#{sub}`, `sk = {tenant}`.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::keys::members as keys;
use super::{from_item, now, personal, tenants, to_item};
use crate::domain::Role;
use crate::domain::TenantId;
use crate::ids::MemberId;
use crate::ports::{Condition, Index, Item, Query, Table, TableError, Update};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub id: MemberId,
    pub sub: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub team_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When each recent session was last written (`sessions`): read with the member on every
    /// request, written only by the sessions repository.
    #[serde(default, skip_serializing)]
    pub sessions_seen: std::collections::BTreeMap<String, i64>,
}

/// One business a user belongs to, for a business switcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant: TenantId,
    pub tenant_name: String,
    pub role: Role,
}

fn member_item(tenant: &TenantId, member: &Member) -> Result<Item, TableError> {
    let mut item = to_item(member)?;
    let key = keys::member(tenant, &member.sub);
    item.insert("pk".into(), key.pk.into());
    item.insert("sk".into(), key.sk.into());
    item.insert(Index::Gsi1.partition_attribute().into(), keys::by_id_partition(tenant).into());
    item.insert(Index::Gsi1.sort_attribute().into(), member.id.as_str().into());
    personal::mark(&mut item, tenant, member.id.as_str(), "MEMBER");
    Ok(item)
}

/// The writes that make `member` (its item and the user's membership) a member of `tenant`,
/// each conditional on its absence, for a transaction that creates the tenant too.
pub fn creation_ops(tenant: &TenantId, member: &Member) -> Result<Vec<crate::ports::TxOp>, TableError> {
    let mut membership = Item::new();
    let key = keys::membership(&member.sub, tenant);
    membership.insert("pk".into(), key.pk.into());
    membership.insert("sk".into(), key.sk.into());
    Ok(vec![
        crate::ports::TxOp::Put { item: member_item(tenant, member)?, condition: Some(Condition::NotExists) },
        crate::ports::TxOp::Put { item: membership, condition: Some(Condition::NotExists) },
    ])
}

mod invites;
mod roster;
mod teams;
pub use invites::{INVITE_LIFETIME, Invite, InviteError, invitee_subject, new_code};
pub use roster::RosterError;
pub use teams::{MAX_TEAM, Team, TeamError};

#[derive(Clone)]
pub struct MemberRepo {
    table: Arc<dyn Table>,
}

impl MemberRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get_by_sub(&self, tenant: &TenantId, sub: &str) -> Result<Option<Member>, TableError> {
        match self.table.get(&keys::member(tenant, sub)).await? {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// The member of `sub` and the business's settings, in one request: every authenticated
    /// request needs both (the role, and the row scoping that applies to it).
    pub async fn get_with_tenant(
        &self,
        tenant: &TenantId,
        sub: &str,
    ) -> Result<(Option<Member>, Option<tenants::Tenant>), TableError> {
        let member_key = keys::member(tenant, sub);
        let mut member = None;
        let mut settings = None;
        for item in self.table.batch_get(&[member_key.clone(), tenants::key(tenant)]).await? {
            if item.get("sk").and_then(serde_json::Value::as_str) == Some(member_key.sk.as_str()) {
                member = Some(from_item(item)?);
            } else if super::account_erasure::is_hidden(&item) {
                // The business is being erased: nobody is its member any more.
                return Ok((None, None));
            } else {
                settings = Some(from_item(item)?);
            }
        }
        Ok((member, settings))
    }

    /// The write renaming a member (a privacy rectification), for the caller's transaction.
    pub fn rename_op(tenant: &TenantId, member: &Member, name: &str) -> crate::ports::TxOp {
        crate::ports::TxOp::Update {
            key: keys::member(tenant, &member.sub),
            update: Update::default().set("name", name),
            condition: Some(Condition::Exists),
        }
    }

    pub async fn get_by_id(&self, tenant: &TenantId, id: &MemberId) -> Result<Option<Member>, TableError> {
        let page = self
            .table
            .query(
                Query::index(Index::Gsi1, keys::by_id_partition(tenant))
                    .sort(crate::ports::SortKey::Between(id.to_string(), id.to_string()))
                    .limit(1),
            )
            .await?;
        match page.items.into_iter().next() {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// The tenants this user belongs to.
    pub async fn tenants_of(&self, sub: &str) -> Result<Vec<TenantId>, TableError> {
        let mut tenants = Vec::new();
        let mut after = None;
        loop {
            let query = Query::table(keys::memberships_partition(sub)).limit(100).start_after(after);
            let page = self.table.query(query).await?;
            let ids = page.items.iter().filter_map(|item| item.get("sk")?.as_str());
            tenants.extend(ids.filter_map(|t| TenantId::parse(t).ok()));
            match page.last_key {
                Some(last) => after = Some(last),
                None => return Ok(tenants),
            }
        }
    }

    /// Every business this user belongs to, with its name and the user's role there: one
    /// query for the memberships and one batch read per 50 of them for the profiles and member
    /// records, so that a business switcher costs the same whatever the role changes.
    pub async fn memberships_of(&self, sub: &str) -> Result<Vec<Membership>, TableError> {
        let tenants = self.tenants_of(sub).await?;
        // Batch reads answer in any order: each item is known by the key it was asked by.
        let mut asked = std::collections::HashMap::new();
        for tenant in &tenants {
            let profile = tenants::key(tenant);
            asked.insert((profile.pk, profile.sk), (tenant.clone(), true));
            let member = keys::member(tenant, sub);
            asked.insert((member.pk, member.sk), (tenant.clone(), false));
        }
        let mut names = std::collections::HashMap::new();
        let mut roles = std::collections::HashMap::new();
        let mut hidden = std::collections::HashSet::new();
        for chunk in tenants.chunks(50) {
            let keys: Vec<_> =
                chunk.iter().flat_map(|tenant| [tenants::key(tenant), keys::member(tenant, sub)]).collect();
            for item in self.table.batch_get(&keys).await? {
                let pk = item.get("pk").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let sk = item.get("sk").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                match asked.get(&(pk, sk)) {
                    // A business being erased is nobody's any more: it is left out.
                    Some((tenant, true)) if super::account_erasure::is_hidden(&item) => {
                        hidden.insert(tenant.clone());
                    }
                    Some((tenant, true)) => {
                        let profile: tenants::Tenant = from_item(item)?;
                        names.insert(tenant.clone(), profile.name);
                    }
                    Some((tenant, false)) => {
                        let member: Member = from_item(item)?;
                        roles.insert(tenant.clone(), member.role);
                    }
                    None => {}
                }
            }
        }
        // A membership whose member record is gone (removed meanwhile) is no membership.
        Ok(tenants
            .into_iter()
            .filter(|tenant| !hidden.contains(tenant))
            .filter_map(|tenant| {
                let role = roles.remove(&tenant)?;
                let tenant_name = names.remove(&tenant).unwrap_or_else(|| tenant.to_string());
                Some(Membership { tenant, tenant_name, role })
            })
            .collect())
    }

    /// Makes sure the tenant exists and the user is its member with this role: creates what is
    /// missing and sets the role of an existing member. Used by sign-up and the local server.
    pub async fn ensure_member(
        &self,
        tenant: &TenantId,
        sub: &str,
        email: &str,
        role: Role,
    ) -> Result<Member, TableError> {
        let profile = tenants::item(&tenants::Tenant::new(tenant.clone(), tenant.as_str()))?;
        ignore_existing(self.table.put(profile, Some(Condition::NotExists)).await)?;
        self.table.put(tenants::registry_item(tenant), None).await?;

        let mut membership = Item::new();
        let key = keys::membership(sub, tenant);
        membership.insert("pk".into(), key.pk.into());
        membership.insert("sk".into(), key.sk.into());
        ignore_existing(self.table.put(membership, Some(Condition::NotExists)).await)?;

        if let Some(existing) = self.get_by_sub(tenant, sub).await? {
            if existing.role == role {
                return Ok(existing);
            }
            let item = self
                .table
                .update(
                    &keys::member(tenant, sub),
                    Update::default().set("role", role.as_str()),
                    Some(Condition::Exists),
                )
                .await?;
            return from_item(item);
        }
        let member = Member {
            id: MemberId::new(),
            sub: sub.to_owned(),
            email: email.to_owned(),
            name: email.split('@').next().unwrap_or(email).to_owned(),
            role,
            team_ids: Vec::new(),
            created_at: now(),
            sessions_seen: Default::default(),
        };
        match self.table.put(member_item(tenant, &member)?, Some(Condition::NotExists)).await {
            Ok(()) => Ok(member),
            // Another request created it first: theirs stands.
            Err(TableError::ConditionFailed) => self
                .get_by_sub(tenant, sub)
                .await?
                .ok_or_else(|| TableError::Backend("member vanished while being created".into())),
            Err(e) => Err(e),
        }
    }
}

fn ignore_existing(result: Result<(), TableError>) -> Result<(), TableError> {
    match result {
        Err(TableError::ConditionFailed) => Ok(()),
        other => other,
    }
}
