//! The wake-up of snoozed conversations: every minute, each conversation whose snooze time
//! has come goes back to `open` in the inbox. A conversation changed meanwhile (reopened by
//! the customer, resolved, snoozed again) is left as it is.

use async_trait::async_trait;
use gestor_shared::ports::Table;
use gestor_shared::repo::audit::{Actor, AuditEntry, Resource};
use gestor_shared::repo::conversations::{
    ConversationChange, ConversationError, ConversationRepo, ConversationStatus,
};
use gestor_shared::repo::snoozes::SnoozeRepo;
use gestor_shared::worker::{ScheduleError, Scheduled, ScheduledEvent};
use std::sync::Arc;
use time::OffsetDateTime;

/// Wake-ups read per partition and run.
const PER_RUN: usize = 200;

pub struct Wake {
    snoozes: SnoozeRepo,
    conversations: ConversationRepo,
}

impl Wake {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { snoozes: SnoozeRepo::new(table.clone()), conversations: ConversationRepo::new(table) }
    }

    /// Wakes what is due at `now`; answers how many conversations reopened.
    pub async fn wake(&self, now: OffsetDateTime) -> Result<usize, ScheduleError> {
        let failed = |e: &dyn std::fmt::Display| ScheduleError(e.to_string());
        let mut woken = 0;
        for due in self.snoozes.due(now, PER_RUN).await.map_err(|e| failed(&e))? {
            let current =
                self.conversations.get(&due.tenant, &due.conversation_id).await.map_err(|e| failed(&e))?;
            if let Some(c) = current.filter(|c| {
                c.status == ConversationStatus::Snoozed && c.snoozed_until.is_some_and(|until| until <= now)
            }) {
                let change = ConversationChange {
                    status: Some(ConversationStatus::Open),
                    snoozed_until: Some(None),
                    ..ConversationChange::default()
                };
                let resource =
                    Resource { kind: "conversation".into(), id: Some(due.conversation_id.to_string()) };
                let logged = AuditEntry::by(
                    Actor::system("conversations-wake"),
                    "conversation.update",
                    resource,
                    &["status", "snoozed_until"],
                );
                match self
                    .conversations
                    .change_logged(&due.tenant, &due.conversation_id, &change, Some(c.version), &logged)
                    .await
                {
                    Ok(_) => woken += 1,
                    // Changed since it was read: the next run looks again.
                    Err(ConversationError::VersionConflict) => continue,
                    Err(e) => return Err(failed(&e)),
                }
            }
            self.snoozes.remove(&due.key).await.map_err(|e| failed(&e))?;
        }
        if woken > 0 {
            tracing::info!(woken, "snoozed conversations back in the inbox");
        }
        Ok(woken)
    }
}

#[async_trait]
impl Scheduled for Wake {
    fn name(&self) -> &'static str {
        "conversations-wake"
    }

    async fn run(&self, event: ScheduledEvent) -> Result<(), ScheduleError> {
        self.wake(gestor_shared::worker::due_at(&event)).await.map(|_| ())
    }
}
