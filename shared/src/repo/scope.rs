//! Row scoping: under the tenant's `row_scoping` setting, agents and viewers reach only the
//! conversations assigned to them or to one of their teams, and the contacts they own or whose
//! conversation they can reach; managers and up reach everything. The repositories take a
//! scope on every read and change the API makes, so that no handler (and no later resource)
//! can show a row by forgetting a filter. Workers and schedules act for the business and pass
//! [`RowScope::Business`].

use super::members::Member;
use crate::domain::Role;
use crate::ids::MemberId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowScope {
    /// Every row of the business.
    Business,
    /// The rows assigned to this member or to one of these teams.
    Assigned { member: MemberId, teams: Vec<String> },
}

impl RowScope {
    /// The scope of `member` in a business whose `row_scoping` setting is `scoping`.
    pub fn of(member: &Member, scoping: bool) -> Self {
        match member.role {
            Role::Agent | Role::Viewer if scoping => {
                Self::Assigned { member: member.id.clone(), teams: member.team_ids.clone() }
            }
            _ => Self::Business,
        }
    }

    /// Whether a row assigned to `assignee` and `team` (a conversation's) is in scope.
    pub fn reaches(&self, assignee: Option<&MemberId>, team: Option<&str>) -> bool {
        match self {
            Self::Business => true,
            Self::Assigned { member, teams } => {
                assignee == Some(member) || team.is_some_and(|team| teams.iter().any(|t| t == team))
            }
        }
    }

    /// Whether a row owned by `owner` (a contact's `owner_id`) is in scope by itself. A contact
    /// is also reached through one of its conversations (`ContactRepo::get_in`).
    pub fn owns(&self, owner: Option<&MemberId>) -> bool {
        match self {
            Self::Business => true,
            Self::Assigned { member, .. } => owner == Some(member),
        }
    }
}
