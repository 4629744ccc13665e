//! v2 pids: pids.max.

use crate::cgroups::fs::write;
use crate::error::Result;
use oci_spec::runtime::LinuxPids;
use std::path::Path;

/// Applies the pids limit (0 or less is no limit).
pub fn apply(p: &Path, pids: &LinuxPids) -> Result<()> {
    let max = if pids.limit() <= 0 {
        "max".into()
    } else {
        pids.limit().to_string()
    };
    write(p, "pids.max", &max)
}
