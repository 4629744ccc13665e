//! The cgroup v1 driver: one module per controller.

pub mod blkio;
pub mod cpu;
pub mod cpuset;
pub mod devices;
pub mod memory;

use super::fs::{write, CgroupDir};
use crate::error::Result;
use oci_spec::runtime::LinuxResources;

/// Applies the resources that belong to this hierarchy's controllers.
pub fn apply(d: &CgroupDir, r: &LinuxResources, _initial: bool) -> Result<()> {
    let p = &d.path;
    if d.has("memory") {
        if let Some(m) = r.memory() {
            memory::apply(p, m)?;
        }
    }
    if d.has("cpu") {
        if let Some(c) = r.cpu() {
            cpu::apply(p, c)?;
        }
    }
    if d.has("cpuset") {
        if let Some(c) = r.cpu() {
            cpuset::apply(p, c)?;
        }
    }
    if d.has("pids") {
        if let Some(pids) = r.pids() {
            let v = if pids.limit() <= 0 {
                "max".to_string()
            } else {
                pids.limit().to_string()
            };
            write(p, "pids.max", &v)?;
        }
    }
    if d.has("blkio") {
        if let Some(b) = r.block_io() {
            blkio::apply(p, b)?;
        }
    }
    if d.has("hugetlb") {
        for h in r.hugepage_limits().iter().flatten() {
            write(
                p,
                &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
                &h.limit().to_string(),
            )?;
        }
    }
    if d.has("devices") {
        if let Some(rules) = r.devices().as_deref().filter(|r| !r.is_empty()) {
            devices::apply(p, rules)?;
        }
    }
    if d.has("net_cls") {
        if let Some(id) = r.network().as_ref().and_then(|n| n.class_id()) {
            write(p, "net_cls.classid", &id.to_string())?;
        }
    }
    if d.has("net_prio") {
        for pr in r
            .network()
            .as_ref()
            .and_then(|n| n.priorities().as_ref())
            .into_iter()
            .flatten()
        {
            write(
                p,
                "net_prio.ifpriomap",
                &format!("{} {}", pr.name(), pr.priority()),
            )?;
        }
    }
    Ok(())
}
