//! The state directory of a container (`<root>/<id>/`) and its OCI status.
//!
//! `state.json` is written once by `create` (atomically, by rename) and updated only by
//! `start` (to record that the fifo was consumed). The status itself is never stored: it is
//! derived from the init process (alive, zombie, gone), the exec fifo and the freezer, as
//! runc does, so a container whose init died is "stopped" without anyone updating a file.

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Default state root, runc's `/run/runc` counterpart.
pub const DEFAULT_ROOT: &str = "/run/strata-runc";
/// The fifo `start` opens to release the waiting init.
pub const EXEC_FIFO: &str = "exec.fifo";
/// The copy of the bundle's config.json taken at create time.
pub const CONFIG_COPY: &str = "config.json";

/// What the runtime remembers about a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// Container id.
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Start time of the init (from /proc/PID/stat), to detect pid reuse.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// Annotations from the config.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Cgroup directories the container was placed in (one per hierarchy).
    #[serde(default)]
    pub cgroup_paths: Vec<crate::cgroups::CgroupDir>,
    /// The systemd scope registered for the container (`--systemd-cgroup` on a systemd host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// Whether the container has its own pid namespace (then killing init kills all).
    #[serde(default)]
    pub own_pidns: bool,
    /// Owner uid of the runtime that created it.
    #[serde(default)]
    pub owner: u32,
    /// Whether the config has poststart hooks (so `start` reads the config only then).
    #[serde(default)]
    pub poststart_hooks: bool,
    /// Whether the config has poststop hooks (so `delete` reads the config only then).
    #[serde(default)]
    pub poststop_hooks: bool,
    /// Without a mount namespace of its own, the container's mounts are made in the runtime's:
    /// the id of the mount that was on the rootfs before, to take ours away at delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_base_mount: Option<u64>,
}

/// OCI status values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created, waiting for `start`.
    Created,
    /// The user program runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The init has exited.
    Stopped,
}

impl Status {
    /// The spec's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OCI state, as printed by `state`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// OCI version of the state format.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status name.
    pub status: String,
    /// Init pid (0 once stopped).
    pub pid: i32,
    /// Bundle directory.
    pub bundle: String,
    /// Root filesystem (runc prints it too).
    pub rootfs: String,
    /// Creation time.
    pub created: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Owner (runc prints it; empty for root).
    pub owner: String,
}

/// The state root (`--root`) and helpers to find containers in it.
pub struct Root {
    /// Directory holding one sub-directory per container.
    pub dir: PathBuf,
}

/// Checks a container id: runc allows `[\w+\-.]+`, no path separators.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'"
        )))
    }
}

impl Root {
    /// A state root at `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root { dir: dir.into() }
    }

    /// The directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Reserves `id`: creates its directory, failing if it exists.
    pub fn reserve(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        std::fs::create_dir_all(&self.dir).ctx(|| format!("state root {}", self.dir.display()))?;
        let d = self.container_dir(id);
        match std::fs::create_dir(&d) {
            Ok(()) => Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_string()))
            }
            Err(e) => Err(Error::io(format!("state dir {}", d.display()), e)),
        }
    }

    /// Loads a container's saved state.
    pub fn load(&self, id: &str) -> Result<Saved> {
        check_id(id)?;
        let p = self.container_dir(id).join("state.json");
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io(format!("state {}", p.display()), e)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::Other(format!("container {id}: corrupt state file: {e}")))
    }

    /// The container's config, as saved at create.
    pub fn saved_spec(&self, id: &str) -> Result<oci_spec::runtime::Spec> {
        let raw = std::fs::read(self.container_dir(id).join(CONFIG_COPY))
            .ctx(|| format!("container {id}: config"))?;
        crate::spec::parse_full(&raw)
            .map(|(s, _)| s)
            .map_err(|e| Error::Other(format!("container {id}: {e}")))
    }

    /// Writes a container's state atomically.
    pub fn save(&self, s: &Saved) -> Result<()> {
        let dir = self.container_dir(&s.id);
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(s).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(&tmp, data).ctx(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("state.json"))
            .ctx(|| format!("rename state of {}", s.id))?;
        Ok(())
    }

    /// Ids of all containers under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
            Err(e) => return Err(Error::io(format!("state root {}", self.dir.display()), e)),
        };
        for e in rd.flatten() {
            if e.path().join("state.json").exists() {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        v.sort();
        Ok(v)
    }

    /// Removes a container's state directory.
    pub fn remove(&self, id: &str) -> Result<()> {
        let d = self.container_dir(id);
        match std::fs::remove_dir_all(&d) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove state dir {}", d.display()), e)),
        }
    }
}

impl Saved {
    /// Whether the recorded init process still exists (a zombie counts as gone).
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match strata_os::process::process_stat(self.pid) {
            Some((state, t)) if t == self.pid_start => !matches!(state, 'Z' | 'X'),
            _ => false,
        }
    }

    /// The container's current status.
    pub fn status(&self, root: &Root) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if root.container_dir(&self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if crate::cgroups::is_frozen(&self.cgroup_paths) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state document.
    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: "1.2.0".into(),
            id: self.id.clone(),
            status: status.as_str().into(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.display().to_string(),
            rootfs: self.rootfs.display().to_string(),
            created: self.created.clone(),
            annotations: self.annotations.clone(),
            owner: String::new(),
        }
    }
}

/// Path of a file in a container's state directory.
pub fn state_file(root: &Root, id: &str, name: &str) -> PathBuf {
    root.container_dir(id).join(name)
}

/// Whether `p` exists (without following a final symlink).
pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for ok in ["a", "web-1", "x.y_z+1", "0123456789abcdef"] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reserve_is_exclusive_and_load_reports_missing() {
        let t = tempfile::tempdir().unwrap();
        let r = Root::new(t.path().join("root"));
        r.reserve("c1").unwrap();
        assert!(matches!(r.reserve("c1"), Err(Error::Exists(_))));
        assert!(matches!(r.load("nope"), Err(Error::NotFound(_))));
    }

    #[test]
    fn dead_pid_is_stopped() {
        let t = tempfile::tempdir().unwrap();
        let r = Root::new(t.path());
        let s = Saved {
            id: "x".into(),
            pid: i32::MAX - 1,
            pid_start: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            annotations: Default::default(),
            cgroup_paths: vec![],
            systemd_unit: None,
            own_pidns: true,
            owner: 0,
            poststart_hooks: false,
            poststop_hooks: false,
            rootfs_base_mount: None,
        };
        assert_eq!(s.status(&r), Status::Stopped);
        assert_eq!(s.oci_state(Status::Stopped).pid, 0);
    }
}
