//! Where a media download may connect. Media URLs come from webhooks and Graph answers, not
//! from our own configuration, so a download is HTTPS only, follows no redirect (hyper never
//! does; a 3xx is an unexpected answer), and connects only to public addresses, checked after
//! DNS resolution by a resolver of our own: never a private, loopback, link-local, carrier-
//! grade NAT, multicast or cloud-metadata address, so a URL naming an internal host (or a DNS
//! name pointing at one) reaches nothing inside the network.
//!
//! The local server allows loopback (its tests and fakes listen there, over plain HTTP) unless
//! `GESTOR_FETCH_LOOPBACK=false`; a deployed function never does.

use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a download may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchPolicy {
    /// Loopback addresses too (and plain HTTP to them): the local server's fakes.
    pub allow_loopback: bool,
    /// Any address: only for the base URLs an operator configured (`META_GRAPH_URL`,
    /// `TIKTOK_API_URL`), never for a URL from a webhook or an answer.
    pub allow_internal: bool,
}

impl FetchPolicy {
    /// Media downloads: public addresses, plus loopback where `allow_loopback`.
    pub fn media(allow_loopback: bool) -> Self {
        Self { allow_loopback, allow_internal: false }
    }

    /// The channels' APIs at their configured base URLs.
    pub const OPERATOR: Self = Self { allow_loopback: true, allow_internal: true };

    /// Whether a connection to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.allow_internal {
            return true;
        }
        match ip {
            IpAddr::V4(v4) => self.allows_v4(v4),
            IpAddr::V6(v6) if v6.is_loopback() => self.allow_loopback,
            // IPv4-mapped and IPv4-compatible forms reach the IPv4 address they carry.
            IpAddr::V6(v6) => match v6.to_ipv4() {
                Some(v4) => self.allows_v4(v4),
                None => self.allows_v6(v6),
            },
        }
    }

    fn allows_v4(&self, ip: Ipv4Addr) -> bool {
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        let [a, b, ..] = ip.octets();
        !(ip.is_private()
            || ip.is_link_local() // 169.254/16, AWS's instance metadata among them
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_documentation()
            || a == 0
            || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
            || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
            || (a == 198 && (b == 18 || b == 19)) // benchmarking
            || a >= 240) // reserved
    }

    fn allows_v6(&self, ip: Ipv6Addr) -> bool {
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        let first = ip.segments()[0];
        !(ip.is_unspecified()
            || ip.is_multicast()
            || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS's fd00:ec2::254 metadata)
            || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
            || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
            || first == 0x2001 && ip.segments()[1] <= 0x01ff // Teredo, benchmarking, ORCHID: tunnels and reserved
            || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
            || first == 0x2002 // 6to4, which can carry a private IPv4
            || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 onto any IPv4 (and local NAT64)
            || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only 100::/64
    }

    /// The pre-connection check of a URL: its scheme, and its host when it is an address.
    /// Names are checked after resolution, by [`GuardedResolver`].
    pub fn allows_url(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else { return false };
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        match uri.scheme_str() {
            Some("https") => literal.is_none_or(|ip| self.allows(ip)),
            // Plain HTTP only to a loopback fake, when loopback is allowed at all.
            Some("http") => {
                self.allow_loopback
                    && (literal.is_some_and(|ip| ip.is_loopback()) || host.eq_ignore_ascii_case("localhost"))
            }
            _ => false,
        }
    }
}

/// A DNS resolver that answers only the addresses the policy allows: a name resolving only to
/// refused addresses fails to connect, as if it did not exist.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub policy: FetchPolicy,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move {
            // The connector sets the URL's port on each address afterwards.
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved.filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "the host has no public address",
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_allowed_and_loopback_on_request() {
        let strict = FetchPolicy::media(false);
        let local = FetchPolicy::media(true);
        for refused in [
            "10.0.0.5",
            "172.16.3.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fd00:ec2::254",
            "fe80::1",
            "::",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "::a9fe:a9fe",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "100::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap_or_else(|e| panic!("{refused}: {e}"));
            assert!(!strict.allows(ip) && !local.allows(ip), "{refused}");
        }
        for loopback in ["127.0.0.1", "127.5.5.5", "::1", "::ffff:127.0.0.1", "::7f00:1"] {
            let ip: IpAddr = loopback.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(!strict.allows(ip) && local.allows(ip), "{loopback}");
        }
        for public in ["157.240.22.35", "31.13.65.1", "2a03:2880:f10e:83:face:b00c:0:25de", "8.8.8.8"] {
            let ip: IpAddr = public.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(strict.allows(ip), "{public}");
        }
    }

    #[test]
    fn urls_are_https_except_to_an_allowed_loopback_fake() {
        let strict = FetchPolicy::media(false);
        let local = FetchPolicy::media(true);
        let uri = |u: &str| u.parse::<http::Uri>().unwrap_or_else(|e| panic!("{u}: {e}"));
        for (url, strict_ok, local_ok) in [
            ("https://lookaside.fbsbx.com/x?sig=1", true, true),
            ("https://157.240.22.35/x", true, true),
            ("http://lookaside.fbsbx.com/x", false, false),
            ("https://169.254.169.254/latest/meta-data/", false, false),
            ("http://169.254.169.254/latest/meta-data/", false, false),
            ("https://10.0.0.1/x", false, false),
            ("https://[fd00:ec2::254]/x", false, false),
            ("http://127.0.0.1:8080/media/1", false, true),
            ("http://localhost:8080/media/1", false, true),
            ("https://127.0.0.1/x", false, true),
            ("ftp://lookaside.fbsbx.com/x", false, false),
            ("/relative", false, false),
        ] {
            assert_eq!(strict.allows_url(&uri(url)), strict_ok, "{url} strict");
            assert_eq!(local.allows_url(&uri(url)), local_ok, "{url} local");
        }
    }

    #[tokio::test]
    async fn names_resolving_only_to_refused_addresses_do_not_resolve() {
        use tower_service::Service;
        let name = |n: &str| n.parse::<Name>().unwrap_or_else(|e| panic!("{e}"));
        let mut strict = GuardedResolver { policy: FetchPolicy::media(false) };
        assert!(strict.call(name("localhost")).await.is_err(), "localhost is loopback");
        let mut local = GuardedResolver { policy: FetchPolicy::media(true) };
        let addrs: Vec<SocketAddr> =
            local.call(name("localhost")).await.map(Iterator::collect).unwrap_or_default();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
