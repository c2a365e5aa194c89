//! A worker's change of a conversation (a snooze running out): the HTTP layer logs what
//! members change, so a worker's change carries its audit entry into its own transaction.
//! The entry is written exactly when the change is.

use super::{ConversationChange, ConversationError, ConversationRepo, RACE_RETRIES, rewrite};
use crate::domain::TenantId;
use crate::ids::ConversationId;
use crate::ports::TableError;
use crate::repo::audit::{AuditEntry, AuditRepo};
use crate::repo::conversations::Conversation;
use crate::repo::now;

impl ConversationRepo {
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
