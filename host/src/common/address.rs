//! What a guest's authority really names, and whether that address may be
//! dialled.
//!
//! A guest picks the authority of its request freely, so the same machine
//! has many spellings: `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`,
//! `[::ffff:127.0.0.1]`, `[64:ff9b::7f00:1]`, `localhost.`. The resolver
//! (`inet_aton` in every libc) accepts all of them, so [`parse_authority`]
//! reads IPv4 the way it does (1–4 parts, each decimal, octal or hex, the
//! WHATWG URL rules) and IPv6 with its IPv4-mapped form folded to IPv4.
//! [`classify`] then names the special-purpose range an address falls in,
//! including the IPv4 address that NAT64 or 6to4 embed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host as it will be dialled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// An address literal, IPv4-mapped IPv6 folded to IPv4.
    Ip(IpAddr),
    /// A DNS name: lower case, without the trailing dot, labels checked.
    Name(String),
}

/// The host and port of an outgoing request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

/// Why an authority is refused before anything else is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadAuthority {
    Empty,
    /// `user@host`: the part before `@` is what a reader sees, the part after
    /// is what gets dialled; nothing legitimate needs it.
    Userinfo,
    Port,
    Ipv6Literal,
    /// `[fe80::1%eth0]`: an interface on the host, never a destination.
    ZoneId,
    /// Looks like an IPv4 address (ends in a number) but is not one.
    Ipv4Literal,
    Name,
}

impl fmt::Display for BadAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadAuthority::Empty => "empty host",
            BadAuthority::Userinfo => "userinfo (`user@`) in the authority",
            BadAuthority::Port => "invalid port",
            BadAuthority::Ipv6Literal => "invalid IPv6 literal",
            BadAuthority::ZoneId => "IPv6 zone id in the authority",
            BadAuthority::Ipv4Literal => "invalid IPv4 literal",
            BadAuthority::Name => "invalid host name",
        })
    }
}

/// Reads `authority` (`host`, `host:port`, `[v6]:port`) as the address or
/// name that would be dialled; `default_port` comes from the scheme.
pub fn parse_authority(authority: &str, default_port: u16) -> Result<Target, BadAuthority> {
    if authority.contains('@') {
        return Err(BadAuthority::Userinfo);
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or(BadAuthority::Ipv6Literal)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(BadAuthority::Port)?),
        };
        (Host::Ip(parse_ipv6_literal(inner)?), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.contains(':') {
            // An IPv6 address must be bracketed in an authority.
            return Err(BadAuthority::Ipv6Literal);
        }
        (parse_host(host)?, port)
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => parse_port(p).ok_or(BadAuthority::Port)?,
    };
    Ok(Target { host, port })
}

/// A decimal port, 1–65535.
pub fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&p| p != 0)
}

/// The inside of `[...]`: an IPv6 address, no zone id, no `vX.` future form.
pub fn parse_ipv6_literal(inner: &str) -> Result<IpAddr, BadAuthority> {
    if inner.contains('%') {
        return Err(BadAuthority::ZoneId);
    }
    inner
        .parse::<Ipv6Addr>()
        .map(|a| canonical(IpAddr::V6(a)))
        .map_err(|_| BadAuthority::Ipv6Literal)
}

/// An unbracketed host: an IPv4 address in any `inet_aton` spelling, or a
/// DNS name.
pub fn parse_host(host: &str) -> Result<Host, BadAuthority> {
    if host.is_empty() {
        return Err(BadAuthority::Empty);
    }
    let host = host.to_ascii_lowercase();
    if let Some(v4) = parse_ipv4(&host) {
        return v4.map(|a| Host::Ip(IpAddr::V4(a)));
    }
    let name = host.strip_suffix('.').unwrap_or(&host);
    let valid_label = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(BadAuthority::Name);
    }
    Ok(Host::Name(name.to_string()))
}

/// IPv4 as the URL standard and `inet_aton` read it: 1–4 dot-separated
/// parts, each decimal, octal (`0` prefix) or hex (`0x` prefix), the last
/// filling the remaining bytes (`127.1` = `127.0.0.1`), one trailing dot
/// allowed. `None` when `s` does not end in a number (a DNS name);
/// `Some(Err)` when it does but is no address (`1.2.3.4.5`, `256.0.0.1`),
/// which must not be handed to a resolver either.
pub fn parse_ipv4(s: &str) -> Option<Result<Ipv4Addr, BadAuthority>> {
    let s = s.strip_suffix('.').unwrap_or(s);
    let parts: Vec<&str> = s.split('.').collect();
    let last = parts.last()?;
    let ends_in_number = (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
        || ipv4_number(last).is_some();
    if !ends_in_number {
        return None;
    }
    let bad = Some(Err(BadAuthority::Ipv4Literal));
    if parts.len() > 4 {
        return bad;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        match ipv4_number(part) {
            Some(n) => numbers.push(n),
            None => return bad,
        }
    }
    let (&last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) || last >= 1u64 << (8 * (5 - numbers.len())) {
        return bad;
    }
    let high = init
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &n)| acc | (n << (8 * (3 - i))));
    Some(Ok(Ipv4Addr::from((high | last) as u32)))
}

/// One part of an IPv4 address: `0x1f` (hex, `0x` alone is 0), `017`
/// (octal), `15` (decimal). `None` on a bad digit; a value past 2^32 comes
/// back as `u64::MAX` (still a number, so still no DNS name).
fn ipv4_number(part: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if part.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |acc, c| {
        let d = u64::from(c.to_digit(radix)?);
        Some(
            acc.checked_mul(u64::from(radix))
                .and_then(|v| v.checked_add(d))
                .unwrap_or(u64::MAX),
        )
    })
}

/// An address as it is dialled: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the
/// IPv4 address itself (a dual-stack socket connects there).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The special-purpose ranges an outbound request may not reach unless the
/// operator lists the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    /// A cloud instance metadata service: credentials live there.
    Metadata,
    Multicast,
    Broadcast,
    Reserved,
    Documentation,
    Benchmarking,
    IetfProtocol,
    UniqueLocal,
    SiteLocal,
    Ipv4Compatible,
    Nat64LocalUse,
    NotGlobalUnicast,
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Range::Unspecified => "unspecified",
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local",
            Range::SharedCgnat => "shared address space (CGNAT)",
            Range::Metadata => "cloud metadata service",
            Range::Multicast => "multicast",
            Range::Broadcast => "broadcast",
            Range::Reserved => "reserved",
            Range::Documentation => "documentation",
            Range::Benchmarking => "benchmarking",
            Range::IetfProtocol => "IETF protocol assignment",
            Range::UniqueLocal => "unique local",
            Range::SiteLocal => "site-local",
            Range::Ipv4Compatible => "IPv4-compatible IPv6 (deprecated)",
            Range::Nat64LocalUse => "local-use NAT64",
            Range::NotGlobalUnicast => "not global unicast",
        })
    }
}

/// A special-purpose address and the block it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Special {
    pub range: Range,
    /// The IPv4 address a NAT64 or 6to4 address carries, when that is what
    /// made it special.
    pub embedded: Option<Ipv4Addr>,
    /// Prefix length of the special block, in the address's family. A CIDR
    /// entry unlocks the address only when it lies inside that block
    /// (`10.0.0.0/8` unlocks 10.1.2.3; `0.0.0.0/0` unlocks nothing special).
    /// Metadata addresses are single-address blocks: only listing the
    /// address itself unlocks them.
    pub block_prefix: u8,
}

impl fmt::Display for Special {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some(v4) => write!(f, "{} (embeds {v4})", self.range),
            None => write!(f, "{}", self.range),
        }
    }
}

/// Cloud metadata endpoints: AWS/GCP/Azure/Oracle/DigitalOcean IMDS, AWS
/// ECS task metadata and EKS pod identity, Alibaba, Azure WireServer.
const V4_METADATA: [Ipv4Addr; 5] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];
/// AWS IMDS and EKS pod identity over IPv6.
const V6_METADATA: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),
];

/// IANA's special-purpose IPv4 blocks that are not globally reachable,
/// plus multicast and the class E space. First match wins.
const V4_SPECIAL: [([u8; 4], u8, Range); 16] = [
    ([0, 0, 0, 0], 8, Range::Unspecified),
    ([10, 0, 0, 0], 8, Range::Private),
    ([100, 64, 0, 0], 10, Range::SharedCgnat),
    ([127, 0, 0, 0], 8, Range::Loopback),
    ([169, 254, 0, 0], 16, Range::LinkLocal),
    ([172, 16, 0, 0], 12, Range::Private),
    ([192, 0, 0, 0], 24, Range::IetfProtocol),
    ([192, 0, 2, 0], 24, Range::Documentation),
    ([192, 88, 99, 0], 24, Range::Reserved),
    ([192, 168, 0, 0], 16, Range::Private),
    ([198, 18, 0, 0], 15, Range::Benchmarking),
    ([198, 51, 100, 0], 24, Range::Documentation),
    ([203, 0, 113, 0], 24, Range::Documentation),
    ([224, 0, 0, 0], 4, Range::Multicast),
    ([255, 255, 255, 255], 32, Range::Broadcast),
    ([240, 0, 0, 0], 4, Range::Reserved),
];

/// Whether `ip` is special-purpose (and which block), or `None` for an
/// ordinary public address.
pub fn classify(ip: IpAddr) -> Option<Special> {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn special(range: Range, block_prefix: u8) -> Option<Special> {
    Some(Special {
        range,
        embedded: None,
        block_prefix,
    })
}

fn classify_v4(ip: Ipv4Addr) -> Option<Special> {
    if V4_METADATA.contains(&ip) {
        return special(Range::Metadata, 32);
    }
    let bits = u32::from(ip);
    V4_SPECIAL
        .iter()
        .find(|(base, prefix, _)| prefix_matches(bits, u32::from_be_bytes(*base), *prefix))
        .and_then(|&(_, prefix, range)| special(range, prefix))
}

fn prefix_matches(bits: u32, base: u32, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    bits & mask == base & mask
}

fn classify_v6(ip: Ipv6Addr) -> Option<Special> {
    if V6_METADATA.contains(&ip) {
        return special(Range::Metadata, 128);
    }
    if ip.is_unspecified() {
        return special(Range::Unspecified, 128);
    }
    if ip.is_loopback() {
        return special(Range::Loopback, 128);
    }
    let bits = u128::from(ip);
    let seg = ip.segments();
    // An IPv4 address carried inside: special when the IPv4 one is.
    let embedding = |v4: u32, outer: u8| {
        let v4 = Ipv4Addr::from(v4);
        classify_v4(v4).map(|s| Special {
            embedded: Some(v4),
            block_prefix: outer + s.block_prefix,
            ..s
        })
    };
    if bits >> 32 == 0 {
        // ::a.b.c.d, deprecated (RFC 4291); `::` and `::1` are handled above.
        return special(Range::Ipv4Compatible, 96);
    }
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the gateway
        // dials the embedded IPv4 address.
        return embedding(bits as u32, 96);
    }
    if bits >> 80 == 0x0064_ff9b_0001 {
        // 64:ff9b:1::/48 (RFC 8215), local-use NAT64, may embed anything.
        return special(Range::Nat64LocalUse, 48);
    }
    if seg[0] == 0x2002 {
        // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 is relayed to AA.BB.CC.DD.
        return embedding((bits >> 80) as u32, 16);
    }
    if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        return special(Range::Documentation, 32);
    }
    if seg[0] == 0x2001 && seg[1] < 0x0200 {
        // 2001::/23, with Teredo (2001::/32, which tunnels to an obfuscated
        // IPv4 address), ORCHID and benchmarking (2001:2::/48).
        return special(Range::IetfProtocol, 23);
    }
    if seg[0] & 0xfff0 == 0x3ff0 {
        return special(Range::Documentation, 20);
    }
    if seg[0] & 0xfe00 == 0xfc00 {
        return special(Range::UniqueLocal, 7);
    }
    if seg[0] & 0xffc0 == 0xfe80 {
        return special(Range::LinkLocal, 10);
    }
    if seg[0] & 0xffc0 == 0xfec0 {
        return special(Range::SiteLocal, 10);
    }
    if seg[0] & 0xff00 == 0xff00 {
        return special(Range::Multicast, 8);
    }
    if seg[0] & 0xe000 != 0x2000 {
        // Outside 2000::/3 nothing is globally routed unicast today:
        // 100::/64 discard, ::ffff:0:0:0/96 SIIT, 5f00::/16 SRv6, …
        return special(Range::NotGlobalUnicast, 128);
    }
    None
}

/// Names of metadata services; they resolve to a metadata address, but are
/// refused by name too, unless the allowlist names them exactly.
pub fn is_metadata_name(name: &str) -> bool {
    matches!(
        name,
        "metadata"
            | "metadata.google.internal"
            | "metadata.goog"
            | "instance-data"
            | "instance-data.ec2.internal"
            | "metadata.tencentyun.com"
    )
}

/// `localhost` and `*.localhost` are loopback by definition (RFC 6761); they
/// are never sent to a resolver.
pub fn is_localhost_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn target(authority: &str) -> Result<Target, BadAuthority> {
        parse_authority(authority, 80)
    }

    #[test]
    fn ipv4_spellings_fold_to_one_address() {
        let loopback = Ok(Target {
            host: Host::Ip(ip("127.0.0.1")),
            port: 80,
        });
        for s in [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F000001",
            "0x7f.1",
            "0177.0.0.1",
            "0177.1",
            "017700000001",
            "0x7f.0x0.0x0.0x1",
            "0x7f.0.0.0x1",
            "127.0.0.1.",
            "127.000.000.001",
            "0000177.0.0.1",
            "127.0x0.00.1",
        ] {
            assert_eq!(target(s), loopback, "{s}");
        }
        assert_eq!(
            target("0").unwrap().host,
            Host::Ip(ip("0.0.0.0")),
            "0 is 0.0.0.0"
        );
        assert_eq!(target("0x").unwrap().host, Host::Ip(ip("0.0.0.0")));
        assert_eq!(
            target("4294967295").unwrap().host,
            Host::Ip(ip("255.255.255.255"))
        );
        assert_eq!(
            target("169.16689662").unwrap().host,
            Host::Ip(ip("169.254.169.254"))
        );
    }

    #[test]
    fn malformed_ipv4_is_refused_not_resolved() {
        for s in [
            "1.2.3.4.5",
            "256.0.0.1",
            "127.0.0.256",
            "4294967296",
            "0x100000000",
            "08.0.0.1",
            "0x7g.0.0.1",
            "1..1",
            "127.0.0.1..",
            "99999999999999999999999",
            "foo.123",
            "foo.0x1",
        ] {
            assert!(target(s).is_err(), "{s} must be refused");
        }
    }

    #[test]
    fn names_are_lowercased_and_lose_the_trailing_dot() {
        let name = |s: &str| Host::Name(s.to_string());
        assert_eq!(target("Example.COM").unwrap().host, name("example.com"));
        assert_eq!(target("example.com.").unwrap().host, name("example.com"));
        assert_eq!(target("LOCALHOST.").unwrap().host, name("localhost"));
        assert_eq!(target("1.2.3.4x").unwrap().host, name("1.2.3.4x"));
        assert_eq!(target("0x7g").unwrap().host, name("0x7g"));
        for s in [
            "",
            ".",
            "a..b",
            "exa mple.com",
            "example.com%2f",
            "127.0.0.1%2f.example",
            "ex*ample.com",
            &"a".repeat(64),
        ] {
            assert!(target(s).is_err(), "{s:?} must be refused");
        }
    }

    #[test]
    fn ports_and_brackets() {
        let t = target("example.com:8080").unwrap();
        assert_eq!(t.port, 8080);
        assert_eq!(target("example.com:").unwrap().port, 80);
        assert_eq!(parse_authority("example.com", 443).unwrap().port, 443);
        assert_eq!(
            target("[::1]:9000").unwrap(),
            Target {
                host: Host::Ip(ip("::1")),
                port: 9000
            }
        );
        assert_eq!(
            target("[::ffff:127.0.0.1]").unwrap().host,
            Host::Ip(ip("127.0.0.1"))
        );
        assert_eq!(
            target("[::FFFF:7F00:1]").unwrap().host,
            Host::Ip(ip("127.0.0.1"))
        );
        for (s, why) in [
            ("example.com:0", BadAuthority::Port),
            ("example.com:65536", BadAuthority::Port),
            ("example.com:+80", BadAuthority::Port),
            ("example.com:080000", BadAuthority::Port),
            ("[::1]x", BadAuthority::Port),
            ("[::1", BadAuthority::Ipv6Literal),
            ("::1", BadAuthority::Ipv6Literal),
            ("[127.0.0.1]", BadAuthority::Ipv6Literal),
            ("[v1.fe]", BadAuthority::Ipv6Literal),
            ("[fe80::1%25eth0]", BadAuthority::ZoneId),
            ("[fe80::1%eth0]:80", BadAuthority::ZoneId),
            ("user@example.com", BadAuthority::Userinfo),
            ("allowed.example@127.0.0.1", BadAuthority::Userinfo),
            ("127.0.0.1%2f@allowed.example", BadAuthority::Userinfo),
            ("a:b@[::1]:80", BadAuthority::Userinfo),
            (":80", BadAuthority::Empty),
        ] {
            assert_eq!(target(s), Err(why), "{s}");
        }
    }

    #[test]
    fn special_ranges() {
        let range = |s: &str| classify(ip(s)).map(|s| s.range);
        for (addr, want) in [
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::Unspecified),
            ("10.0.0.1", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.0.1", Range::Private),
            ("169.254.0.1", Range::LinkLocal),
            ("169.254.169.254", Range::Metadata),
            ("169.254.170.2", Range::Metadata),
            ("168.63.129.16", Range::Metadata),
            ("100.100.100.200", Range::Metadata),
            ("100.64.0.1", Range::SharedCgnat),
            ("100.127.255.255", Range::SharedCgnat),
            ("192.0.0.8", Range::IetfProtocol),
            ("192.0.2.1", Range::Documentation),
            ("198.51.100.1", Range::Documentation),
            ("203.0.113.1", Range::Documentation),
            ("198.18.0.1", Range::Benchmarking),
            ("198.19.255.255", Range::Benchmarking),
            ("192.88.99.1", Range::Reserved),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("240.0.0.1", Range::Reserved),
            ("255.255.255.255", Range::Broadcast),
            ("::", Range::Unspecified),
            ("::1", Range::Loopback),
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:169.254.169.254", Range::Metadata),
            ("::127.0.0.1", Range::Ipv4Compatible),
            ("::8.8.8.8", Range::Ipv4Compatible),
            ("64:ff9b::7f00:1", Range::Loopback),
            ("64:ff9b::a9fe:a9fe", Range::Metadata),
            ("64:ff9b::10.0.0.1", Range::Private),
            ("64:ff9b:1::8.8.8.8", Range::Nat64LocalUse),
            ("2002:7f00:1::", Range::Loopback),
            ("2002:a9fe:a9fe::1", Range::Metadata),
            ("2002:c0a8:1::", Range::Private),
            ("2001::1", Range::IetfProtocol),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Range::IetfProtocol),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("fc00::1", Range::UniqueLocal),
            ("fd12:3456::1", Range::UniqueLocal),
            ("fd00:ec2::254", Range::Metadata),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("fec0::1", Range::SiteLocal),
            ("ff02::1", Range::Multicast),
            ("100::1", Range::NotGlobalUnicast),
            ("::ffff:0:7f00:1", Range::NotGlobalUnicast),
            ("5f00::1", Range::NotGlobalUnicast),
        ] {
            assert_eq!(range(addr), Some(want), "{addr}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(range(public), None, "{public}");
        }
    }

    #[test]
    fn embedded_addresses_name_what_they_carry() {
        let s = classify(ip("64:ff9b::7f00:1")).unwrap();
        assert_eq!(s.embedded, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s.block_prefix, 96 + 8);
        assert_eq!(s.to_string(), "loopback (embeds 127.0.0.1)");
        let s = classify(ip("2002:a00:1::")).unwrap();
        assert_eq!((s.range, s.block_prefix), (Range::Private, 16 + 8));
        // The mapped form is the IPv4 address itself.
        let s = classify(ip("::ffff:10.1.2.3")).unwrap();
        assert_eq!((s.embedded, s.block_prefix), (None, 8));
    }

    #[test]
    fn special_names() {
        assert!(is_localhost_name("localhost"));
        assert!(is_localhost_name("foo.localhost"));
        assert!(!is_localhost_name("notlocalhost"));
        assert!(!is_localhost_name("localhost.example.com"));
        assert!(is_metadata_name("metadata.google.internal"));
        assert!(!is_metadata_name("metadata.example.com"));
    }
}
