//! The application's rate limiter for routes open to strangers (HTTP APIs take no WAF): a
//! counter per route, per window and per IP or per target (an invite code, a user), in the
//! table, so that every instance and the local server count the same requests. Each checked
//! request costs one `UpdateItem` per counter; an item outlives its window only as a stale
//! counter that no request reads again (its `expires_at` lets TTL clear it, nothing relies on
//! that).
//!
//! An IPv6 address is counted by its /64 (`network_of`).
//!
//! Keys: `pk = RATE#{route}#{ip|target}#{digest}`, `sk = {window start, unix seconds}`.
//! The digest is an HMAC of the IP or target under a secret of the deployment's, so the
//! counter holds no personal data: without the secret, an address cannot be found by hashing
//! every address there is.

use std::sync::Arc;
use time::OffsetDateTime;

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// Where the limiter's "now" comes from: the system clock, or a test's.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

#[derive(Clone)]
pub struct RateLimitRepo {
    table: Arc<dyn Table>,
    secret: Vec<u8>,
    clock: Clock,
}

impl RateLimitRepo {
    /// `secret` keys the digests of IPs and targets.
    pub fn new(table: Arc<dyn Table>, secret: &[u8]) -> Self {
        Self { table, secret: secret.to_vec(), clock: Arc::new(OffsetDateTime::now_utc) }
    }

    /// Windows by this clock (a test counting a limit's requests must not cross a window's
    /// edge half-way).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    fn digest(&self, who: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes any key length"),
        };
        // Its own label: the same secret signs cursors, over other messages.
        mac.update(b"gestor/rate-limits/v1\n");
        mac.update(who.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
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
        let network = network_of(ip);
        let mut counters = vec![(Counter::Ip, network.as_str(), limit.per_ip)];
        if let Some(target) = target {
            counters.push((Counter::Target, target, limit.per_target));
        }
        for (counter, who, allowed) in counters {
            let kind = match counter {
                Counter::Ip => "ip",
                Counter::Target => "target",
            };
            let key = Key::new(format!("RATE#{route}#{kind}#{}", self.digest(who)), start.to_string());
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

/// What an IP is counted as: an IPv4 address itself, an IPv6 address by its /64, the
/// smallest network one subscriber gets (a host picks any of its 2^64 addresses at will, so
/// counting single addresses would count nothing). An IPv4 address written as IPv6 is the
/// IPv4 address; what does not parse is counted as written.
pub fn network_of(ip: &str) -> String {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::embedded_core;

    #[test]
    fn counters_name_a_keyed_digest_never_the_address() {
        let (core, _dir) = embedded_core();
        let ours = RateLimitRepo::new(core.table.clone(), b"secret-a");
        let theirs = RateLimitRepo::new(core.table.clone(), b"secret-b");
        let ip = "203.0.113.7";
        assert!(!ours.digest(ip).contains(ip));
        assert_eq!(ours.digest(ip), ours.digest(ip));
        assert_ne!(ours.digest(ip), theirs.digest(ip), "without the secret, the digest cannot be redone");
        assert_ne!(ours.digest(ip), crate::repo::idempotency::fingerprint(ip.as_bytes())[..32].to_owned());
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(network_of("2001:db8:85a3:7::1"), "2001:db8:85a3:7::/64");
        assert_eq!(network_of("2001:db8:85a3:7:ffff:1:2:3"), network_of("2001:db8:85a3:7::9"));
        assert_ne!(network_of("2001:db8:85a3:8::1"), network_of("2001:db8:85a3:7::1"));
        assert_eq!(network_of("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of("203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of("unknown"), "unknown");
    }

    #[tokio::test]
    async fn addresses_of_one_ipv6_network_share_a_counter() {
        let (core, _dir) = embedded_core();
        let repo = RateLimitRepo::new(core.table.clone(), b"secret");
        let limit = Limit { per_ip: 2, per_target: 100, window_secs: 60 };
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        for host in ["2001:db8:1:2::a", "2001:db8:1:2::b"] {
            assert_eq!(repo.count("POST /x", limit, host, None, now).await.ok(), Some(Ok(())));
        }
        let third = repo.count("POST /x", limit, "2001:db8:1:2:dead:beef:0:1", None, now).await;
        assert!(matches!(third, Ok(Err(_))), "{third:?}");
        let elsewhere = repo.count("POST /x", limit, "2001:db8:1:3::a", None, now).await;
        assert_eq!(elsewhere.ok(), Some(Ok(())));
    }
}
