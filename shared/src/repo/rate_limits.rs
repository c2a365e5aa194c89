//! The application's rate limiter for routes open to strangers (HTTP APIs take no WAF): a
//! counter per route, per window and per IP or per target (an invite code, a user), in the
//! table, so that every instance and the local server count the same requests. Each checked
//! request costs one `UpdateItem` per counter; an item outlives its window only as a stale
//! counter that no request reads again (its `expires_at` lets TTL clear it, nothing relies on
//! that).
//!
//! Keys: `pk = RATE#{route}#{ip|target}#{digest}`, `sk = {window start, unix seconds}`.
//! The digest stands for the IP or target, so the counter holds no personal data.

use std::sync::Arc;
use time::OffsetDateTime;

use super::idempotency::fingerprint;
use crate::ports::{Key, Table, TableError, Update};

/// How many requests a window lets through, per IP and per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_ip: u32,
    pub per_target: u32,
    pub window_secs: u32,
}

/// What a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Ip,
    Target,
}

#[derive(Clone)]
pub struct RateLimitRepo {
    table: Arc<dyn Table>,
}

impl RateLimitRepo {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    /// Counts one request of `route` from `ip` at `target`; `Err(seconds)` to wait when one of
    /// the two counters is over its limit.
    pub async fn count(
        &self,
        route: &str,
        limit: Limit,
        ip: &str,
        target: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Result<(), u32>, TableError> {
        let window = i64::from(limit.window_secs.max(1));
        let start = now.unix_timestamp().div_euclid(window) * window;
        let retry_after = u32::try_from(start + window - now.unix_timestamp()).unwrap_or(1).max(1);
        let mut counters = vec![(Counter::Ip, ip, limit.per_ip)];
        if let Some(target) = target {
            counters.push((Counter::Target, target, limit.per_target));
        }
        for (counter, who, allowed) in counters {
            let kind = match counter {
                Counter::Ip => "ip",
                Counter::Target => "target",
            };
            let key = Key::new(
                format!("RATE#{route}#{kind}#{}", &fingerprint(who.as_bytes())[..32]),
                start.to_string(),
            );
            let update = Update::default().add("count", 1).set("expires_at", start + 2 * window);
            let after = self.table.update(&key, update, None).await?;
            let seen = after.get("count").and_then(serde_json::Value::as_u64).unwrap_or(1);
            if seen > u64::from(allowed) {
                return Ok(Err(retry_after));
            }
        }
        Ok(Ok(()))
    }
}
