//! Discovering the host's cgroup layout.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory name under the cgroup root ("memory", "cpu,cpuacct", "systemd", "unified").
    pub name: String,
    /// Mount point.
    pub mount: PathBuf,
    /// Controllers it carries (for v2: those in cgroup.controllers).
    pub controllers: Vec<String>,
    /// cgroup2?
    pub v2: bool,
}

/// The host's layout.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Mounted hierarchies (for a pure v2 host, one).
    pub hierarchies: Vec<Hierarchy>,
    /// Pure v2 host.
    pub unified_only: bool,
}

fn fs_type(p: &Path) -> Option<i64> {
    let fd = strata_os::fd::open(p, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
    strata_os::fd::fstatfs_type(fd.as_raw_fd()).ok()
}

impl Layout {
    /// Looks at `root` (normally /sys/fs/cgroup).
    pub fn detect_at(root: &Path) -> Layout {
        if fs_type(root) == Some(CGROUP2_SUPER_MAGIC) {
            return Layout {
                hierarchies: vec![Hierarchy {
                    name: String::new(),
                    mount: root.to_path_buf(),
                    controllers: v2_controllers(root),
                    v2: true,
                }],
                unified_only: true,
            };
        }
        let mut hs = Vec::new();
        if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
                    continue;
                }
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                match fs_type(&p) {
                    Some(CGROUP_SUPER_MAGIC) => hs.push(Hierarchy {
                        controllers: name
                            .split(',')
                            .map(|c| c.trim_start_matches("name=").to_string())
                            .collect(),
                        name,
                        mount: p,
                        v2: false,
                    }),
                    Some(CGROUP2_SUPER_MAGIC) => hs.push(Hierarchy {
                        controllers: v2_controllers(&p),
                        name,
                        mount: p,
                        v2: true,
                    }),
                    _ => {}
                }
            }
        }
        hs.sort_by(|a, b| a.name.cmp(&b.name));
        Layout {
            hierarchies: hs,
            unified_only: false,
        }
    }

    /// The host's layout under /sys/fs/cgroup.
    pub fn detect() -> Layout {
        Layout::detect_at(Path::new("/sys/fs/cgroup"))
    }

    /// The v1 hierarchy carrying `controller`.
    pub fn v1(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
    }

    /// The v2 hierarchy (pure v2 root or the hybrid "unified" mount).
    pub fn v2(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.v2)
    }

    /// A short description for `features` and errors.
    pub fn describe(&self) -> &'static str {
        if self.unified_only {
            "v2"
        } else if self.v2().is_some() {
            "v1 (hybrid)"
        } else {
            "v1"
        }
    }
}

fn v2_controllers(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_is_understood() {
        let l = Layout::detect();
        assert!(
            !l.hierarchies.is_empty(),
            "no cgroup hierarchy found under /sys/fs/cgroup"
        );
        if !l.unified_only {
            assert!(l.v1("memory").is_some(), "{l:?}");
        }
    }
}
