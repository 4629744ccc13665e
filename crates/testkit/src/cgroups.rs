//! A test engine's own cgroup root: the engine puts its containers and pods under
//! `$STRATA_CGROUP_ROOT` (default `/strata`, shared by every engine on the host); a test
//! gives each engine one of its own and removes it, whatever is left below, at its end.

use std::path::{Path, PathBuf};

/// The cgroups are mounted here: a directory per v1 hierarchy, `unified` for a hybrid
/// host's cgroup2 (or the cgroup2 root's own files on a v2 host).
const CGROUPFS: &str = "/sys/fs/cgroup";

/// A cgroup root for a test engine whose directory is `dir` (unique while `dir` exists).
pub fn test_root(dir: &Path) -> String {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    format!("/strata-test-{name}")
}

/// The hierarchies' root directories (each v1 controller's, cgroup2's).
fn hierarchies() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from(CGROUPFS)];
    for e in std::fs::read_dir(CGROUPFS).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
        }
    }
    out
}

/// The cgroups directly below `root` in any hierarchy.
pub fn under(root: &str) -> Vec<String> {
    let rel = root.trim_start_matches('/');
    let mut out = Vec::new();
    for h in hierarchies() {
        for s in std::fs::read_dir(h.join(rel))
            .into_iter()
            .flatten()
            .flatten()
        {
            if s.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(s.path().display().to_string());
            }
        }
    }
    out
}

/// Removes cgroup `root` from every hierarchy, the cgroups left below it first (deepest
/// first: a cgroup goes once it has no children; one with processes stays).
pub fn remove_root(root: &str) {
    let rel = root.trim_start_matches('/');
    if rel.is_empty() {
        return;
    }
    for h in hierarchies() {
        let top = h.join(rel);
        if !top.is_dir() {
            continue;
        }
        let mut dirs = Vec::new();
        let mut todo = vec![top.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                    todo.push(e.path());
                }
            }
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs.iter().chain(std::iter::once(&top)) {
            let _ = std::fs::remove_dir(d);
        }
    }
}
