//! Changes of a conversation's own fields (status, snooze, assignment): an agent's, which the
//! HTTP layer logs, or a worker's (a snooze running out), which carries its audit entry into
//! its own transaction, so the entry is written exactly when the change is.

use super::{ConversationChange, ConversationError, ConversationRepo, RACE_RETRIES, rewrite};
use crate::domain::TenantId;
use crate::ids::ConversationId;
use crate::ports::TableError;
use crate::repo::audit::{AuditEntry, AuditRepo};
use crate::repo::conversations::Conversation;
use crate::repo::now;

impl ConversationRepo {
    /// An agent's change; with `if_version`, only if the conversation is still at it.
    pub async fn change(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        change: &ConversationChange,
        if_version: Option<u64>,
    ) -> Result<Conversation, ConversationError> {
        self.change_writing(tenant, id, change, if_version, None).await
    }

    /// [`ConversationRepo::change`] with `logged` in the same transaction; a change that
    /// changes nothing writes neither.
    pub async fn change_logged(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        change: &ConversationChange,
        if_version: Option<u64>,
        logged: &AuditEntry,
    ) -> Result<Conversation, ConversationError> {
        self.change_writing(tenant, id, change, if_version, Some(logged)).await
    }

    async fn change_writing(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        change: &ConversationChange,
        if_version: Option<u64>,
        logged: Option<&AuditEntry>,
    ) -> Result<Conversation, ConversationError> {
        for _ in 0..RACE_RETRIES {
            let current = self.read(tenant, id.as_str()).await?.ok_or(ConversationError::NotFound)?;
            if if_version.is_some_and(|v| v != current.conversation.version) {
                return Err(ConversationError::VersionConflict);
            }
            let mut next = current.conversation.clone();
            change.apply(&mut next);
            if next == current.conversation {
                return Ok(next);
            }
            next.version += 1;
            next.updated_at = now();
            let write = rewrite(tenant, &next, current.rev, 0)?;
            let Some(logged) = logged else {
                match self.apply(write).await? {
                    Some(changed) => return Ok(changed),
                    None => continue,
                }
            };
            let ops = vec![write.into_op(), AuditRepo::record_op(tenant, logged)?];
            match self.table.transact(ops).await {
                Ok(()) => return Ok(next),
                // Changed since it was read (or a concurrent write got in the way): again.
                Err(TableError::TransactionCanceled { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ConversationError::Busy)
    }
}
