//! The SSRF guard: which network addresses a fetch may reach.
//!
//! agg fetches URLs it did not choose: redirects sent by feed servers, article
//! links followed by `extract`, enclosures. Left unchecked, a hostile feed
//! could make agg request `http://169.254.169.254/` (a cloud's metadata
//! service, which hands out credentials), a router's admin page on
//! `192.168.1.1`, or a database listening on loopback. So every address such
//! a URL leads to is classified here, and the non-public ones ("guarded") are
//! refused unless the pipeline's `allow_private` list names them.
//!
//! Checking a host name is not enough: DNS can answer with a public address
//! at check time and a private one at connect time ("DNS rebinding"). So the
//! guarded HTTP client resolves names through [`GuardedResolver`], which
//! checks *every* address it returns and returns only those: the connection
//! is made to an address that was checked, never to a second lookup's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// Why an address is not public, in words a user recognises.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified (\"this network\", 0.0.0.0/8) address",
        (127, _, _) => "a loopback address",
        (10, _, _) => "a private (RFC 1918) address",
        (172, 16..=31, _) => "a private (RFC 1918) address",
        (192, 168, _) => "a private (RFC 1918) address",
        (100, 64..=127, _) => "a shared (carrier-grade NAT, 100.64.0.0/10) address",
        (169, 254, 169) if ip.octets()[3] == 254 => "the cloud metadata service (link-local)",
        (169, 254, _) => "a link-local address",
        (192, 0, 0) => "an IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation (TEST-NET) address",
        (198, 18..=19, _) => "a benchmarking (198.18.0.0/15) address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved (240.0.0.0/4, broadcast) address",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("the unspecified address (::)");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // An IPv4 address written as IPv6 reaches the IPv4 host: judge that one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed
    // an IPv4 address in the last 32 bits; a translator may forward to it.
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] {
        return Some("an IPv4-compatible IPv6 address (deprecated)");
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded).map(|_| "the NAT64 form of a non-public IPv4 address");
    }
    // 6to4 (2002::/16) embeds an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return classify_v4(v4).map(|_| "the 6to4 form of a non-public IPv4 address");
    }
    Some(match s[0] {
        x if x & 0xfe00 == 0xfc00 => "a unique local (fc00::/7) address",
        x if x & 0xffc0 == 0xfe80 => "a link-local (fe80::/10) address",
        x if x & 0xffc0 == 0xfec0 => "a site-local (fec0::/10, deprecated) address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation (2001:db8::/32) address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only (100::/64) address",
        _ => return None,
    })
}

/// An `allow_private` entry: a host name, an address, or a network.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Allowed {
    Host(String),
    Net { addr: IpAddr, prefix: u8 },
}

/// The addresses a pipeline lets fetches reach although they are not public
/// (option `allow_private`): host names (`localhost`, `nas.home`), addresses
/// (`127.0.0.1`, `::1`) and networks in CIDR form (`192.168.1.0/24`).
/// Empty by default: nothing private is reachable from content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowance {
    entries: Vec<Allowed>,
}

impl Allowance {
    /// Parses the entries, naming the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowance, String> {
        let mut out = Vec::new();
        for e in entries {
            out.push(parse_entry(e.as_ref().trim())?);
        }
        Ok(Allowance { entries: out })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `ip` (reached through the name `host`) may be fetched.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = canonical(ip);
        self.entries.iter().any(|e| match e {
            Allowed::Host(h) => h.eq_ignore_ascii_case(host.trim_end_matches('.')),
            Allowed::Net { addr, prefix } => in_net(ip, *addr, *prefix),
        })
    }
}

impl<'de> serde::Deserialize<'de> for Allowance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        Allowance::parse(&v).map_err(serde::de::Error::custom)
    }
}

fn parse_entry(s: &str) -> Result<Allowed, String> {
    if s.is_empty() {
        return Err("an empty `allow_private` entry".into());
    }
    if let Some((a, p)) = s.split_once('/') {
        let addr = IpAddr::from_str(a).map_err(|_| {
            format!("`{s}` is not a network: write an address and a prefix, like 192.168.1.0/24")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?;
        return Ok(Allowed::Net {
            addr: canonical(addr),
            prefix,
        });
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(addr) = IpAddr::from_str(bare) {
        let addr = canonical(addr);
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Ok(Allowed::Net { addr, prefix });
    }
    let valid = s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(format!(
            "`{s}` is not a host name, an IP address or a network (CIDR)"
        ));
    }
    Ok(Allowed::Host(s.to_ascii_lowercase()))
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry, so
/// allowing `127.0.0.1` also allows `::ffff:127.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A fetch refused by the guard: which URL, which address, why, and how to
/// allow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub url: String,
    pub host: String,
    pub addr: IpAddr,
    pub reason: &'static str,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = match IpAddr::from_str(self.host.trim_start_matches('[').trim_end_matches(']')) {
            Ok(_) => String::new(),
            Err(_) => format!(" ({} resolves to it)", self.host),
        };
        write!(
            f,
            "refused to fetch {}: {} is {}{via}; to allow it, add \"{}\" to the agent's \
             `allow_private` list",
            self.url,
            self.addr,
            self.reason,
            canonical(self.addr)
        )
    }
}

impl std::error::Error for Blocked {}

/// Checks the addresses `host` resolved to: all must be public or allowed.
/// An answer mixing a public and a private address is refused as a whole:
/// which one the connection would use is not ours to predict.
pub fn check(
    url: &str,
    host: &str,
    addrs: impl IntoIterator<Item = IpAddr>,
    allow: &Allowance,
) -> Result<(), Blocked> {
    for ip in addrs {
        if let Some(reason) = classify(ip)
            && !allow.permits(host, ip)
        {
            return Err(Blocked {
                url: url.to_string(),
                host: host.to_string(),
                addr: ip,
                reason,
            });
        }
    }
    Ok(())
}

/// A DNS resolver for reqwest that refuses guarded addresses: the client
/// connects only to the addresses this returns, so what was checked is what
/// is reached (no rebinding between the check and the connection).
pub struct GuardedResolver {
    pub allow: Arc<Allowance>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check(
                &format!("host {host}"),
                &host,
                addrs.iter().map(|a| a.ip()),
                &allow,
            )?;
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// Resolves `host` (a name or an address literal) and checks every address.
pub async fn resolve_and_check(
    url: &str,
    host: &url::Host<&str>,
    port: u16,
    allow: &Allowance,
) -> Result<(), GuardError> {
    let (name, addrs): (String, Vec<IpAddr>) = match host {
        url::Host::Ipv4(a) => (a.to_string(), vec![IpAddr::V4(*a)]),
        url::Host::Ipv6(a) => (format!("[{a}]"), vec![IpAddr::V6(*a)]),
        url::Host::Domain(d) => {
            let addrs = tokio::net::lookup_host((*d, port))
                .await
                .map_err(|e| GuardError::Resolve(format!("cannot resolve {d} for {url}: {e}")))?
                .map(|a| a.ip())
                .collect();
            (d.to_string(), addrs)
        }
    };
    check(url, &name, addrs, allow).map_err(GuardError::Blocked)
}

/// What [`resolve_and_check`] can say.
#[derive(Debug)]
pub enum GuardError {
    Blocked(Blocked),
    Resolve(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_named() {
        for (a, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("169.254.169.254", "metadata"),
            ("169.254.1.1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("192.0.2.7", "documentation"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.1.2.3", "private"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a00:1", "NAT64"),
            ("2002:a00:1::1", "6to4"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
        ] {
            let got = classify(ip(a));
            assert!(
                got.is_some_and(|g| g.contains(why)),
                "{a}: {got:?}, expected {why}"
            );
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(classify(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn allowances_match_hosts_addresses_and_networks() {
        let a = Allowance::parse(&["127.0.0.1", "192.168.1.0/24", "NAS.home", "fd00::/8"]).unwrap();
        assert!(a.permits("x", ip("127.0.0.1")));
        assert!(a.permits("x", ip("::ffff:127.0.0.1")), "mapped form");
        assert!(!a.permits("x", ip("127.0.0.2")));
        assert!(a.permits("x", ip("192.168.1.77")));
        assert!(!a.permits("x", ip("192.168.2.1")));
        assert!(a.permits("nas.home", ip("10.0.0.5")));
        assert!(a.permits("nas.home.", ip("10.0.0.5")));
        assert!(!a.permits("other.home", ip("10.0.0.5")));
        assert!(a.permits("x", ip("fd12::1")));
        assert!(!a.permits("x", ip("fc00::1")));
        assert!(
            Allowance::parse(&["0.0.0.0/0"])
                .unwrap()
                .permits("x", ip("10.0.0.1"))
        );
        for bad in ["", "10.0.0.0/33", "::/129", "x/8", "bad host", "a..b"] {
            assert!(Allowance::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_resolved_address_must_pass() {
        let none = Allowance::default();
        assert!(check("u", "h", [ip("93.184.215.14")], &none).is_ok());
        let e = check(
            "http://h/x",
            "h",
            [ip("93.184.215.14"), ip("10.0.0.1")],
            &none,
        )
        .unwrap_err();
        assert_eq!(e.addr, ip("10.0.0.1"));
        let msg = e.to_string();
        assert!(
            msg.contains("http://h/x")
                && msg.contains("10.0.0.1")
                && msg.contains("h resolves to it")
                && msg.contains("allow_private"),
            "{msg}"
        );
        let allow = Allowance::parse(&["10.0.0.1"]).unwrap();
        assert!(check("u", "h", [ip("93.184.215.14"), ip("10.0.0.1")], &allow).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_lead_inside() {
        use reqwest::dns::Resolve;
        let r = GuardedResolver {
            allow: Arc::new(Allowance::default()),
        };
        let e = match r.resolve("localhost".parse().unwrap()).await {
            Err(e) => e,
            Ok(_) => panic!("localhost resolved through the guard"),
        };
        assert!(e.downcast_ref::<Blocked>().is_some(), "{e}");
        let r = GuardedResolver {
            allow: Arc::new(Allowance::parse(&["localhost"]).unwrap()),
        };
        let addrs: Vec<_> = match r.resolve("localhost".parse().unwrap()).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
