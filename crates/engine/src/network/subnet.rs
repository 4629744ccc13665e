//! IPv4 subnets: parsing (`10.89.0.0/24`), overlap, and the choice of a free one for a new
//! network (podman's order: 10.89.0.0/24 upwards), avoiding the engine's other networks, the
//! host's routes and the subnets of the CNI configurations installed on the host (podman's
//! own bridge takes 10.88.0.0/16).

use crate::error::{Error, Result};
use std::net::Ipv4Addr;
use std::path::Path;

/// An IPv4 subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// Network address (host bits zero).
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; host bits must be zero and the prefix at most 30.
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = |why: &str| Error::Invalid(format!("network: invalid subnet {s:?}: {why}"));
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| bad("use an IPv4 CIDR like 10.89.0.0/24"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| bad("use an IPv4 CIDR like 10.89.0.0/24"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| bad("the prefix length must be from 8 to 30"))?;
        let n = Subnet { addr, prefix };
        if n.network() != u32::from(addr) {
            return Err(bad(&format!(
                "host bits are set (the subnet is {})",
                Subnet {
                    addr: Ipv4Addr::from(n.network()),
                    prefix
                }
            )));
        }
        Ok(n)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    fn network(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, o: &Subnet) -> bool {
        let m = self.mask() & o.mask();
        self.network() & m == o.network() & m
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.network()
    }

    /// The first host address (the gateway by convention).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network() + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The destinations of the host's IPv4 routes other than the default route
/// (`/proc/net/route`).
pub fn host_routes() -> Vec<Subnet> {
    let s = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints the raw (network-order) words in the host's byte order.
            (mask != 0).then(|| Subnet {
                addr: Ipv4Addr::from(dst.to_ne_bytes()),
                prefix: mask.count_ones() as u8,
            })
        })
        .collect()
}

/// The subnets named in the CNI configurations of `dir` (`*.conf`, `*.conflist`: any
/// `"subnet"` value), as podman's 87-podman-bridge.conflist names 10.88.0.0/16.
pub fn cni_config_subnets(dir: &Path) -> Vec<Subnet> {
    fn walk(v: &serde_json::Value, out: &mut Vec<Subnet>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match x.as_str().filter(|_| k == "subnet") {
                        Some(s) => out.extend(Subnet::parse(s).ok()),
                        None => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = ent.path();
        if !matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("conf" | "conflist" | "json")
        ) {
            continue;
        }
        if let Some(v) = std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            walk(&v, &mut out);
        }
    }
    out
}

/// The first of `preferred`, then 10.89.0.0/24, 10.89.1.0/24, ... 10.255.255.0/24, that
/// overlaps none of `taken`.
pub fn pick_free(preferred: &[Subnet], taken: &[Subnet]) -> Result<Subnet> {
    let free = |s: &Subnet| !taken.iter().any(|t| t.overlaps(s));
    if let Some(s) = preferred.iter().find(|s| free(s)) {
        return Ok(*s);
    }
    for b in 89..=255u8 {
        for c in 0..=255u8 {
            let s = Subnet {
                addr: Ipv4Addr::new(10, b, c, 0),
                prefix: 24,
            };
            if free(&s) {
                return Ok(s);
            }
        }
    }
    Err(Error::Network(
        "no free subnet in 10.89.0.0-10.255.255.0/24: give one with --subnet [layer: node]".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        Subnet::parse(x).unwrap()
    }

    #[test]
    fn parse_and_overlap() {
        assert_eq!(s("10.89.0.0/24").to_string(), "10.89.0.0/24");
        assert!(Subnet::parse("10.89.0.1/24")
            .unwrap_err()
            .to_string()
            .contains("host bits"));
        assert!(Subnet::parse("10.89.0.0").is_err());
        assert!(Subnet::parse("10.89.0.0/31").is_err());
        assert!(s("10.88.0.0/16").overlaps(&s("10.88.3.0/24")));
        assert!(s("10.88.3.0/24").overlaps(&s("10.88.0.0/16")));
        assert!(!s("10.88.0.0/16").overlaps(&s("10.89.0.0/24")));
        assert_eq!(s("10.89.4.0/24").first_host(), Ipv4Addr::new(10, 89, 4, 1));
        assert!(s("10.89.4.0/24").contains(Ipv4Addr::new(10, 89, 4, 200)));
    }

    #[test]
    fn picks_past_taken_subnets() {
        let podman = s("10.88.0.0/16");
        assert_eq!(
            pick_free(&[s("10.88.0.0/16")], &[podman]).unwrap(),
            s("10.89.0.0/24")
        );
        assert_eq!(
            pick_free(&[], &[podman, s("10.89.0.0/24"), s("10.89.1.0/25")]).unwrap(),
            s("10.89.2.0/24")
        );
    }

    #[test]
    fn reads_cni_configs() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("87-podman-bridge.conflist"),
            r#"{"plugins":[{"type":"bridge","ipam":{"ranges":[[{"subnet":"10.88.0.0/16"}]]}}]}"#,
        )
        .unwrap();
        std::fs::write(t.path().join("notes.txt"), "subnet 1.2.3.0/24").unwrap();
        assert_eq!(cni_config_subnets(t.path()), vec![s("10.88.0.0/16")]);
    }

    #[test]
    fn host_routes_parse() {
        // Whatever the host has: every entry is a valid subnet with a non-zero prefix.
        for r in host_routes() {
            assert!(r.prefix > 0);
        }
    }
}
