//! Published ports: what a container asks for (`-p`, and `-P`: every port its image
//! exposes), resolved before anything is made for it: a host port of 0 becomes a free one,
//! and a port already published by another of the engine's containers, or bound on the
//! host, is refused with the pid that holds it (`/proc/net/{tcp,udp}*` and `/proc/*/fd`).
//! The resolved list is recorded in the container's state (inspect, ps and `port` show it)
//! and given to the `portmap` plugin as its `portMappings`.

use crate::container::config::PortMapping;
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

/// The ports to show for a container: those of its current run when it has a network,
/// else what it asked for.
pub fn published(c: &Container) -> &[PortMapping] {
    if super::owes_del(&c.state.net) {
        &c.state.net.ports
    } else {
        &c.config.ports
    }
}

/// The ports a container asks to publish: its `-p` mappings, then with `-P` each port its
/// image exposes that no `-p` maps, on a host port to be picked (0).
pub fn wanted(e: &Engine, c: &Container) -> Result<Vec<PortMapping>> {
    let mut out = c.config.ports.clone();
    if c.config.publish_all {
        let img = crate::container::start::image_config(e, c)?;
        for (port, proto) in img.exposed() {
            if !out
                .iter()
                .any(|p| p.container_port == port && p.protocol == proto)
            {
                out.push(PortMapping {
                    host_ip: String::new(),
                    host_port: 0,
                    container_port: port,
                    protocol: proto,
                });
            }
        }
    }
    Ok(out)
}

/// `host_ip:host_port` as error messages and listings show it (`0.0.0.0` for all).
pub fn host_addr(p: &PortMapping) -> String {
    let ip = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &p.host_ip
    };
    let proto = if p.protocol == "tcp" {
        String::new()
    } else {
        format!("/{}", p.protocol)
    };
    format!("{ip}:{}{proto}", p.host_port)
}

/// Whether two mappings want the same host port (same protocol, and one of the addresses
/// is the wildcard or they are equal).
fn clash(a: &PortMapping, b: &PortMapping) -> bool {
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_ip.is_empty() || b.host_ip.is_empty() || a.host_ip == b.host_ip)
}

/// Binds the port as a listener would (TCP with SO_REUSEADDR, as std does, so only a
/// listening socket conflicts); the port bound (the kernel's choice for 0).
fn probe(p: &PortMapping) -> std::io::Result<u16> {
    let ip: IpAddr = if p.host_ip.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        p.host_ip
            .parse()
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?
    };
    let addr = SocketAddr::new(ip, p.host_port);
    if p.protocol == "udp" {
        Ok(UdpSocket::bind(addr)?.local_addr()?.port())
    } else {
        Ok(TcpListener::bind(addr)?.local_addr()?.port())
    }
}

/// The inodes of the sockets bound to `port` (TCP: listening ones), from /proc/net.
fn socket_inodes(port: u16, proto: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for f in [format!("/proc/net/{proto}"), format!("/proc/net/{proto}6")] {
        let s = std::fs::read_to_string(&f).unwrap_or_default();
        for l in s.lines().skip(1) {
            let c: Vec<&str> = l.split_whitespace().collect();
            let Some(local) = c.get(1) else { continue };
            let lport = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            let listening = proto != "tcp" || c.get(3) == Some(&"0A");
            if lport == Some(port) && listening {
                out.extend(c.get(9).and_then(|i| i.parse::<u64>().ok()));
            }
        }
    }
    out.retain(|i| *i != 0);
    out
}

/// The process holding host port `port` (`tcp`/`udp`): its pid and command name.
pub fn holder(port: u16, proto: &str) -> Option<(i32, String)> {
    let inodes = socket_inodes(port, proto);
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for ent in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(ent.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                let comm = std::fs::read_to_string(ent.path().join("comm")).unwrap_or_default();
                return Some((pid, comm.trim().to_string()));
            }
        }
    }
    None
}

/// The one-line error for a host port in use.
fn in_use(p: &PortMapping, err: &std::io::Error) -> Error {
    let by = match holder(p.host_port, &p.protocol) {
        Some((pid, comm)) => format!(" by pid {pid} ({comm})"),
        None => String::new(),
    };
    if err.kind() == std::io::ErrorKind::AddrInUse {
        Error::Network(format!(
            "port {} already in use{by} [layer: node]",
            host_addr(p)
        ))
    } else {
        Error::Network(format!(
            "port {}: cannot be published: {err} [layer: node]",
            host_addr(p)
        ))
    }
}

/// Resolves `wanted` for container `c`: each fixed host port checked, each 0 given a free
/// port. Nothing is made here; the caller holds the engine's ports lock until the result is
/// recorded in the container's state.
pub fn resolve(e: &Engine, c: &Container, wanted: Vec<PortMapping>) -> Result<Vec<PortMapping>> {
    if wanted.is_empty() {
        return Ok(wanted);
    }
    let mut taken: Vec<(PortMapping, String)> = Vec::new();
    for o in e.db.containers()? {
        if o.id != c.id && super::owes_del(&o.state.net) {
            for p in o.state.net.ports {
                taken.push((p, o.name.clone()));
            }
        }
    }
    let mut out: Vec<PortMapping> = Vec::new();
    for mut p in wanted {
        if p.host_ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
            return Err(Error::Network(format!(
                "port {}: IPv6 host addresses are not supported (the network is IPv4) [layer: node]",
                host_addr(&p)
            )));
        }
        if p.host_port == 0 {
            p.host_port = pick(&p, &taken, &out)?;
        } else {
            if let Some((_, name)) = taken.iter().find(|(t, _)| clash(t, &p)) {
                return Err(Error::Network(format!(
                    "port {} already in use by container {name} [layer: node]",
                    host_addr(&p)
                )));
            }
            if out.iter().any(|o| clash(o, &p)) {
                return Err(Error::Invalid(format!(
                    "network: port {} is published twice [layer: node]",
                    host_addr(&p)
                )));
            }
            probe(&p).map_err(|err| in_use(&p, &err))?;
        }
        out.push(p);
    }
    Ok(out)
}

/// A free host port for `p`: the kernel's choice, not published by another container.
fn pick(p: &PortMapping, taken: &[(PortMapping, String)], mine: &[PortMapping]) -> Result<u16> {
    for _ in 0..32 {
        let port = probe(p).map_err(|err| in_use(p, &err))?;
        let cand = PortMapping {
            host_port: port,
            ..p.clone()
        };
        if !taken.iter().any(|(t, _)| clash(t, &cand)) && !mine.iter().any(|m| clash(m, &cand)) {
            return Ok(port);
        }
    }
    Err(Error::Network(format!(
        "port {}: no free host port found [layer: node]",
        host_addr(p)
    )))
}

/// The `portMappings` capability's value (the portmap plugin's `runtimeConfig`).
pub fn runtime_config(ports: &[PortMapping]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| {
                json!({"hostPort": p.host_port, "containerPort": p.container_port,
                       "protocol": p.protocol, "hostIP": p.host_ip})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(ip: &str, host: u16, proto: &str) -> PortMapping {
        PortMapping {
            host_ip: ip.into(),
            host_port: host,
            container_port: 80,
            protocol: proto.into(),
        }
    }

    #[test]
    fn clashes() {
        assert!(clash(&pm("", 8080, "tcp"), &pm("127.0.0.1", 8080, "tcp")));
        assert!(!clash(&pm("", 8080, "tcp"), &pm("", 8080, "udp")));
        assert!(!clash(
            &pm("127.0.0.1", 8080, "tcp"),
            &pm("10.0.0.1", 8080, "tcp")
        ));
        assert_eq!(host_addr(&pm("", 53, "udp")), "0.0.0.0:53/udp");
        assert_eq!(host_addr(&pm("127.0.0.1", 80, "tcp")), "127.0.0.1:80");
    }

    #[test]
    fn a_listening_port_is_found_with_its_pid() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let p = pm("127.0.0.1", port, "tcp");
        let err = probe(&p).unwrap_err();
        let msg = in_use(&p, &err).to_string();
        assert_eq!(
            msg,
            format!(
                "network: port 127.0.0.1:{port} already in use by pid {} ({}) [layer: node]",
                std::process::id(),
                std::fs::read_to_string("/proc/self/comm").unwrap().trim()
            )
        );
        drop(l);
        assert_eq!(probe(&p).unwrap(), port);
    }

    #[test]
    fn runtime_config_is_portmaps() {
        assert_eq!(
            runtime_config(&[pm("", 8080, "tcp")]),
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}])
        );
    }
}
