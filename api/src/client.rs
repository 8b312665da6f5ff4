//! Who is calling, as the rate limits see it: the TCP peer, or, when the peer is one of the
//! `TRUSTED_PROXIES`, the address that proxy says it forwarded for. `X-Forwarded-For` from
//! anyone else is ignored (it is a header any caller can write).
//!
//! Addresses are counted per IPv4 address and per IPv6 /64: one subscriber usually holds a
//! whole /64, so counting each /128 would give one attacker 2^64 buckets.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use poem::Request;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// `10.0.0.0/8, 127.0.0.1` (a bare address is its own /32 or /128). Returns what does not
    /// parse.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| item.to_owned())?,
            };
            networks.push(net.trunc());
        }
        Ok(Self(networks))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
/// address of `X-Forwarded-For` that is not a trusted proxy itself (entries to its left were
/// written by whoever sent the request and prove nothing). `None` without a TCP peer.
pub fn address(req: &Request, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    Some(behind(peer, req.headers(), proxies))
}

/// [`address`] from the peer's address and the request's headers.
fn behind(peer: IpAddr, headers: &poem::http::HeaderMap, proxies: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if proxies.is_empty() || !proxies.contains(peer) {
        return peer;
    }
    // Split the raw bytes: one entry that is not text (the client may write anything left of
    // what our proxy appends) must not hide the rest of the header.
    let entries: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|e| String::from_utf8_lossy(e).trim().to_owned())
        .collect();
    // From the right: each entry was written by the hop after it. Trusted proxies are skipped;
    // the first other entry is the client. What stands left of it was written by the client
    // and proves nothing, so it is never read.
    for entry in entries.iter().rev() {
        match parse_hop(entry) {
            Some(ip) if proxies.contains(ip) => continue,
            Some(ip) => return ip,
            // A trusted proxy wrote something we cannot read: we cannot tell who is behind
            // it, so it counts as the client itself.
            None => break,
        }
    }
    peer
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]`
/// or `[2001:db8::1]:5678` (some proxies append the port).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let bare = entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .unwrap_or(entry);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| canonical(a.ip()))
}

/// What limits count an address under: an IPv4 address as is, an IPv6 address by its /64.
pub fn limit_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, what a dual-stack socket reports) are the
/// IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client key of the current request, put there by [`crate::middleware::Throttle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey(pub String);

impl ClientKey {
    /// The key of `req` (set by the middleware; computed again where it did not run).
    pub fn of(req: &Request, proxies: &TrustedProxies) -> Self {
        if let Some(key) = req.extensions().get::<ClientKey>() {
            return key.clone();
        }
        Self(
            address(req, proxies)
                .map(limit_key)
                .unwrap_or_else(|| "unknown".to_owned()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(peer: &str, forwarded: &[&str], proxies: &TrustedProxies) -> Option<String> {
        let mut headers = poem::http::HeaderMap::new();
        for f in forwarded {
            headers.append("x-forwarded-for", f.parse().expect("header value"));
        }
        let peer: std::net::SocketAddr = peer.parse().expect("peer");
        Some(behind(peer.ip(), &headers, proxies).to_string())
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("parses");
        let none = TrustedProxies::default();
        // (why, trusted proxies, peer, X-Forwarded-For headers, the caller we count)
        let cases: &[(&str, &TrustedProxies, &str, &[&str], &str)] = &[
            (
                "not a proxy: its header is the caller's own writing",
                &proxies,
                "203.0.113.9:5000",
                &["1.2.3.4"],
                "203.0.113.9",
            ),
            (
                "a proxy: the right-most untrusted entry; forged entries to its left are ignored",
                &proxies,
                "10.1.2.3:5000",
                &["6.6.6.6, 198.51.100.7, 10.9.9.9"],
                "198.51.100.7",
            ),
            (
                "the same over several headers",
                &proxies,
                "127.0.0.1:5000",
                &["6.6.6.6", "198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "nothing forwarded: the proxy itself",
                &proxies,
                "10.1.2.3:5000",
                &[],
                "10.1.2.3",
            ),
            (
                "garbage from the proxy: the proxy itself",
                &proxies,
                "10.1.2.3:5000",
                &["nonsense"],
                "10.1.2.3",
            ),
            (
                "garbage the client wrote, left of the entry our proxy appended, changes nothing",
                &proxies,
                "10.1.2.3:5000",
                &["nonsense, 198.51.100.7"],
                "198.51.100.7",
            ),
            (
                "a proxy that appends the port",
                &proxies,
                "10.1.2.3:5000",
                &["198.51.100.7:61000"],
                "198.51.100.7",
            ),
            (
                "a bracketed IPv6 address with a port",
                &proxies,
                "10.1.2.3:5000",
                &["[2001:db8::7]:61000"],
                "2001:db8::7",
            ),
            (
                "a bracketed IPv6 address",
                &proxies,
                "10.1.2.3:5000",
                &["[2001:db8::8]"],
                "2001:db8::8",
            ),
            (
                "without trusted proxies nothing is believed",
                &none,
                "10.1.2.3:5000",
                &["198.51.100.7"],
                "10.1.2.3",
            ),
        ];
        for (why, trusted, peer, forwarded, expected) in cases {
            assert_eq!(
                client(peer, forwarded, trusted).as_deref(),
                Some(*expected),
                "{why}"
            );
        }
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
        assert_eq!(limit_key(a), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(limit_key(mapped), "192.0.2.1");
    }

    #[test]
    fn bad_lists_name_the_bad_entry() {
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8, nope"),
            Err("nope".into())
        );
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        assert!(
            TrustedProxies::parse("fd00::/8")
                .expect("v6")
                .contains("fd12::1".parse().expect("ip"))
        );
    }
}
