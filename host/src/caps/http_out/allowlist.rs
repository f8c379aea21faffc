//! The operator's list of outbound destinations and how a request matches it.
//!
//! Entries (case-insensitive, a trailing dot ignored), each with an optional
//! `:port` (none = any port):
//!
//! - `api.example.com` — that name;
//! - `*.example.com` — its subdomains at any depth, not `example.com` itself;
//! - `203.0.113.7`, `[2001:db8::7]` — that address, in any spelling the
//!   guest uses (`127.1` matches `127.0.0.1`);
//! - `10.0.0.0/8`, `[fd00::/8]:443` — the addresses of that network.
//!
//! A name entry lets the guest use the name, not whatever it resolves to:
//! every resolved address is checked again, and a special-purpose address
//! (loopback, private, metadata, …) passes only when an address entry names
//! it — the address itself, or a network lying inside its special block.

use crate::common::address::{self, canonical, Host, Special};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Name(String),
    /// `*.suffix`: stores `suffix`.
    Subdomains(String),
    Ip(IpAddr),
    Net {
        base: IpAddr,
        prefix: u8,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

/// How a name matched the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMatch {
    None,
    Wildcard,
    Exact,
}

/// A parsed allowlist; empty allows nothing.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

impl Allowlist {
    /// Parses every entry; the error lists each bad one with the reason.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowlist, String> {
        let mut parsed = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        for raw in entries {
            match parse_entry(raw.as_ref()) {
                Ok(e) => parsed.push(e),
                Err(why) => bad.push(format!("{:?}: {why}", raw.as_ref())),
            }
        }
        if bad.is_empty() {
            Ok(Allowlist { entries: parsed })
        } else {
            Err(format!("invalid outbound host entries: {}", bad.join("; ")))
        }
    }

    /// Like [`Allowlist::parse`], but a bad entry is logged and skipped.
    pub fn parse_lenient<S: AsRef<str>>(entries: &[S]) -> Allowlist {
        let mut parsed = Vec::with_capacity(entries.len());
        for raw in entries {
            match parse_entry(raw.as_ref()) {
                Ok(e) => parsed.push(e),
                Err(why) => tracing::warn!(
                    target: "pb.http_out",
                    entry = raw.as_ref(),
                    "outbound host entry ignored: {why}"
                ),
            }
        }
        Allowlist { entries: parsed }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn at_port(&self, port: u16) -> impl Iterator<Item = &Pattern> {
        self.entries
            .iter()
            .filter(move |e| e.port.is_none_or(|p| p == port))
            .map(|e| &e.pattern)
    }

    /// Whether the DNS name `name` (canonical) may be used on `port`.
    pub fn match_name(&self, name: &str, port: u16) -> NameMatch {
        let mut best = NameMatch::None;
        for pattern in self.at_port(port) {
            match pattern {
                Pattern::Name(n) if n == name => return NameMatch::Exact,
                Pattern::Subdomains(suffix)
                    if name
                        .strip_suffix(suffix.as_str())
                        .is_some_and(|head| head.len() > 1 && head.ends_with('.')) =>
                {
                    best = NameMatch::Wildcard
                }
                _ => {}
            }
        }
        best
    }

    /// Whether some address entry covers `ip` on `port`, ignoring whether
    /// it is special.
    pub fn covers_ip(&self, ip: IpAddr, port: u16) -> bool {
        let ip = canonical(ip);
        self.at_port(port).any(|p| match *p {
            Pattern::Ip(a) => a == ip,
            Pattern::Net { base, prefix } => in_net(ip, base, prefix),
            _ => false,
        })
    }

    /// Whether `ip` may be dialled on `port`: a public address always (its
    /// name or literal was checked already), a special one only when an
    /// entry names that address, or a network inside its special block.
    pub fn admits(&self, ip: IpAddr, port: u16, special: Option<&Special>) -> bool {
        let Some(special) = special else {
            return true;
        };
        let ip = canonical(ip);
        self.at_port(port).any(|p| match *p {
            Pattern::Ip(a) => a == ip,
            Pattern::Net { base, prefix } => {
                prefix >= special.block_prefix && in_net(ip, base, prefix)
            }
            _ => false,
        })
    }
}

fn in_net(ip: IpAddr, base: IpAddr, prefix: u8) -> bool {
    match (ip, base) {
        (IpAddr::V4(ip), IpAddr::V4(base)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(base) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(base)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(base) & mask
        }
        _ => false,
    }
}

fn parse_entry(raw: &str) -> Result<Entry, String> {
    let s = raw.trim().to_ascii_lowercase();
    if s.contains("://") {
        return Err("give a host (`api.example.com:443`), not a URL".into());
    }
    // Split off the port: `[v6]:port`, `host:port`; a bare IPv6 address or
    // network (two or more colons) has none.
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or("unclosed `[` in an IPv6 entry")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("text after `]`")?),
        };
        (inner, port)
    } else if s.matches(':').count() > 1 {
        (s.as_str(), None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s.as_str(), None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(address::parse_port(p).ok_or("invalid port")?),
    };
    let pattern = if let Some((addr, len)) = host.split_once('/') {
        let base = parse_ip(addr).ok_or("invalid network address")?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = len
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= max && !len.starts_with('+'))
            .ok_or("invalid prefix length")?;
        Pattern::Net { base, prefix }
    } else if let Some(suffix) = host.strip_prefix("*.") {
        match address::parse_host(suffix) {
            Ok(Host::Name(n)) => Pattern::Subdomains(n),
            _ => return Err("`*.` must be followed by a DNS name".into()),
        }
    } else if host.contains(':') {
        Pattern::Ip(parse_ip(host).ok_or("invalid IPv6 address")?)
    } else {
        match address::parse_host(host).map_err(|e| e.to_string())? {
            Host::Ip(ip) => Pattern::Ip(ip),
            Host::Name(n) => Pattern::Name(n),
        }
    };
    Ok(Entry { pattern, port })
}

/// An address in an entry: IPv6, or IPv4 in any spelling.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return address::parse_ipv6_literal(s).ok();
    }
    match address::parse_ipv4(s)? {
        Ok(v4) => Some(IpAddr::V4(v4)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::address::classify;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(entries).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_parse() {
        let l = list(&[
            "API.Example.com.",
            "*.svc.example",
            "only.example:8443",
            "127.1:9000",
            "[::1]",
            "[2001:db8::1]:443",
            "10.0.0.0/8",
            "fd00::/8",
            "[fd00:ec2::/32]:80",
            "192.168.1.0/24:8080",
        ]);
        assert_eq!(l.entries.len(), 10);
        assert_eq!(l.entries[2].port, Some(8443));
        assert_eq!(l.entries[3].pattern, Pattern::Ip(ip("127.0.0.1")));
        for bad in [
            "https://api.example.com",
            "api.example.com:0",
            "api.example.com:x",
            "*",
            "*.",
            "foo.*.example",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "fd00::/129",
            "[::1",
            "[fe80::1%eth0]",
            "user@example.com",
            "1.2.3.4.5",
            "",
        ] {
            assert!(Allowlist::parse(&[bad]).is_err(), "{bad:?} must be refused");
        }
        let err = Allowlist::parse(&["ok.example", "http://x", "*"]).unwrap_err();
        assert!(
            err.contains("\"http://x\"") && err.contains("\"*\""),
            "{err}"
        );
        let lenient = Allowlist::parse_lenient(&["ok.example", "http://x"]);
        assert_eq!(lenient.entries.len(), 1);
    }

    #[test]
    fn names_match_exactly_or_as_subdomains() {
        let l = list(&["api.example.com", "*.svc.example", "pinned.example:8443"]);
        assert_eq!(l.match_name("api.example.com", 443), NameMatch::Exact);
        assert_eq!(l.match_name("x.api.example.com", 443), NameMatch::None);
        assert_eq!(l.match_name("a.svc.example", 80), NameMatch::Wildcard);
        assert_eq!(l.match_name("a.b.svc.example", 80), NameMatch::Wildcard);
        assert_eq!(l.match_name("svc.example", 80), NameMatch::None);
        assert_eq!(l.match_name("evilsvc.example", 80), NameMatch::None);
        assert_eq!(l.match_name(".svc.example", 80), NameMatch::None);
        assert_eq!(l.match_name("pinned.example", 8443), NameMatch::Exact);
        assert_eq!(l.match_name("pinned.example", 443), NameMatch::None);
        assert_eq!(
            Allowlist::default().match_name("api.example.com", 443),
            NameMatch::None
        );
    }

    #[test]
    fn special_addresses_need_an_explicit_entry() {
        let check = |l: &Allowlist, a: &str, port: u16| {
            let a = ip(a);
            l.admits(a, port, classify(a).as_ref())
        };
        let l = list(&[
            "127.0.0.1:9000",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "::/0",
            "169.254.0.0/16",
        ]);
        assert!(check(&l, "127.0.0.1", 9000));
        assert!(check(&l, "::ffff:127.0.0.1", 9000));
        assert!(
            !check(&l, "127.0.0.1", 9001),
            "the port is part of the entry"
        );
        assert!(!check(&l, "127.0.0.2", 9000));
        assert!(
            check(&l, "10.9.8.7", 1),
            "a network inside the private block"
        );
        assert!(
            !check(&l, "192.168.1.1", 1),
            "0.0.0.0/0 unlocks nothing special"
        );
        assert!(!check(&l, "::1", 1), "::/0 unlocks nothing special");
        assert!(!check(&l, "64:ff9b::7f00:1", 9000), "NAT64 of loopback");
        assert!(check(&l, "169.254.1.1", 1), "link-local listed by network");
        assert!(
            !check(&l, "169.254.169.254", 80),
            "metadata needs the address itself"
        );
        assert!(check(&l, "8.8.8.8", 1), "a public address is admitted");
        assert!(l.covers_ip(ip("8.8.8.8"), 1));
        assert!(l.covers_ip(ip("127.0.0.1"), 5), "covered by 0.0.0.0/0");
        let meta = list(&["169.254.169.254"]);
        assert!(check(&meta, "169.254.169.254", 80));
        assert!(check(&list(&["169.254.169.254/32"]), "169.254.169.254", 80));
        assert!(check(&list(&["[::1]"]), "::1", 80));
        assert!(!list(&["api.example.com"]).covers_ip(ip("8.8.8.8"), 80));
    }
}
