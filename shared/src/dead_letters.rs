//! Dead letters kept where an erasure reaches them. SQS cannot delete one person's messages,
//! and a dead-letter queue would keep a failed job (a customer's message, a reply to them)
//! for its whole retention; so the hourly drain moves each dead letter into the bucket,
//! under the business it belongs to (`{tenant}/dead-letters/{queue}/{date}/{id}.json`), or,
//! for an inbound update whose channel is connected to no business,
//! `dead-letters/unrouted/...`. There an erasure finds it by what it names, as it finds
//! quarantined deliveries, and an operator replays it (`gestor-local replay-dead-letters`)
//! once the cause is fixed. Each object is tagged for the bucket's expiry rule.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::domain::TenantId;

/// The prefix of a business's dead letters, under its own.
pub const DIR: &str = "dead-letters";
/// Where the dead letters of no business are kept.
pub const UNROUTED_PREFIX: &str = "dead-letters/unrouted/";
/// The tag a kept dead letter carries, and the days after which the bucket's rule deletes it.
pub const TAG: (&str, &str) = ("retention", "dead-letter");
pub const EXPIRE_DAYS: u32 = 14;

/// A dead letter as kept: what the queue held, and enough to send it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The queue's logical name (`inbound`, `outbound` ...).
    pub queue: String,
    pub message_id: String,
    pub body: String,
    /// A FIFO queue's group, to keep its order when sent again.
    pub group_id: Option<String>,
    pub receive_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub moved_at: OffsetDateTime,
}

/// The prefix under which a business's (or no business's) dead letters of a queue are kept.
pub fn prefix(tenant: Option<&TenantId>, queue: &str) -> String {
    match tenant {
        Some(tenant) => format!("{tenant}/{DIR}/{queue}/"),
        None => format!("{UNROUTED_PREFIX}{queue}/"),
    }
}

/// Where a dead letter is kept.
pub fn key(tenant: Option<&TenantId>, letter: &DeadLetter) -> String {
    // Queue message ids are UUIDs; anything else is kept to safe characters.
    let id: String = letter
        .message_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    format!("{}{}/{id}.json", prefix(tenant, &letter.queue), letter.moved_at.date())
}

/// The business a job names (`tenant` or `tenant_id`, at its top or one level down, as the
/// queues' job types write it).
pub fn tenant_named(body: &Value) -> Option<TenantId> {
    let here = ["tenant", "tenant_id"].iter().find_map(|k| body.get(*k).and_then(Value::as_str));
    if let Some(tenant) = here {
        return TenantId::parse(tenant).ok();
    }
    body.as_object()?.values().filter(|v| v.is_object()).find_map(tenant_named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_business_is_found_where_each_job_type_names_it() {
        let acme = TenantId::parse("acme").ok();
        assert_eq!(tenant_named(&json!({"tenant_id": "acme", "request_id": "prq_1"})), acme);
        assert_eq!(tenant_named(&json!({"kind": "send", "send": {"tenant": "acme"}})), acme);
        assert_eq!(tenant_named(&json!({"Send": {"tenant": "acme"}})), acme);
        assert_eq!(tenant_named(&json!({"v": 1, "channel": "whatsapp"})), None);
    }

    #[test]
    fn keys_stay_under_their_prefix() {
        let letter = DeadLetter {
            queue: "outbound".into(),
            message_id: "a/../b".into(),
            body: "{}".into(),
            group_id: None,
            receive_count: 5,
            moved_at: time::macros::datetime!(2026-12-03 10:00 UTC),
        };
        let acme = TenantId::parse("acme").ok();
        assert_eq!(key(acme.as_ref(), &letter), "acme/dead-letters/outbound/2026-12-03/a____b.json");
        assert_eq!(key(None, &letter), "dead-letters/unrouted/outbound/2026-12-03/a____b.json");
    }
}
