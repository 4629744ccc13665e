//! A VM container's network on the host: the pod's network namespace, set up by CNI as for
//! any container (a veth into the bridge, the pod's address, published ports through
//! portmap), is joined to the VM as Kata's `tcfilter` model does it: QEMU makes a TAP in
//! that namespace, and two `tc` redirects pass every frame from the veth to the TAP and
//! back, so the guest's virtio-net interface, with the veth's MAC and address, is the pod's
//! end of the veth. A container on several networks has a veth, a TAP and a guest
//! interface for each. Nothing of it outlives the VM: the TAP goes with QEMU, the namespace
//! with the container.

use crate::{io_err, Error, Result};
use std::path::Path;
use std::process::Command;

/// The name of the TAP of the pod's interface `i` (0 for its first), in the pod's namespace.
pub fn tap_name(i: usize) -> String {
    format!("tap{i}")
}

/// The pod's interface in its network namespace, which the guest's interface stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLink {
    /// Its name (`eth0`).
    pub name: String,
    /// Its MAC (the guest's interface takes it).
    pub mac: String,
    /// Its IPv4 address and prefix.
    pub address: String,
    /// The default gateway.
    pub gateway: Option<String>,
    /// Its MTU.
    pub mtu: u32,
}

/// Moves this process (still single-threaded: threads started later follow) into the
/// network namespace at `path`.
pub fn enter_netns(path: &Path) -> Result<()> {
    crate::join_namespace(path, libc::CLONE_NEWNET, "netns")
}

fn ip_json(args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .map_err(io_err("run ip (install iproute2)"))?;
    if !out.status.success() {
        return Err(Error(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Error(format!("ip {}: {e}", args.join(" "))))
}

/// The interfaces of this namespace with an IPv4 address, other than the loopback, in the
/// order they were made: the first network's first (the one with the default route).
pub fn pod_links() -> Result<Vec<PodLink>> {
    let addrs = ip_json(&["-4", "addr", "show"])?;
    let routes = ip_json(&["-4", "route", "show", "default"])?;
    // Asked of netlink in this namespace: /sys/class/net shows the namespace /sys was
    // mounted in (the host's), where a pod's eth0 is the host's own NIC.
    let links = ip_json(&["link", "show"])?;
    let mac_of = |name: &str| {
        links.as_array()?.iter().find_map(|l| {
            (l["ifname"] == name)
                .then(|| l["address"].as_str().map(str::to_ascii_lowercase))
                .flatten()
        })
    };
    Ok(parse_links(&addrs, &routes, mac_of))
}

/// [`pod_links`] from `ip -j -4 addr show`, `ip -j -4 route show default` and the links'
/// MACs.
fn parse_links(
    addrs: &serde_json::Value,
    routes: &serde_json::Value,
    mac_of: impl Fn(&str) -> Option<String>,
) -> Vec<PodLink> {
    let Some(addrs) = addrs.as_array() else {
        return Vec::new();
    };
    addrs
        .iter()
        .filter(|l| l["ifname"] != "lo" && l["addr_info"].as_array().is_some_and(|a| !a.is_empty()))
        .filter_map(|link| {
            let name = link["ifname"].as_str()?.to_string();
            let a = &link["addr_info"][0];
            let address = format!("{}/{}", a["local"].as_str()?, a["prefixlen"].as_u64()?);
            let gateway = routes.as_array().and_then(|rs| {
                rs.iter()
                    .find(|r| r["dev"] == name.as_str())
                    .and_then(|r| r["gateway"].as_str().map(String::from))
            });
            let mac = mac_of(&name)?;
            Some(PodLink {
                mtu: link["mtu"].as_u64().unwrap_or(1500) as u32,
                name,
                mac,
                address,
                gateway,
            })
        })
        .collect()
}

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(io_err(format!("run {} (install iproute2)", args[0])))?;
    if !out.status.success() {
        return Err(Error(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Joins QEMU's TAP `tap` (already made) to `link`: the TAP up with the link's MTU, and
/// every frame arriving on either redirected out of the other.
pub fn join(link: &PodLink, tap: &str) -> Result<()> {
    // QEMU makes its TAP as it sets its devices up, maybe after its agent socket.
    let t0 = std::time::Instant::now();
    let c_tap = std::ffi::CString::new(tap).map_err(|_| Error(format!("TAP name {tap:?}")))?;
    // SAFETY: a NUL-terminated name; if_nametoindex reads this thread's network namespace.
    while unsafe { libc::if_nametoindex(c_tap.as_ptr()) } == 0 {
        if t0.elapsed() > std::time::Duration::from_secs(10) {
            return Err(Error(format!("QEMU made no {tap} in 10 s")));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mtu = link.mtu.to_string();
    run(&["ip", "link", "set", tap, "mtu", &mtu, "up"])?;
    for (from, to) in [(link.name.as_str(), tap), (tap, link.name.as_str())] {
        // A previous run's redirect (a restarted container keeps no TAP, but be sure).
        let _ = run(&["tc", "qdisc", "del", "dev", from, "ingress"]);
        run(&["tc", "qdisc", "add", "dev", from, "ingress"])?;
        run(&[
            "tc", "filter", "add", "dev", from, "parent", "ffff:", "protocol", "all", "u32",
            "match", "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", to,
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_pod_links_are_the_addressed_non_loopback_interfaces_first_first() {
        let addrs = json!([
            {"ifname": "lo", "mtu": 65536, "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
            {"ifname": "eth0", "mtu": 1450, "addr_info": [{"local": "10.88.0.7", "prefixlen": 16}]},
            {"ifname": "tap0", "mtu": 1450, "addr_info": []},
            {"ifname": "eth1", "mtu": 1500, "addr_info": [{"local": "10.89.0.3", "prefixlen": 24}]},
        ]);
        let routes = json!([{"dst": "default", "gateway": "10.88.0.1", "dev": "eth0"}]);
        let mac = |n: &str| Some(format!("0a:58:00:00:00:0{}", &n[3..]));
        assert_eq!(
            parse_links(&addrs, &routes, mac),
            [
                PodLink {
                    name: "eth0".into(),
                    mac: "0a:58:00:00:00:00".into(),
                    address: "10.88.0.7/16".into(),
                    gateway: Some("10.88.0.1".into()),
                    mtu: 1450,
                },
                PodLink {
                    name: "eth1".into(),
                    mac: "0a:58:00:00:00:01".into(),
                    address: "10.89.0.3/24".into(),
                    gateway: None,
                    mtu: 1500,
                }
            ]
        );
        let only_lo =
            json!([{"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]}]);
        assert!(parse_links(&only_lo, &json!([]), mac).is_empty());
    }
}
