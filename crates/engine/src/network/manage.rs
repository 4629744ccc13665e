//! The network commands: `create` (a row, then its conflist; the bridge itself is made by
//! the bridge plugin at the first attach), `rm` (refused while containers use it), the
//! lookup of a container's network (the default one made on first use), and the documents
//! `network ls` and `network inspect` show (podman's fields).

use super::conflist;
use super::defaults::{self, Settings};
use super::record::Network;
use super::subnet::{self, Subnet};
use crate::container::config::NetworkMode;
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// Where the host's own CNI configurations are (podman's bridge is there).
pub const HOST_CNI_CONFIG: &str = "/etc/cni/net.d";

/// What `network create` asks for.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Name (none: `strata1`, `strata2`...).
    pub name: Option<String>,
    /// `--subnet` (none: a free one).
    pub subnet: Option<String>,
    /// `--gateway` (none: the subnet's first address).
    pub gateway: Option<String>,
    /// `--interface-name`: the bridge (none: `strata<N>`).
    pub bridge: Option<String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
}

/// The name of the network a container's mode names (none for host, none, container:...).
pub fn network_name(e: &Engine, c: &Container) -> Result<Option<String>> {
    Ok(match &c.config.network {
        NetworkMode::Default => Some(Settings::load(e)?.name().to_string()),
        NetworkMode::Bridge(n) => Some(n.clone()),
        _ => None,
    })
}

/// The network `name`; the default one is made on first use.
pub fn get(e: &Engine, name: &str) -> Result<Network> {
    if let Some(n) = e.db.network(name)? {
        return Ok(n);
    }
    let s = Settings::load(e)?;
    if name != s.name() {
        return Err(Error::NotFound(format!("no such network: {name}")));
    }
    let _l = crate::lock::lock(&e.paths, "networks")?;
    if let Some(n) = e.db.network(name)? {
        return Ok(n); // made meanwhile by another command
    }
    let pick = s.subnet.is_none();
    let o = CreateOptions {
        name: Some(name.to_string()),
        subnet: s.subnet.clone(),
        bridge: s.bridge.clone(),
        ..Default::default()
    };
    create_locked(
        e,
        o,
        pick.then_some(defaults::SUBNET),
        Some(defaults::BRIDGE),
    )
}

/// Whether an interface exists on the host.
fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Checks a bridge name: at most 15 bytes (IFNAMSIZ), no `/`, whitespace or `:`.
fn check_bridge(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || !b.is_ascii_graphic())
    {
        return Err(Error::Invalid(format!(
            "network: invalid interface name {name:?}: at most 15 characters, no '/', ':' or spaces"
        )));
    }
    Ok(())
}

/// Whether the host's FORWARD chain drops by default (docker's hosts do): the `firewall`
/// plugin must then let each container's traffic through.
fn forward_drops() -> bool {
    std::process::Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains("-P FORWARD DROP"))
}

/// `network create`.
pub fn create(e: &Engine, o: CreateOptions) -> Result<Network> {
    let _l = crate::lock::lock(&e.paths, "networks")?;
    create_locked(e, o, None, None)
}

/// The lock every engine root on this host takes to pick a network's bridge and subnet and
/// make its bridge: roots share the host's interfaces and routes, and two that pick at once
/// must not pick the same.
fn host_lock() -> Result<std::fs::File> {
    let dir = if Path::new("/run/lock").is_dir() {
        "/run/lock"
    } else {
        "/tmp"
    };
    let path = Path::new(dir).join("strata-networks.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| Error::io(format!("network lock {}", path.display()), err))?;
    // SAFETY: flock on a descriptor this function owns; released when it is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
        return Err(Error::io(
            format!("network lock {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(f)
}

/// Makes network `n`'s bridge with its gateway address, up, unless the host has that
/// interface already: from now on other roots see the name and the subnet taken (the
/// bridge plugin uses the bridge as it finds it). False if it was there.
fn make_bridge(n: &Network) -> Result<bool> {
    if link_exists(&n.bridge) {
        return Ok(false);
    }
    let prefix = Subnet::parse(&n.subnet)?.prefix;
    let ip = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .map_err(|err| {
                Error::Network(format!("bridge {}: run ip: {err} [layer: node]", n.bridge))
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Network(format!(
                "bridge {}: ip {}: {} [layer: node]",
                n.bridge,
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    let addr = format!("{}/{prefix}", n.gateway);
    let made = ip(&["link", "add", &n.bridge, "type", "bridge"])
        .and_then(|_| ip(&["addr", "add", &addr, "dev", &n.bridge]))
        .and_then(|_| ip(&["link", "set", &n.bridge, "up"]));
    if let Err(err) = made {
        let _ = delete_bridge(&n.bridge);
        return Err(err);
    }
    Ok(true)
}

/// Creates a network; `preferred_subnet` and `preferred_bridge` are taken when free (the
/// default network's).
fn create_locked(
    e: &Engine,
    o: CreateOptions,
    preferred: Option<&str>,
    preferred_bridge: Option<&str>,
) -> Result<Network> {
    let _host = host_lock()?;
    let others = e.db.networks()?;
    let name = match o.name {
        Some(n) => n,
        None => (1..)
            .map(|i| format!("strata{i}"))
            .find(|n| !others.iter().any(|x| &x.name == n))
            .expect("a free name"),
    };
    crate::ids::check_name("network", &name)?;
    if others.iter().any(|x| x.name == name) {
        return Err(Error::Conflict(format!("network {name}: already exists")));
    }
    let theirs: Vec<Subnet> = others
        .iter()
        .filter_map(|x| Subnet::parse(&x.subnet).ok())
        .collect();
    let mut host = subnet::host_routes();
    host.extend(subnet::cni_config_subnets(Path::new(HOST_CNI_CONFIG)));
    let net = match &o.subnet {
        Some(s) => {
            let s = Subnet::parse(s)?;
            if let Some(x) = others
                .iter()
                .find(|x| Subnet::parse(&x.subnet).is_ok_and(|t| t.overlaps(&s)))
            {
                return Err(Error::Conflict(format!(
                    "network {name}: subnet {s} overlaps network {}'s {}",
                    x.name, x.subnet
                )));
            }
            if let Some(t) = host.iter().find(|t| t.overlaps(&s)) {
                return Err(Error::Conflict(format!(
                    "network {name}: subnet {s} is already used on the host ({t})"
                )));
            }
            s
        }
        None => {
            let pref: Vec<Subnet> = preferred
                .into_iter()
                .filter_map(|p| Subnet::parse(p).ok())
                .collect();
            let mut taken = theirs;
            taken.extend(host);
            subnet::pick_free(&pref, &taken)?
        }
    };
    let gateway = match &o.gateway {
        Some(g) => {
            let ip: Ipv4Addr = g
                .parse()
                .map_err(|_| Error::Invalid(format!("network {name}: invalid gateway {g:?}")))?;
            if !net.contains(ip) || ip == net.addr {
                return Err(Error::Invalid(format!(
                    "network {name}: gateway {ip} is not a host address of {net}"
                )));
            }
            ip
        }
        None => net.first_host(),
    };
    let free = |b: &str| !others.iter().any(|x| x.bridge == b) && !link_exists(b);
    let bridge = match o.bridge {
        Some(b) => b,
        // strata0 on the host already is another root's: then the next free strataN.
        None => preferred_bridge
            .filter(|b| free(b))
            .map(str::to_string)
            .or_else(|| (1..).map(|i| format!("strata{i}")).find(|b| free(b)))
            .expect("a free bridge name"),
    };
    check_bridge(&bridge)?;
    if let Some(x) = others.iter().find(|x| x.bridge == bridge) {
        return Err(Error::Conflict(format!(
            "network {name}: interface {bridge} is already network {}'s",
            x.name
        )));
    }
    let n = Network {
        name: name.clone(),
        id: crate::ids::new_id(),
        created: strata_os::clock::now_nanos(),
        driver: "bridge".into(),
        bridge,
        subnet: net.to_string(),
        gateway: gateway.to_string(),
        ip_masq: true,
        firewall: forward_drops(),
        labels: o.labels,
        conflist: None,
    };
    let made = make_bridge(&n)?;
    let saved = e.db.insert_network(&n).and_then(|_| {
        conflist::write(e, &n).inspect_err(|_| {
            let _ = e.db.delete_network(&n.name);
        })
    });
    if let Err(err) = saved {
        if made {
            let _ = delete_bridge(&n.bridge);
        }
        return Err(err);
    }
    let _ = e.db.event("network", "create", &n.id, &n.name, &[]);
    Ok(n)
}

/// Gives network `name` the subnet `cidr` (kubelet's pod CIDR for this node): made with
/// it if absent (the default network too), remade with it if no container uses it, refused
/// while one does. The network as it is afterwards.
pub fn set_subnet(e: &Engine, name: &str, cidr: &str) -> Result<Network> {
    let want = Subnet::parse(cidr)?;
    let default = Settings::load(e)?;
    let bridge = |old: Option<&Network>| {
        old.map(|n| n.bridge.clone()).or_else(|| {
            (name == default.name())
                .then(|| default.bridge.clone())
                .flatten()
        })
    };
    let old = e.db.network(name)?;
    if let Some(n) = &old {
        if Subnet::parse(&n.subnet).is_ok_and(|s| s == want) {
            return Ok(n.clone());
        }
        if n.imported() {
            return Err(Error::Conflict(format!(
                "network {name} is an imported CNI configuration: its plugins own its subnet"
            )));
        }
        if !users(e, name)?.is_empty() {
            return Err(Error::Conflict(format!(
                "network {name} is in use: its subnet {} stays until its containers are gone",
                n.subnet
            )));
        }
    }
    let o = CreateOptions {
        name: Some(name.to_string()),
        subnet: Some(want.to_string()),
        bridge: bridge(old.as_ref()),
        labels: old.as_ref().map(|n| n.labels.clone()).unwrap_or_default(),
        ..Default::default()
    };
    if old.is_some() {
        remove(e, name, false)?;
    }
    let _l = crate::lock::lock(&e.paths, "networks")?;
    let preferred_bridge = (name == default.name()).then_some(defaults::BRIDGE);
    create_locked(e, o, None, preferred_bridge)
}

/// A CNI configuration as a list: a `.conflist` as it is, a single plugin's `.conf` wrapped
/// in one (as libcni loads them).
pub fn as_conflist(conf: Value) -> Result<Value> {
    let bad = |why: &str| Error::Invalid(format!("cni configuration: {why}"));
    let name = conf["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no name"))?
        .to_string();
    if conf.get("plugins").is_some() {
        let plugins = conf["plugins"]
            .as_array()
            .ok_or_else(|| bad("plugins is not a list"))?;
        if plugins.is_empty() || plugins.iter().any(|p| !p["type"].is_string()) {
            return Err(bad("every plugin needs a type"));
        }
        return Ok(conf);
    }
    if !conf["type"].is_string() {
        return Err(bad("neither a plugin list nor a plugin"));
    }
    let version = conf["cniVersion"].clone();
    Ok(json!({"cniVersion": version, "name": name, "plugins": [conf]}))
}

/// Makes network `name` from a CNI configuration (`.conflist`, or `.conf`), or brings an
/// existing imported one up to date with it. Containers attached keep their addresses;
/// the next attach uses the new list.
pub fn import(e: &Engine, name: &str, conf: Value) -> Result<Network> {
    let list = as_conflist(conf)?;
    let _l = crate::lock::lock(&e.paths, "networks")?;
    if let Some(mut n) = e.db.network(name)? {
        if !n.imported() {
            return Err(Error::Conflict(format!(
                "network {name} is a bridge network of the engine, not an imported one"
            )));
        }
        if n.conflist.as_ref() != Some(&list) {
            n.conflist = Some(list);
            e.db.delete_network(name)?;
            e.db.insert_network(&n)?;
            conflist::write(e, &n)?;
        }
        return Ok(n);
    }
    let n = Network {
        name: name.to_string(),
        id: crate::ids::new_id(),
        created: strata_os::clock::now_nanos(),
        driver: "cni".into(),
        conflist: Some(list),
        ..Default::default()
    };
    e.db.insert_network(&n)?;
    if let Err(err) = conflist::write(e, &n) {
        let _ = e.db.delete_network(&n.name);
        return Err(err);
    }
    let _ = e.db.event("network", "create", &n.id, &n.name, &[]);
    Ok(n)
}

/// The containers that use network `name` (configured on it, or attached to it).
pub fn users(e: &Engine, name: &str) -> Result<Vec<Container>> {
    let default = Settings::load(e)?.name().to_string();
    Ok(e.db
        .containers()?
        .into_iter()
        .filter(|c| {
            c.state.net.network.as_deref() == Some(name)
                || c.state.net.extra.iter().any(|a| a.network == name)
                || c.config.extra_networks.iter().any(|x| x.name == name)
                || match &c.config.network {
                    NetworkMode::Default => default == name,
                    NetworkMode::Bridge(n) => n == name,
                    _ => false,
                }
        })
        .collect())
}

/// `network rm`: refused while containers use it, unless `force` (they are removed first).
/// Its bridge, conflist and leases go, then its row.
pub fn remove(e: &Engine, name: &str, force: bool) -> Result<Network> {
    let n =
        e.db.network(name)?
            .ok_or_else(|| Error::NotFound(format!("no such network: {name}")))?;
    let using = users(e, name)?;
    if !using.is_empty() {
        if !force {
            let names: Vec<&str> = using.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Conflict(format!(
                "network {name} is in use by container(s) {}: remove them first, or use --force",
                names.join(", ")
            )));
        }
        for c in &using {
            crate::container::remove::remove(e, &c.id, true, false)?;
        }
    }
    let _l = crate::lock::lock(&e.paths, "networks")?;
    if !users(e, name)?.is_empty() {
        return Err(Error::Conflict(format!(
            "network {name} is in use by a container that was just created"
        )));
    }
    if !n.imported() {
        super::masquerade::remove(e, &n)?;
        delete_bridge(&n.bridge)?;
    }
    conflist::remove(e, name)?;
    e.db.delete_network(name)?;
    crate::lock::forget(&e.paths, &format!("net-{name}"));
    let _ = e.db.event("network", "remove", &n.id, &n.name, &[]);
    Ok(n)
}

/// Deletes a bridge the bridge plugin made (the plugin never deletes one).
fn delete_bridge(name: &str) -> Result<()> {
    if !link_exists(name) {
        return Ok(());
    }
    let out = std::process::Command::new("ip")
        .args(["link", "delete", name, "type", "bridge"])
        .output()
        .map_err(|err| {
            Error::Network(format!("delete bridge {name}: run ip: {err} [layer: node]"))
        })?;
    if !out.status.success() && link_exists(name) {
        return Err(Error::Network(format!(
            "delete bridge {name}: {} [layer: node]",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// A network as `network inspect` and `network ls --format json` show it (podman's fields),
/// with the containers attached to it when `containers` is given.
pub fn document(n: &Network, containers: Option<&[Container]>) -> Value {
    let mut v = json!({
        "name": n.name,
        "id": n.id,
        "driver": n.driver,
        "network_interface": n.bridge,
        "created": strata_os::clock::rfc3339_nanos(n.created),
        "subnets": [{"subnet": n.subnet, "gateway": n.gateway}],
        "ipv6_enabled": false,
        "internal": false,
        "dns_enabled": false,
        "labels": n.labels,
        "ipam_options": {"driver": "host-local"},
    });
    if let Some(cs) = containers {
        let mut m = Map::new();
        for c in cs {
            let net = &c.state.net;
            let first = (net.attached && net.network.as_deref() == Some(n.name.as_str()))
                .then_some((super::IFNAME, &net.ip, &net.gateway, &net.mac));
            let extra = net
                .extra
                .iter()
                .filter(|a| a.network == n.name && a.ip.is_some())
                .map(|a| (a.ifname.as_str(), &a.ip, &a.gateway, &a.mac));
            if let Some((ifname, ip, gateway, mac)) = first.into_iter().chain(extra).next() {
                m.insert(
                    c.id.clone(),
                    json!({"name": c.name, "interfaces": {ifname: {
                        "subnets": [{"ipnet": ip, "gateway": gateway}],
                        "mac_address": mac}}}),
                );
            }
        }
        v["containers"] = Value::Object(m);
    }
    v
}

/// Every network, the default one made if it is not yet (as podman always lists its own;
/// if it cannot be made, the listing says so on the log and goes on without it).
pub fn list(e: &Engine) -> Result<Vec<Network>> {
    if let Err(err) = Settings::load(e).and_then(|s| get(e, s.name())) {
        tracing::warn!("the default network: {err}");
    }
    e.db.networks()
}
