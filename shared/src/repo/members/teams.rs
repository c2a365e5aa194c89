//! Teams: groups of members (sales, support) that conversations can be assigned to. A team
//! lists its members, and each member lists their teams: both change in one transaction, so
//! the two never disagree.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::{Member, MemberRepo, keys};
use crate::domain::TenantId;
use crate::ids::{MemberId, TeamId};
use crate::ports::{Condition, Query, TableError, TxOp, Update};
use crate::repo::{from_item, to_item};

/// Members of one team, at most (one transaction changes the team and each of them).
pub const MAX_TEAM: usize = 90;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    #[schema(value_type = String)]
    pub id: TeamId,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub member_ids: Vec<MemberId>,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("no such team")]
    NotFound,
    #[error("{0} is not a member of this business")]
    UnknownMember(MemberId),
    #[error("the team changed since it was read")]
    Stale,
    #[error(transparent)]
    Table(#[from] TableError),
}

impl MemberRepo {
    pub async fn teams(&self, tenant: &TenantId) -> Result<Vec<Team>, TableError> {
        let page = self.table.query(Query::table(keys::teams_partition(tenant)).limit(1000)).await?;
        page.items.into_iter().map(from_item).collect()
    }

    pub async fn team(&self, tenant: &TenantId, id: &TeamId) -> Result<Option<Team>, TableError> {
        match self.table.get(&keys::team(tenant, id.as_str())).await? {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// Creates, renames or re-staffs a team (`current` is the team as read, `None` for a new
    /// one), its members' team lists with it.
    pub async fn save_team(
        &self,
        tenant: &TenantId,
        current: Option<&Team>,
        next: Team,
    ) -> Result<Team, TeamError> {
        let roster = self.list(tenant).await?;
        let before: BTreeSet<&MemberId> = current.map(|t| t.member_ids.iter().collect()).unwrap_or_default();
        let after: BTreeSet<&MemberId> = next.member_ids.iter().collect();
        let mut ops = Vec::new();
        for id in before.symmetric_difference(&after) {
            let member = roster
                .iter()
                .find(|m| &m.id == *id)
                .ok_or_else(|| TeamError::UnknownMember((*id).clone()))?;
            ops.push(member_teams(tenant, member, &next.id, after.contains(id)));
        }
        let mut item = to_item(&next)?;
        let key = keys::team(tenant, next.id.as_str());
        item.insert("pk".into(), key.pk.into());
        item.insert("sk".into(), key.sk.into());
        let condition = match current {
            Some(t) => Condition::Equals("version".into(), t.version.into()),
            None => Condition::NotExists,
        };
        ops.insert(0, TxOp::Put { item, condition: Some(condition) });
        match self.table.transact(ops).await {
            Ok(()) => Ok(next),
            Err(TableError::TransactionCanceled { .. }) => Err(TeamError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a team, and takes it off its members' lists.
    pub async fn delete_team(&self, tenant: &TenantId, team: &Team) -> Result<(), TeamError> {
        let roster = self.list(tenant).await?;
        let mut ops = vec![TxOp::Delete {
            key: keys::team(tenant, team.id.as_str()),
            condition: Some(Condition::Equals("version".into(), team.version.into())),
        }];
        for member in roster.iter().filter(|m| team.member_ids.contains(&m.id)) {
            ops.push(member_teams(tenant, member, &team.id, false));
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(TableError::TransactionCanceled { .. }) => Err(TeamError::Stale),
            Err(e) => Err(e.into()),
        }
    }
}

/// The member's team list with `team` in it or not. Two teams re-staffed at the same moment
/// may both rewrite one member's list, the later write winning (each team's own list stays
/// right, conditional on its version).
fn member_teams(tenant: &TenantId, member: &Member, team: &TeamId, member_of: bool) -> TxOp {
    let mut teams: Vec<String> =
        member.team_ids.iter().filter(|t| t.as_str() != team.as_str()).cloned().collect();
    if member_of {
        teams.push(team.to_string());
    }
    TxOp::Update {
        key: keys::member(tenant, &member.sub),
        update: Update::default().set("team_ids", serde_json::Value::from(teams)),
        condition: Some(Condition::Exists),
    }
}
