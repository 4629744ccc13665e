//! The cgroup v2 driver. On a hybrid host only what the unified hierarchy actually carries
//! (hugetlb on our machines, and the `unified` map) is written there.

pub mod cpu;
pub mod cpuset;
pub mod devices;
pub mod hugetlb;
pub mod io;
pub mod memory;
pub mod pids;

use crate::cgroups::fs::write;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::path::Path;

/// Enables every available controller in the subtree_control of `dir`'s ancestors below (and
/// including) `mount`, so `dir` gets them.
pub fn enable_controllers(mount: &Path, dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    if !parent.starts_with(mount) {
        return Ok(());
    }
    if parent != mount {
        enable_controllers(mount, parent)?;
    }
    let avail = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let on = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = avail
        .split_whitespace()
        .filter(|c| !on.split_whitespace().any(|o| o == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if !want.is_empty() {
        write(parent, "cgroup.subtree_control", &want.join(" "))?;
    }
    Ok(())
}

/// A limit as v2 writes it: negative is "max".
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Applies resources to a v2 directory, one controller a file. `full` is false on a hybrid
/// host, where only what the unified hierarchy alone carries (hugetlb, the `unified` map) is
/// written there.
pub fn apply(p: &Path, r: &LinuxResources, full: bool, _initial: bool) -> Result<()> {
    if let Some(h) = r.hugepage_limits() {
        hugetlb::apply(p, h, full)?;
    }
    if let Some(u) = r.unified() {
        for (k, v) in u {
            if k.contains('/') || k.starts_with('.') {
                return Err(Error::Spec(format!(
                    "unified key {k:?} is not a cgroup file name"
                )));
            }
            write(p, k, v)?;
        }
    }
    if !full {
        return Ok(());
    }
    if let Some(m) = r.memory() {
        memory::apply(p, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu::apply(p, c)?;
        cpuset::apply(p, c)?;
        cpu::refuse_realtime(c)?;
    }
    if let Some(pids) = r.pids() {
        pids::apply(p, pids)?;
    }
    if let Some(b) = r.block_io() {
        io::apply(p, b)?;
    }
    if let Some(rules) = r.devices().as_deref().filter(|r| !r.is_empty()) {
        devices::attach(p, rules)?;
    }
    Ok(())
}
