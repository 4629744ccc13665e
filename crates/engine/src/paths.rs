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

use std::path::{Path, PathBuf};

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
