//! Roles and what each may do: the permission matrix, written once.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Agent,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Owner, Role::Admin, Role::Manager, Role::Agent, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner | Role::Admin => true,
            // Connecting a channel hands the business's messages to a token: owners and
            // admins only.
            // So does changing the business's settings.
            // So do filing privacy requests for the business's customers (an erasure cannot be
            // undone).
            Role::Manager => !matches!(
                permission,
                AuditRead | ChannelsManage | TenantManage | MembersManage | PrivacyOthers
            ),
            Role::Agent => matches!(
                permission,
                ContactsRead | ContactsWrite | ChannelsRead | ConversationsRead | ConversationsWrite
            ),
            Role::Viewer => matches!(permission, ContactsRead | ChannelsRead | ConversationsRead),
        }
    }

    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL.into_iter().filter(|p| self.allows(*p)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Permission {
    #[serde(rename = "contacts.read")]
    ContactsRead,
    #[serde(rename = "contacts.write")]
    ContactsWrite,
    #[serde(rename = "contacts.delete")]
    ContactsDelete,
    /// Taking contacts' data out of the CRM: a contact's export (access, portability).
    #[serde(rename = "contacts.export")]
    ContactsExport,
    #[serde(rename = "audit.read")]
    AuditRead,
    #[serde(rename = "channels.read")]
    ChannelsRead,
    #[serde(rename = "channels.manage")]
    ChannelsManage,
    /// The inbox: conversations and their messages. Every role has it.
    #[serde(rename = "conversations.read")]
    ConversationsRead,
    /// Answering customers, writing notes, changing a conversation's status, marking it read,
    /// and taking an unassigned conversation.
    #[serde(rename = "conversations.write")]
    ConversationsWrite,
    /// Assigning a conversation to anyone (managers and up).
    #[serde(rename = "conversations.assign")]
    ConversationsAssign,
    /// Taking conversations and their messages out of the CRM.
    #[serde(rename = "conversations.export")]
    ConversationsExport,
    /// The business's settings (`PATCH /v1/tenant`): owners and admins.
    #[serde(rename = "tenant.manage")]
    TenantManage,
    /// Changing members' roles and removing members: owners and admins (only an owner
    /// makes or unmakes an owner).
    #[serde(rename = "members.manage")]
    MembersManage,
    /// Filing privacy requests for others: the business's customers (access, rectification,
    /// cancellation, opposition, portability). A member files their own with no permission;
    /// the whole account's only an owner.
    #[serde(rename = "privacy.others")]
    PrivacyOthers,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::ContactsRead,
        Permission::ContactsWrite,
        Permission::ContactsDelete,
        Permission::ContactsExport,
        Permission::AuditRead,
        Permission::ChannelsRead,
        Permission::ChannelsManage,
        Permission::ConversationsRead,
        Permission::ConversationsWrite,
        Permission::ConversationsAssign,
        Permission::ConversationsExport,
        Permission::TenantManage,
        Permission::MembersManage,
        Permission::PrivacyOthers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ContactsRead => "contacts.read",
            Permission::ContactsWrite => "contacts.write",
            Permission::ContactsDelete => "contacts.delete",
            Permission::ContactsExport => "contacts.export",
            Permission::AuditRead => "audit.read",
            Permission::ChannelsRead => "channels.read",
            Permission::ChannelsManage => "channels.manage",
            Permission::ConversationsRead => "conversations.read",
            Permission::ConversationsWrite => "conversations.write",
            Permission::ConversationsAssign => "conversations.assign",
            Permission::ConversationsExport => "conversations.export",
            Permission::TenantManage => "tenant.manage",
            Permission::MembersManage => "members.manage",
            Permission::PrivacyOthers => "privacy.others",
        }
    }
}
