//! Egress policy: the per-endpoint allow-list and the blocked address ranges.
//!
//! Pure decisions, no I/O. Deny by default: a URL passes only if an entry
//! matches its scheme, host and port; an address in a blocked range
//! (loopback, private, link-local, cloud metadata, unspecified, multicast)
//! passes only if the matching entry names that address explicitly (an IP
//! literal, or `localhost` for loopback). A hostname entry never unlocks a
//! blocked range, so DNS cannot smuggle a blocked address in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AllowEntryError {
    #[error(
        "egress entry `{0}`: expected `scheme://host[:port]` (e.g. `https://api.example.com` or `https://*.example.com:8443`)"
    )]
    Shape(String),
    #[error("egress entry `{0}`: scheme must be `http` or `https`")]
    Scheme(String),
    #[error("egress entry `{0}`: invalid port")]
    Port(String),
    #[error(
        "egress entry `{0}`: a wildcard is only allowed as the first label, as in `*.example.com`"
    )]
    Wildcard(String),
    #[error("egress entry `{0}`: must not contain a path, query, or user info")]
    Extra(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Suffix(String),
    Ip(IpAddr),
}

/// One `scheme://host[:port]` allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    raw: String,
    scheme: String,
    host: HostPattern,
    port: u16,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

impl AllowEntry {
    pub fn parse(raw: &str) -> Result<AllowEntry, AllowEntryError> {
        let shape = || AllowEntryError::Shape(raw.to_string());
        let (scheme, rest) = raw.split_once("://").ok_or_else(shape)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(AllowEntryError::Scheme(raw.to_string()));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(shape());
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(AllowEntryError::Extra(raw.to_string()));
        }
        let (host, port) =
            split_host_port(rest).ok_or_else(|| AllowEntryError::Port(raw.to_string()))?;
        let port = port.unwrap_or_else(|| default_port(&scheme));
        let host = host.to_ascii_lowercase();
        let pattern = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.contains('*') || suffix.is_empty() {
                return Err(AllowEntryError::Wildcard(raw.to_string()));
            }
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.contains('*') {
            return Err(AllowEntryError::Wildcard(raw.to_string()));
        } else if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            HostPattern::Ip(ip)
        } else {
            HostPattern::Exact(host)
        };
        Ok(AllowEntry {
            raw: raw.to_string(),
            scheme,
            host: pattern,
            port,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme != scheme || self.port != port {
            return false;
        }
        match &self.host {
            HostPattern::Exact(h) => h == host,
            HostPattern::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
            HostPattern::Ip(ip) => {
                host.trim_matches(['[', ']']).parse::<IpAddr>().ok() == Some(*ip)
            }
        }
    }

    /// Whether every origin `other` admits is admitted by this entry (same
    /// scheme and port; the same host, or a host under this wildcard, or
    /// the same wildcard).
    pub fn covers(&self, other: &AllowEntry) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        match (&self.host, &other.host) {
            (HostPattern::Exact(_) | HostPattern::Ip(_), HostPattern::Exact(h)) => {
                self.matches(&other.scheme, h, other.port)
            }
            (HostPattern::Suffix(s), HostPattern::Exact(h)) => {
                h.ends_with(s.as_str()) && h.len() > s.len()
            }
            (HostPattern::Suffix(a), HostPattern::Suffix(b)) => b.ends_with(a.as_str()),
            (HostPattern::Ip(a), HostPattern::Ip(b)) => a == b,
            _ => false,
        }
    }

    /// Whether this entry explicitly names `ip` (so a blocked range is allowed).
    fn names_explicitly(&self, ip: IpAddr) -> bool {
        match &self.host {
            HostPattern::Ip(a) => *a == ip,
            HostPattern::Exact(h) => h == "localhost" && ip.is_loopback(),
            HostPattern::Suffix(_) => false,
        }
    }
}

/// Split `host[:port]` (IPv6 in brackets). `None` if the port is malformed.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        return match rest.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if rest.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((s, None)),
    }
}

/// Why an address is in a blocked range.
///
/// Blocked: every entry of IANA's IPv4 and IPv6 Special-Purpose Address
/// Registries that is not globally reachable (private, loopback, link-local,
/// shared, benchmarking, documentation, protocol assignments, …), multicast,
/// the cloud metadata addresses, and the tunnelling prefixes whose traffic
/// leaves through a relay the host cannot check (6to4, Teredo, the local-use
/// NAT64 prefix). Addresses that embed an IPv4 address one-to-one (IPv4-mapped
/// `::ffff:0:0/96`, the well-known NAT64 prefix `64:ff9b::/96`) are judged by
/// that IPv4 address.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            for (net, len) in [(0xffff_u128 << 32, 96), (0x64_ff9b_u128 << 96, 96)] {
                if in_prefix(bits, net, len, 128) {
                    return blocked_v4(Ipv4Addr::from(bits as u32));
                }
            }
            blocked_v6(v6)
        }
    }
}

/// Whether the `width`-bit address `addr` lies in `net/len`.
fn in_prefix(addr: u128, net: u128, len: u32, width: u32) -> bool {
    let host_bits = width - len;
    len == 0 || (addr >> host_bits) == (net >> host_bits)
}

/// IPv4 ranges blocked (IANA IPv4 Special-Purpose Address Registry entries
/// not globally reachable, plus multicast), most specific first.
const BLOCKED_V4: &[([u8; 4], u32, &str)] = &[
    ([169, 254, 169, 254], 32, "cloud metadata"),
    ([100, 100, 100, 200], 32, "cloud metadata"),
    ([255, 255, 255, 255], 32, "limited broadcast"),
    ([0, 0, 0, 0], 8, "unspecified (this network)"),
    ([10, 0, 0, 0], 8, "private"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT (shared)"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (deprecated)"),
    ([192, 168, 0, 0], 16, "private"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
    ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
    ([224, 0, 0, 0], 4, "multicast/reserved"),
    ([240, 0, 0, 0], 4, "multicast/reserved"),
];

/// IPv6 ranges blocked (IANA IPv6 Special-Purpose Address Registry entries
/// not globally reachable, tunnelling prefixes, multicast), most specific
/// first. `::ffff:0:0/96` and `64:ff9b::/96` are judged by their IPv4
/// address before this table is read.
const BLOCKED_V6: &[(u128, u32, &str)] = &[
    (0xfd00_0ec2_u128 << 96 | 0x254, 128, "cloud metadata"),
    (1, 128, "loopback"),
    (0, 128, "unspecified"),
    (0, 96, "IPv4-compatible (deprecated)"),
    (0x64_ff9b_0001_u128 << 80, 48, "local-use NAT64"),
    (0x0100_u128 << 112, 64, "discard-only"),
    (0x0100_0000_0000_0001_u128 << 64, 64, "dummy prefix"),
    (0x2001_0000_u128 << 96, 32, "Teredo tunnel"),
    (0x2001_0db8_u128 << 96, 32, "documentation"),
    (0x2001_u128 << 112, 23, "IETF protocol assignments"),
    (0x2002_u128 << 112, 16, "6to4 tunnel"),
    (0x3fff_u128 << 112, 20, "documentation"),
    (0x5f00_u128 << 112, 16, "segment routing (SRv6) SIDs"),
    (0xfc00_u128 << 112, 7, "private (unique local)"),
    (0xfe80_u128 << 112, 10, "link-local"),
    (0xff00_u128 << 112, 8, "multicast/reserved"),
];

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u128::from(u32::from(ip));
    BLOCKED_V4
        .iter()
        .find(|(net, len, _)| in_prefix(bits, u128::from(u32::from_be_bytes(*net)), *len, 32))
        .map(|(_, _, why)| *why)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    BLOCKED_V6
        .iter()
        .find(|(net, len, _)| in_prefix(bits, *net, *len, 128))
        .map(|(_, _, why)| *why)
}

/// A denial, with a reason fit for the operator's log and the call failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("egress denied: {url}: {why}")]
pub struct Denial {
    pub url: String,
    pub why: String,
}

/// An endpoint's allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    entries: Vec<AllowEntry>,
}

impl EgressPolicy {
    pub fn new(entries: Vec<AllowEntry>) -> Self {
        EgressPolicy { entries }
    }

    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, AllowEntryError> {
        Ok(EgressPolicy {
            entries: raw
                .iter()
                .map(|r| AllowEntry::parse(r.as_ref()))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// First check, before any DNS: which entry (if any) admits the URL.
    pub fn admit(
        &self,
        url: &str,
        scheme: &str,
        host: &str,
        port: Option<u16>,
    ) -> Result<&AllowEntry, Denial> {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let port = port.unwrap_or_else(|| default_port(&scheme));
        let entry = self
            .entries
            .iter()
            .find(|e| e.matches(&scheme, &host, port))
            .ok_or_else(|| Denial {
                url: url.to_string(),
                why: if self.entries.is_empty() {
                    "the endpoint allows no egress (empty allow-list)".to_string()
                } else {
                    format!("`{scheme}://{host}:{port}` is not on the endpoint's allow-list")
                },
            })?;
        Ok(entry)
    }

    /// Second check, on every address the host resolved to (or the literal).
    pub fn check_ip(entry: &AllowEntry, url: &str, ip: IpAddr) -> Result<(), Denial> {
        match blocked_range(ip) {
            Some(range) if !entry.names_explicitly(ip) => Err(Denial {
                url: url.to_string(),
                why: format!(
                    "address {ip} is {range}; blocked unless an allow-list entry names it explicitly (entry `{}` does not)",
                    entry.as_str()
                ),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(e: &[&str]) -> EgressPolicy {
        EgressPolicy::parse(e).unwrap()
    }

    #[test]
    fn exact_wildcard_and_port() {
        let p = policy(&["https://api.example.com", "https://*.chat.io:8443"]);
        assert!(p.admit("u", "https", "api.example.com", None).is_ok());
        assert!(p.admit("u", "https", "API.Example.com", Some(443)).is_ok());
        assert!(p.admit("u", "http", "api.example.com", None).is_err());
        assert!(
            p.admit("u", "https", "api.example.com", Some(8443))
                .is_err()
        );
        assert!(p.admit("u", "https", "eu.chat.io", Some(8443)).is_ok());
        assert!(p.admit("u", "https", "a.b.chat.io", Some(8443)).is_ok());
        assert!(p.admit("u", "https", "chat.io", Some(8443)).is_err());
        assert!(p.admit("u", "https", "evilchat.io", Some(8443)).is_err());
    }

    #[test]
    fn entry_errors_name_the_problem() {
        type Variant = fn(String) -> AllowEntryError;
        let cases: [(&str, Variant); 5] = [
            ("api.example.com", AllowEntryError::Shape),
            ("ftp://x", AllowEntryError::Scheme),
            ("https://x:99999", AllowEntryError::Port),
            ("https://a.*.com", AllowEntryError::Wildcard),
            ("https://x/path", AllowEntryError::Extra),
        ];
        for (entry, kind) in cases {
            assert_eq!(AllowEntry::parse(entry), Err(kind(entry.to_string())));
        }
    }

    /// Every blocked entry of IANA's IPv4 and IPv6 special-purpose
    /// registries (and the tunnelling and embedding forms), first and last
    /// address, with the reason given; then addresses just outside, and
    /// public ones, that must pass.
    #[test]
    fn blocked_ranges() {
        let blocked = [
            ("0.0.0.0", "unspecified"),
            ("0.255.255.255", "unspecified"),
            ("10.0.0.0", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.0", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.255", "loopback"),
            ("169.254.0.0", "link-local"),
            ("169.254.169.254", "cloud metadata"),
            ("100.100.100.200", "cloud metadata"),
            ("172.16.0.0", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.0", "IETF protocol assignments"),
            ("192.0.0.255", "IETF protocol assignments"),
            ("192.0.2.1", "TEST-NET-1"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.0.0", "private"),
            ("192.168.255.255", "private"),
            ("198.18.0.0", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "TEST-NET-2"),
            ("203.0.113.9", "TEST-NET-3"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::7f00:1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::169.254.169.254", "cloud metadata"),
            ("64:ff9b::198.18.0.1", "benchmarking"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64"),
            ("100::", "discard-only"),
            ("100::ffff:ffff:ffff:ffff", "discard-only"),
            ("100:0:0:1::1", "dummy prefix"),
            ("2001::", "Teredo"),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo"),
            ("2001:2::1", "IETF protocol assignments"),
            ("2001:1ff:ffff::1", "IETF protocol assignments"),
            ("2001:db8::1", "documentation"),
            ("2002::", "6to4"),
            ("2002:7f00:1::1", "6to4"),
            ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "6to4"),
            ("3fff::1", "documentation"),
            ("3fff:fff::1", "documentation"),
            ("5f00::1", "SRv6"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("ff02::1", "multicast"),
        ];
        for (ip, why) in blocked {
            let got = blocked_range(ip.parse().unwrap());
            assert!(
                got.is_some_and(|g| g.contains(why)),
                "{ip} must be blocked as {why:?}, got {got:?}"
            );
        }
        let pass = [
            "93.184.216.34",
            "8.8.8.8",
            "1.0.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.0",
            "192.0.1.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:200::1",
            "2003::1",
            "64:ff9b::8.8.8.8",
            "::ffff:8.8.8.8",
            "fec0::1",
        ];
        for ip in pass {
            let got = blocked_range(ip.parse().unwrap());
            assert!(got.is_none(), "{ip} must pass, got {got:?}");
        }
    }

    #[test]
    fn explicit_ip_entry_unlocks_only_itself() {
        let p = policy(&["http://127.0.0.1:8080", "http://sim.test:8080"]);
        let e = p.admit("u", "http", "127.0.0.1", Some(8080)).unwrap();
        assert!(EgressPolicy::check_ip(e, "u", "127.0.0.1".parse().unwrap()).is_ok());
        // a hostname entry resolving to loopback stays blocked
        let e = p.admit("u", "http", "sim.test", Some(8080)).unwrap();
        let d = EgressPolicy::check_ip(e, "u", "127.0.0.1".parse().unwrap()).unwrap_err();
        assert!(d.why.contains("loopback"), "{d}");
        assert!(EgressPolicy::check_ip(e, "u", "93.184.216.34".parse().unwrap()).is_ok());
    }
}
