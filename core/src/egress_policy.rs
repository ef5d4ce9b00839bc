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
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked_v4(v4);
            }
            blocked_v6(v6)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("cloud metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("carrier-grade NAT (shared)")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("multicast/reserved")
    } else {
        None
    }
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip == "fd00:ec2::254".parse::<Ipv6Addr>().unwrap() {
        Some("cloud metadata")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("private (unique local)")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast/reserved")
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible / NAT64 forms of a blocked IPv4 address.
        if s[0] == 0 || (s[0] == 0x64 && s[1] == 0xff9b) {
            blocked_v4(v4)
        } else {
            None
        }
    } else {
        None
    }
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

    #[test]
    fn blocked_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "fd00:ec2::254",
        ] {
            assert!(
                blocked_range(ip.parse().unwrap()).is_some(),
                "{ip} must be blocked"
            );
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(
                blocked_range(ip.parse().unwrap()).is_none(),
                "{ip} must pass"
            );
        }
        assert_eq!(
            blocked_range("169.254.169.254".parse().unwrap()),
            Some("cloud metadata")
        );
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
