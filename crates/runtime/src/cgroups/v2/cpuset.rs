//! v2 cpuset: cpuset.cpus and cpuset.mems.

use crate::cgroups::fs::write;
use crate::error::Result;
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

/// Applies cpus and mems.
pub fn apply(p: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(p, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(p, "cpuset.mems", mems)?;
    }
    Ok(())
}
