//! The cgroup v2 driver. On a hybrid host only what the unified hierarchy actually carries
//! (hugetlb on our machines, and the `unified` map) is written there.

pub mod devices;

use crate::cgroups::fs::write;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::path::Path;

/// cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), the conversion runc and crun
/// use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142
}

/// v1 blkio.weight (10..1000) to v2 io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + ((w as u64).saturating_sub(10) * 9999) / 990
}

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

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Applies resources to a v2 directory. `full` is false on a hybrid host.
pub fn apply(p: &Path, r: &LinuxResources, full: bool, _initial: bool) -> Result<()> {
    let has = |f: &str| p.join(f).exists();
    for h in r.hugepage_limits().iter().flatten() {
        let f = format!("hugetlb.{}.max", h.page_size());
        if has(&f) {
            write(p, &f, &h.limit().to_string())?;
        } else if full || !has_v1_hugetlb() {
            return Err(Error::Other(format!(
                "cgroup {}: hugetlb limit for {}: the hugetlb controller is not enabled here",
                p.display(),
                h.page_size()
            )));
        }
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
        if let Some(l) = m.reservation() {
            write(p, "memory.low", &max_or(l))?;
        }
        if let Some(l) = m.limit() {
            write(p, "memory.max", &max_or(l))?;
        }
        if let Some(s) = m.swap() {
            // OCI swap is memory+swap; v2 counts swap alone.
            let v = match (s, m.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l >= 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            if has("memory.swap.max") {
                write(p, "memory.swap.max", &v)?;
            }
        }
        if m.disable_oom_killer() == Some(true) {
            crate::logging::warn("memory.disableOOMKiller has no cgroup v2 equivalent; ignored");
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            if s != 0 {
                write(p, "cpu.weight", &shares_to_weight(s).to_string())?;
            }
        }
        if c.quota().is_some() || c.period().is_some() {
            let q = c.quota().map_or("max".to_string(), max_or);
            let per = c.period().filter(|&p| p != 0).unwrap_or(100000);
            write(p, "cpu.max", &format!("{q} {per}"))?;
        }
        if let Some(idle) = c.idle() {
            if has("cpu.idle") {
                write(p, "cpu.idle", &idle.to_string())?;
            }
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(p, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(p, "cpuset.mems", mems)?;
        }
        if c.realtime_runtime().is_some_and(|v| v != 0) {
            return Err(Error::Other(
                "cpu.realtimeRuntime: cgroup v2 has no realtime controls".into(),
            ));
        }
    }
    if let Some(pids) = r.pids() {
        write(
            p,
            "pids.max",
            &if pids.limit() <= 0 {
                "max".into()
            } else {
                pids.limit().to_string()
            },
        )?;
    }
    if let Some(b) = r.block_io() {
        if let Some(w) = b.weight() {
            write(p, "io.weight", &blkio_to_io_weight(w).to_string())?;
        }
        let lim = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        for (key, list) in lim {
            for d in list.iter().flatten() {
                write(
                    p,
                    "io.max",
                    &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                )?;
            }
        }
    }
    if let Some(rules) = r.devices().as_deref().filter(|r| !r.is_empty()) {
        devices::attach(p, rules)?;
    }
    Ok(())
}

fn has_v1_hugetlb() -> bool {
    Path::new("/sys/fs/cgroup/hugetlb").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }
}
