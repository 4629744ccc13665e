//! v1 cpu: shares, CFS quota/period, realtime runtime/period, idle.

use crate::cgroups::fs::write;
use crate::error::Result;
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

/// Applies cpu settings.
pub fn apply(p: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares() {
        if s != 0 {
            write(p, "cpu.shares", &s.to_string())?;
        }
    }
    // The period goes first so a quota is checked against the new period.
    if let Some(per) = c.period() {
        if per != 0 {
            write(p, "cpu.cfs_period_us", &per.to_string())?;
        }
    }
    if let Some(q) = c.quota() {
        write(p, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if let Some(per) = c.realtime_period() {
        if per != 0 {
            write(p, "cpu.rt_period_us", &per.to_string())?;
        }
    }
    if let Some(rt) = c.realtime_runtime() {
        write(p, "cpu.rt_runtime_us", &rt.to_string())?;
    }
    if let Some(idle) = c.idle() {
        if p.join("cpu.idle").exists() {
            write(p, "cpu.idle", &idle.to_string())?;
        }
    }
    Ok(())
}
