//! A network's CNI configuration list, as the CNI spec defines it: written to
//! `<root>/networks/<name>.conflist` when the network is made, read at each attach. Plugins:
//! `bridge` with `host-local` IPAM (leases kept under `<root>/networks/ipam`, Strata's own),
//! `portmap` (the `portMappings` capability, `snat` so 127.0.0.1 works), and `firewall` when
//! the host's FORWARD chain needs it. The bridge's `ipMasq` is off: outbound NAT is set up
//! once for the whole network (`masquerade`). The container's loopback is brought up when its
//! namespace is made (`netns`), so the `loopback` plugin is not needed.

use super::record::Network;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The CNI spec version the lists are written in (Debian's plugins 1.1.1 speak it).
pub const CNI_VERSION: &str = "1.0.0";

/// The directory of the engine's networks (conflists, the default network's settings, the
/// IPAM leases).
pub fn dir(e: &Engine) -> PathBuf {
    e.paths.root.join("networks")
}

/// A network's conflist file.
pub fn path(e: &Engine, name: &str) -> PathBuf {
    dir(e).join(format!("{name}.conflist"))
}

/// host-local's `dataDir` (it keeps each network's leases in a subdirectory by name).
pub fn ipam_dir(e: &Engine) -> PathBuf {
    dir(e).join("ipam")
}

/// The conflist of `n` (an imported network's own).
pub fn generate(e: &Engine, n: &Network) -> Value {
    if let Some(list) = &n.conflist {
        return list.clone();
    }
    let mut plugins = vec![
        json!({
            "type": "bridge",
            "bridge": n.bridge,
            "isGateway": true,
            // Outbound NAT is the network's, not each container's: see `masquerade`.
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "dataDir": ipam_dir(e),
                "routes": [{"dst": "0.0.0.0/0"}],
                "ranges": [[{"subnet": n.subnet, "gateway": n.gateway}]],
            },
        }),
        json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}),
    ];
    if n.firewall {
        plugins.push(json!({"type": "firewall", "backend": "iptables"}));
    }
    json!({"cniVersion": CNI_VERSION, "name": n.name, "plugins": plugins})
}

/// Writes the conflist of `n` (atomically).
pub fn write(e: &Engine, n: &Network) -> Result<()> {
    let d = dir(e);
    std::fs::create_dir_all(&d).ctx(|| format!("network {}: create {}", n.name, d.display()))?;
    let p = path(e, &n.name);
    let tmp = d.join(format!(".{}.conflist.tmp", n.name));
    let body = serde_json::to_vec_pretty(&generate(e, n)).expect("conflist serializes");
    std::fs::write(&tmp, body).ctx(|| format!("network {}: write {}", n.name, tmp.display()))?;
    std::fs::rename(&tmp, &p).ctx(|| format!("network {}: write {}", n.name, p.display()))
}

/// Reads the conflist of `n` (written again from its record if it is missing).
pub fn load(e: &Engine, n: &Network) -> Result<Value> {
    let p = path(e, &n.name);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|err| {
            Error::Network(format!(
                "network {}: {} does not parse: {err} [layer: node]",
                n.name,
                p.display()
            ))
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            write(e, n)?;
            Ok(generate(e, n))
        }
        Err(err) => Err(err).ctx(|| format!("network {}: read {}", n.name, p.display())),
    }
}

/// Removes a network's conflist and its leases directory.
pub fn remove(e: &Engine, name: &str) -> Result<()> {
    for p in [path(e, name), ipam_dir(e).join(name)] {
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match r {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).ctx(|| format!("network {name}: remove {}", p.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    fn engine(t: &std::path::Path) -> Engine {
        Engine::open(EngineOptions {
            root: t.join("root"),
            runroot: t.join("run"),
            monitor: "strata-monitor".into(),
            exit_command: vec![],
            default_registry: "docker.io".into(),
        })
        .unwrap()
    }

    #[test]
    fn the_list_has_bridge_and_portmap_and_firewall_when_needed() {
        let t = tempfile::tempdir().unwrap();
        let e = engine(t.path());
        let mut n = Network {
            name: "n1".into(),
            bridge: "st0".into(),
            subnet: "10.89.0.0/24".into(),
            gateway: "10.89.0.1".into(),
            ip_masq: true,
            ..Default::default()
        };
        let kinds = |v: &Value| -> Vec<String> {
            v["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["type"].as_str().unwrap().to_string())
                .collect()
        };
        let v = generate(&e, &n);
        assert_eq!(v["cniVersion"], CNI_VERSION);
        assert_eq!(v["name"], "n1");
        assert_eq!(kinds(&v), ["bridge", "portmap"]);
        let br = &v["plugins"][0];
        assert_eq!(br["ipMasq"], false, "masquerade is the network's");
        assert_eq!(br["ipam"]["dataDir"], json!(ipam_dir(&e)));
        assert_eq!(br["ipam"]["ranges"][0][0]["subnet"], "10.89.0.0/24");
        assert_eq!(v["plugins"][1]["capabilities"]["portMappings"], true);
        n.firewall = true;
        assert_eq!(kinds(&generate(&e, &n)), ["bridge", "portmap", "firewall"]);
        // Written, read back, and written again from the record when it is gone.
        write(&e, &n).unwrap();
        assert_eq!(load(&e, &n).unwrap(), generate(&e, &n));
        remove(&e, "n1").unwrap();
        assert!(!path(&e, "n1").exists());
        assert_eq!(load(&e, &n).unwrap(), generate(&e, &n));
        assert!(path(&e, "n1").exists());
    }
}
