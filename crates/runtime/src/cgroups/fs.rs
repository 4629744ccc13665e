//! The cgroup file system as every driver and controller sees it: a container's directory in
//! one hierarchy, and the reads and writes of its files (errors name the file and the value).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One directory of the container in one hierarchy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CgroupDir {
    /// Hierarchy directory name ("memory", "unified", or "" on a pure v2 host).
    pub hierarchy: String,
    /// Absolute host path of the container's cgroup.
    pub path: PathBuf,
    /// Whether the hierarchy is cgroup2.
    pub v2: bool,
}

impl CgroupDir {
    /// Whether this hierarchy is frozen.
    pub fn is_frozen(&self) -> bool {
        if self.v2 {
            std::fs::read_to_string(self.path.join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false)
        } else if self.hierarchy.split(',').any(|c| c == "freezer") {
            std::fs::read_to_string(self.path.join("freezer.state"))
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(false)
        } else {
            false
        }
    }

    /// Whether this hierarchy carries `controller` (v1) or is the v2 one.
    pub fn has(&self, controller: &str) -> bool {
        self.hierarchy.split(',').any(|c| c == controller)
    }
}

/// Writes `value` to `dir/file`, naming both in the error.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let p = dir.join(file);
    strata_os::fd::write_file(&p, value).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::ENOENT) => " (this host's kernel does not offer it)",
            Some(libc::EINVAL) | Some(libc::EBUSY) => " (the host cannot grant this value)",
            _ => "",
        };
        Error::Other(format!(
            "cgroup {}: write {value:?}: {e}{hint}",
            p.display()
        ))
    })
}

/// Reads a cgroup file, trimmed.
pub fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}
