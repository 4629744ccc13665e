//! Outbound NAT, once per network instead of once per container.
//!
//! The bridge plugin's `ipMasq` adds a chain and three rules for each container at ADD and
//! removes them at DEL: about ten `iptables` executions per run, which measured as the
//! largest part of a container's network set-up and tear-down (more than the plugins
//! themselves). A network's containers all share its subnet, so one rule set per network
//! does the same (as netavark and docker do): the bridge plugin runs with `ipMasq: false`
//! and this module installs, in the nat table,
//!
//! ```text
//! -A POSTROUTING -s <subnet> -m comment --comment "strata network <name>" -j STRATA-<id>
//! -A STRATA-<id> -d <subnet> -j ACCEPT
//! -A STRATA-<id> ! -d 224.0.0.0/4 -j MASQUERADE
//! ```
//!
//! (the bridge plugin's own rules, for the whole subnet) at the network's first attach
//! after boot, remembered by a marker under the run root that holds the boot's id (the
//! rules go with a reboot), and removes them with the network.

use super::record::Network;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The network's chain (`STRATA-` and 12 digits of its id: within iptables' 28).
fn chain(n: &Network) -> String {
    format!("STRATA-{}", &n.id[..n.id.len().min(12)])
}

/// The POSTROUTING rule that sends the subnet's traffic to the chain (after `-A`/`-C`/`-D`).
fn jump(n: &Network) -> Vec<String> {
    [
        "POSTROUTING",
        "-s",
        &n.subnet,
        "-m",
        "comment",
        "--comment",
        &format!("strata network {}", n.name),
        "-j",
        &chain(n),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The marker saying the rules are in place since boot.
fn marker(e: &Engine, n: &Network) -> PathBuf {
    e.paths
        .runroot
        .join("networks")
        .join(format!("{}.masquerade", n.id))
}

fn iptables(args: &[String]) -> std::io::Result<std::process::Output> {
    Command::new("iptables")
        .args(["-w", "-t", "nat"])
        .args(args)
        .stdin(Stdio::null())
        .output()
}

/// Makes sure the network's masquerade is in place (nothing to do but a stat once done).
pub fn ensure(e: &Engine, n: &Network) -> Result<()> {
    if !n.ip_masq {
        return Ok(());
    }
    let m = marker(e, n);
    let boot = boot_id();
    if std::fs::read_to_string(&m).is_ok_and(|b| b == boot) {
        return Ok(());
    }
    let fail = |what: String| {
        Error::Network(format!(
            "network {}: outbound NAT: {what} [layer: node]",
            n.name
        ))
    };
    let mut check = vec!["-C".to_string()];
    check.extend(jump(n));
    let present = iptables(&check)
        .map_err(|err| fail(format!("run iptables: {err}")))?
        .status
        .success();
    if !present {
        // One transaction: the chain (emptied if it was left), its two rules and the jump.
        let c = chain(n);
        let q = |s: &str| format!("\"{s}\"");
        let rules = format!(
            "*nat\n:{c} - [0:0]\n-A {c} -d {s} -j ACCEPT\n-A {c} ! -d 224.0.0.0/4 -j MASQUERADE\n-A POSTROUTING -s {s} -m comment --comment {} -j {c}\nCOMMIT\n",
            q(&format!("strata network {}", n.name)),
            s = n.subnet,
        );
        let stdin = super::cni::stdin_of(rules.as_bytes())
            .map_err(|err| fail(format!("the rules for iptables-restore: {err}")))?;
        let out = Command::new("iptables-restore")
            .args(["-w", "--noflush"])
            .stdin(stdin)
            .output()
            .map_err(|err| fail(format!("run iptables-restore: {err}")))?;
        if !out.status.success() {
            return Err(fail(
                String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .replace('\n', " "),
            ));
        }
    }
    let dir = m.parent().expect("the marker has a directory");
    std::fs::create_dir_all(dir).ctx(|| format!("network {}: create {}", n.name, dir.display()))?;
    std::fs::write(&m, boot).ctx(|| format!("network {}: write {}", n.name, m.display()))
}

/// This boot's id (the marker holds it: a run root that outlives a reboot, as one under
/// /tmp may, must not make rules the reboot flushed look present).
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

/// Removes the network's masquerade (whatever of it is there).
pub fn remove(e: &Engine, n: &Network) -> Result<()> {
    let mut del = vec!["-D".to_string()];
    del.extend(jump(n));
    // The jump may be there more than once if someone added it again: delete until gone.
    for _ in 0..8 {
        match iptables(&del) {
            Ok(o) if o.status.success() => continue,
            _ => break,
        }
    }
    let c = chain(n);
    let _ = iptables(&["-F".into(), c.clone()]);
    let _ = iptables(&["-X".into(), c]);
    match std::fs::remove_file(marker(e, n)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).ctx(|| format!("network {}: remove its marker", n.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_and_jump_name_the_network() {
        let n = Network {
            name: "n1".into(),
            id: "0123456789abcdef".repeat(4),
            subnet: "10.89.0.0/24".into(),
            ..Default::default()
        };
        assert_eq!(chain(&n), "STRATA-0123456789ab");
        assert_eq!(
            jump(&n).join(" "),
            "POSTROUTING -s 10.89.0.0/24 -m comment --comment strata network n1 -j STRATA-0123456789ab"
        );
    }
}
