//! Where the engine keeps things. Persistent state under the root (`--root`, default
//! /var/lib/strata, shared with the image store), run-time state under the run root
//! (`--runroot`, default /run/strata: gone at reboot, as the processes it describes).
//!
//! ```text
//! <root>/engine.db                      containers, pods, volumes, networks, events (SQLite)
//! <root>/containers/<id>/config.json    the container's OCI bundle (rootfs/ is its mount point)
//! <root>/containers/<id>/ctr.log        its output, CRI format
//! <root>/containers/<id>/{hosts,hostname,resolv.conf}
//! <root>/volumes/<name>/_data           named volumes
//! <runroot>/containers/<id>/            its monitor's directory (socket, pid, exit record)
//! <runroot>/runtime/                    the runtime's state root
//! <runroot>/netns/<id>                  network namespaces the engine made
//! <runroot>/locks/<id>                  per-object locks
//! ```
//!
//! Containers' cgroups (cgroupfs driver) are `/strata/<id>`, a pod's containers'
//! `/strata/pod-<id>/<id>`, in every hierarchy; `$STRATA_CGROUP_ROOT` names another cgroup
//! for `/strata` (the tests give each engine its own, and remove it).

use std::path::{Path, PathBuf};

/// The cgroup that holds the engine's containers and pods unless they are given a parent
/// (relative to each hierarchy's root): `$STRATA_CGROUP_ROOT` when it is a cgroupfs path
/// (`/NAME[/...]`, no `..` or `:`), else `/strata`.
pub fn cgroup_root() -> &'static str {
    static ROOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| match std::env::var("STRATA_CGROUP_ROOT") {
        Ok(r) if valid_cgroup_root(&r) => r.trim_end_matches('/').to_string(),
        Ok(r) => {
            eprintln!("STRATA_CGROUP_ROOT={r:?}: not a cgroup path (/NAME); /strata taken");
            "/strata".into()
        }
        Err(_) => "/strata".into(),
    })
}

/// Whether `r` names a cgroup below a hierarchy's root: absolute, with no `..` or `:`.
fn valid_cgroup_root(r: &str) -> bool {
    r.starts_with('/')
        && r.trim_matches('/')
            .split('/')
            .all(|c| !c.is_empty() && c != "..")
        && !r.contains(':')
        && !r.contains('\0')
}

/// The engine's directories.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Persistent root.
    pub root: PathBuf,
    /// Run-time root.
    pub runroot: PathBuf,
}

impl Paths {
    /// The layout under `root` and `runroot`.
    pub fn new(root: &Path, runroot: &Path) -> Self {
        Paths {
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
        }
    }

    /// The state database.
    pub fn db(&self) -> PathBuf {
        self.root.join("engine.db")
    }

    /// A container's bundle directory.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Where a container's root filesystem is mounted.
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.bundle(id).join("rootfs")
    }

    /// A container's log.
    pub fn log(&self, id: &str) -> PathBuf {
        self.bundle(id).join("ctr.log")
    }

    /// A container's monitor directory.
    pub fn monitor(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }

    /// The runtime's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.runroot.join("runtime")
    }

    /// Network namespaces made by the engine.
    pub fn netns_dir(&self) -> PathBuf {
        self.runroot.join("netns")
    }

    /// Named volumes.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// Lock files.
    pub fn locks(&self) -> PathBuf {
        self.runroot.join("locks")
    }
}

#[cfg(test)]
mod cgroup_root_tests {
    use super::valid_cgroup_root;

    #[test]
    fn a_cgroup_root_is_an_absolute_cgroupfs_path() {
        for ok in ["/strata", "/strata-test-x", "/a/b", "/a/b/"] {
            assert!(valid_cgroup_root(ok), "{ok}");
        }
        for bad in [
            "",
            "/",
            "strata",
            "/a/../b",
            "/a//b",
            "system.slice:strata",
            "/a\0",
        ] {
            assert!(!valid_cgroup_root(bad), "{bad:?}");
        }
    }
}
