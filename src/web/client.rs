//! Who is asking: the client address, taken from the TCP peer, or from `X-Forwarded-For` when
//! (and only when) the peer is a trusted proxy. Must not trust a header from anyone else: a
//! forged `X-Forwarded-For` would let an attacker pick the rate-limit bucket it is counted in.
//! Also the trusted-proxy list as the configuration gives it, and the [`Client`] extractor each
//! front end's state opts into with [`TrustedProxies`].

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::ConfigError;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a single address.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let parsed = addr.parse::<IpAddr>().ok()?;
        let max = if parsed.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => p.parse::<u8>().ok()?,
            Some(_) => return None,
            None => max,
        };
        if prefix > max {
            return None;
        }
        let addr = canonical(parsed);
        match (parsed, addr) {
            // ::ffff:a.b.c.d/104 is a.b.c.d/8.
            (IpAddr::V6(_), IpAddr::V4(_)) => prefix.checked_sub(96).map(|prefix| Cidr { addr, prefix }),
            _ => Some(Cidr { addr, prefix }),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => same_prefix(&net.octets(), &ip.octets(), self.prefix),
            _ => false,
        }
    }
}

fn same_prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Proxies append the address they
/// saw, so everything left of the first untrusted hop may be forged and is ignored.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // A garbled entry: nothing to its left can be trusted either.
            return client;
        };
        client = canonical(ip);
        if !is_trusted(trusted, client) {
            return client;
        }
    }
    client
}

/// Whether `ip` is one of the trusted proxies.
pub fn is_trusted(proxies: &[Cidr], ip: IpAddr) -> bool {
    proxies.iter().any(|c| c.contains(ip))
}

/// The configuration's `trusted_proxies` list; errors name `key`.
pub fn parse_proxies(key: &str, values: &[String]) -> Result<Vec<Cidr>, ConfigError> {
    values
        .iter()
        .map(|v| {
            Cidr::parse(v).ok_or_else(|| {
                ConfigError::invalid(
                    key,
                    format!("{v:?} is not an IP address or CIDR such as \"10.0.0.0/8\" or \"::1\""),
                )
            })
        })
        .collect()
}

/// A front end's state: which peers' `X-Forwarded-For` it believes.
pub trait TrustedProxies {
    fn trusted_proxies(&self) -> &[Cidr];
}

/// The client address of a request (peer, or `X-Forwarded-For` from a trusted proxy).
pub struct Client(pub IpAddr);

impl<S: TrustedProxies + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        // Without connect info (a router served without it) every client shares one bucket.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Client(client_address(peer, &parts.headers, state.trusted_proxies())))
    }
}

/// The rate-limit key for an address: IPv6 clients are grouped by /64, since one host usually
/// holds a whole /64 and could otherwise rotate through it.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_table() {
        let table = [
            ("10.0.0.0/8", "10.200.1.1", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7", "192.168.1.8", false),
            ("172.16.0.0/12", "172.31.255.255", true),
            ("172.16.0.0/12", "172.32.0.0", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("::1", "::1", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("::ffff:10.0.0.0/104", "10.1.2.3", true),
            ("10.0.0.0/8", "2001:db8::1", false),
        ];
        for (net, addr, expected) in table {
            let cidr = Cidr::parse(net).unwrap_or_else(|| panic!("{net}"));
            assert_eq!(cidr.contains(ip(addr)), expected, "{net} ∋ {addr}");
        }
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host",
            "",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    fn check(peer: &str, xff: &[&str], trusted: &[&str], expected: &str) {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append("x-forwarded-for", v.parse().unwrap());
        }
        let trusted: Vec<Cidr> = trusted.iter().map(|t| Cidr::parse(t).unwrap()).collect();
        assert_eq!(
            client_address(ip(peer), &headers, &trusted),
            ip(expected),
            "peer {peer} xff {xff:?} trusted {trusted:?}"
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        check("203.0.113.5", &["1.2.3.4"], &[], "203.0.113.5");
        check("203.0.113.5", &["1.2.3.4"], &["10.0.0.0/8"], "203.0.113.5");
        check("10.0.0.2", &["1.2.3.4"], &["10.0.0.0/8"], "1.2.3.4");
        // The client forged a left-most entry; the proxy appended the real one.
        check("10.0.0.2", &["6.6.6.6, 1.2.3.4"], &["10.0.0.0/8"], "1.2.3.4");
        // Two proxies of ours.
        check("10.0.0.2", &["1.2.3.4, 10.0.0.9"], &["10.0.0.0/8"], "1.2.3.4");
        check("10.0.0.2", &["1.2.3.4", "10.0.0.9"], &["10.0.0.0/8"], "1.2.3.4");
        // Garbage stops the walk at the last good hop.
        check("10.0.0.2", &["1.2.3.4, garbage"], &["10.0.0.0/8"], "10.0.0.2");
        check("10.0.0.2", &[], &["10.0.0.0/8"], "10.0.0.2");
        check("::ffff:10.0.0.2", &["2001:db8::7"], &["10.0.0.0/8"], "2001:db8::7");
    }

    #[test]
    fn ipv6_buckets_by_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(bucket(ip("1.2.3.4")), ip("1.2.3.4"));
    }
}
