//! v1 cpuset: a new cpuset cgroup starts empty, so it inherits its parent's cpus and mems
//! before any task can join; then the spec's values.

use crate::cgroups::fs::{read, write};
use crate::error::Result;
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

/// Fills empty cpuset.cpus/mems from the nearest ancestor that has them, top down.
pub fn inherit(mount: &Path, dir: &Path) -> Result<()> {
    if dir == mount {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent.starts_with(mount) {
            inherit(mount, parent)?;
        }
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if read(dir, f).unwrap_or_default().is_empty() {
                let v = read(parent, f).unwrap_or_default();
                write(dir, f, &v)?;
            }
        }
    }
    Ok(())
}

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
