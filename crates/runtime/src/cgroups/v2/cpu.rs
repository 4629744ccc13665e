//! v2 cpu: cpu.weight (from the spec's shares), cpu.max (quota and period), cpu.idle; no
//! realtime controls. [`shares_to_weight`] is also what the systemd driver asks for.

use super::max_or;
use crate::cgroups::fs::write;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

/// cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), the conversion runc
/// (`ConvertCPUSharesToCgroupV2Value`), crun and systemd use. 0 stays 0: "not set", so no
/// cpu.weight is written and no CPUWeight property is asked for.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142
}

/// Applies cpu settings (the cpuset ones are [`super::cpuset`]'s).
pub fn apply(p: &Path, c: &LinuxCpu) -> Result<()> {
    let weight = shares_to_weight(c.shares().unwrap_or(0));
    if weight != 0 {
        write(p, "cpu.weight", &weight.to_string())?;
    }
    if c.quota().is_some() || c.period().is_some() {
        let q = c.quota().map_or("max".to_string(), max_or);
        let per = c.period().filter(|&p| p != 0).unwrap_or(100000);
        write(p, "cpu.max", &format!("{q} {per}"))?;
    }
    if let Some(idle) = c.idle() {
        if p.join("cpu.idle").exists() {
            write(p, "cpu.idle", &idle.to_string())?;
        }
    }
    Ok(())
}

/// Refuses a realtime runtime, which v2 has no file for.
pub fn refuse_realtime(c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        return Err(Error::Other(
            "cpu.realtimeRuntime: cgroup v2 has no realtime controls".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_as_runc_and_zero_is_unset() {
        assert_eq!(shares_to_weight(0), 0, "0 is \"not set\"");
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
    }
}
