//! Creating, filling, updating and removing a container's cgroups.

use super::fs::{read, write, CgroupDir};
use super::layout::Layout;
use super::{path, v1, v2};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The cgroups of one container.
#[derive(Clone, Debug, Default)]
pub struct Manager {
    /// Its directories, one per hierarchy.
    pub dirs: Vec<CgroupDir>,
}

/// Clones like [`strata_os::process::clone_fork`], the child starting in the cgroup2
/// directory of `dirs` (if there is one) where the kernel can (`CLONE_INTO_CGROUP`): then it
/// needs no move there, whose threadgroup write lock can wait for an RCU grace period (see
/// [`Manager::join_v1_self`]). Returns the pid (0 in the child) and whether the child is in
/// that directory already.
///
/// # Safety
/// As `clone_fork`'s: the caller is single-threaded.
pub unsafe fn clone_into_v2(
    flags: libc::c_int,
    dirs: &[CgroupDir],
) -> std::io::Result<(libc::pid_t, bool)> {
    use strata_os::process::{clone_fork, clone_fork_into_cgroup};
    let v2 = dirs
        .iter()
        .find(|d| d.v2)
        .and_then(|d| strata_os::fd::open(&d.path, libc::O_PATH | libc::O_DIRECTORY, 0).ok());
    if let Some(fd) = v2 {
        // SAFETY: the caller is single-threaded (this function's contract).
        if let Ok(pid) = unsafe { clone_fork_into_cgroup(flags, fd.as_raw_fd()) } {
            return Ok((pid, true));
        }
        // An older kernel (or a directory it refuses): no child was made; the parent moves it.
    }
    // SAFETY: as above.
    unsafe { clone_fork(flags) }.map(|pid| (pid, false))
}

impl Manager {
    /// Creates the container's directories in every hierarchy and applies `resources`.
    /// On failure nothing created here is left behind.
    pub fn create(
        layout: &Layout,
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
        resources: Option<&LinuxResources>,
    ) -> Result<Manager> {
        let rel = path::container_path(cgroups_path, id, systemd).map_err(Error::Spec)?;
        let mut m = Manager::default();
        let mut created: Vec<PathBuf> = Vec::new();
        let self_cgroup = if rel.starts_with('/') {
            String::new()
        } else {
            std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default()
        };
        let r = (|| {
            // On a hybrid host the unified hierarchy is joined only when the resources need it
            // (hugetlb there, or the unified map): every join is a cgroup migration.
            let needs_unified = resources.is_some_and(|r| {
                r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty())
                    || r.unified().as_ref().is_some_and(|u| !u.is_empty())
            });
            for h in &layout.hierarchies {
                if h.v2 && !layout.unified_only && !needs_unified {
                    continue;
                }
                let base = if rel.starts_with('/') {
                    rel.clone()
                } else {
                    let own = path::own_cgroup(&self_cgroup, &h.controllers, h.v2);
                    format!("{}/{}", own.trim_end_matches('/'), rel)
                };
                let dir = h.mount.join(base.trim_start_matches('/'));
                mkdir_p(&h.mount, &dir, &mut created)?;
                if !h.v2 && h.controllers.iter().any(|c| c == "cpuset") {
                    v1::cpuset::inherit(&h.mount, &dir)?;
                }
                // On a hybrid host the unified hierarchy is here for what only it carries.
                if h.v2 {
                    v2::enable_controllers(&h.mount, &dir)?;
                }
                m.dirs.push(CgroupDir {
                    hierarchy: h.name.clone(),
                    path: dir,
                    v2: h.v2,
                });
            }
            if let Some(res) = resources {
                m.apply(layout, res, true)?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            for d in created.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            return Err(e);
        }
        Ok(m)
    }

    /// Applies resources (at create, or live for `update`).
    pub fn apply(&self, layout: &Layout, res: &LinuxResources, initial: bool) -> Result<()> {
        grantable(&self.dirs, layout, res)?;
        for d in &self.dirs {
            if d.v2 {
                v2::apply(&d.path, res, layout.unified_only, initial)?;
            } else {
                v1::apply(d, res, initial)?;
            }
        }
        Ok(())
    }

    /// Places `pid` in the v1 directories (`v1`) and the cgroup2 one (`v2`); those not asked
    /// for it joined itself ([`Manager::join_v1_self`]) or was cloned into
    /// ([`clone_into_v2`]).
    pub fn add(&self, pid: libc::pid_t, v1: bool, v2: bool) -> Result<()> {
        let s = pid.to_string();
        for d in self.dirs.iter().filter(|d| if d.v2 { v2 } else { v1 }) {
            write(&d.path, "cgroup.procs", &s)?;
        }
        Ok(())
    }

    /// Moves the calling thread into the v1 directories of `dirs`: for the init of a
    /// container, a single-threaded process, before it starts any other. Moving another
    /// process (its pid into `cgroup.procs`) takes the kernel's threadgroup lock for writing,
    /// which waits for an RCU grace period (up to ~15 ms here) unless another move just did;
    /// a thread moving itself (`0` into `tasks`) takes no such lock.
    pub fn join_v1_self(dirs: &[CgroupDir]) -> Result<()> {
        for d in dirs.iter().filter(|d| !d.v2) {
            write(&d.path, "tasks", "0")?;
        }
        Ok(())
    }

    /// Removes the directories (the processes must be gone). Retries briefly while the kernel
    /// still counts exiting tasks.
    pub fn destroy(dirs: &[CgroupDir]) -> Result<()> {
        for d in dirs {
            let mut tries = 0;
            loop {
                match std::fs::remove_dir(&d.path) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(e) => {
                        return Err(Error::Other(format!(
                            "cgroup {}: remove: {e}",
                            d.path.display()
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// Pids in the container's cgroup (from the first hierarchy that lists them).
    pub fn pids(dirs: &[CgroupDir]) -> Vec<libc::pid_t> {
        let pick = dirs
            .iter()
            .find(|d| d.has("pids") || d.has("freezer"))
            .or_else(|| dirs.first());
        let Some(d) = pick else { return vec![] };
        let mut v: Vec<libc::pid_t> = read(&d.path, "cgroup.procs")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        v.sort_unstable();
        v
    }

    /// Freezes (true) or thaws (false) the container.
    pub fn freeze(dirs: &[CgroupDir], on: bool) -> Result<()> {
        let d = dirs
            .iter()
            .find(|d| d.v2 || d.has("freezer"))
            .ok_or_else(|| Error::Other("cgroup: no freezer available on this host".into()))?;
        if d.v2 {
            write(&d.path, "cgroup.freeze", if on { "1" } else { "0" })?;
            let want = if on { "frozen 1" } else { "frozen 0" };
            for _ in 0..1000 {
                if read(&d.path, "cgroup.events").is_some_and(|s| s.lines().any(|l| l == want)) {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            return Err(Error::Other(format!(
                "cgroup {}: freeze did not settle",
                d.path.display()
            )));
        }
        let want = if on { "FROZEN" } else { "THAWED" };
        for _ in 0..1000 {
            write(&d.path, "freezer.state", want)?;
            if read(&d.path, "freezer.state").as_deref() == Some(want) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(Error::Other(format!(
            "cgroup {}: freezer did not reach {want}",
            d.path.display()
        )))
    }

    /// How many times the OOM killer acted in the container.
    pub fn oom_kills(dirs: &[CgroupDir]) -> u64 {
        for d in dirs {
            let (file, key) = if d.v2 {
                ("memory.events", "oom_kill")
            } else if d.has("memory") {
                ("memory.oom_control", "oom_kill")
            } else {
                continue;
            };
            if let Some(s) = read(&d.path, file) {
                for l in s.lines() {
                    let mut it = l.split_whitespace();
                    if it.next() == Some(key) {
                        return it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                    }
                }
            }
        }
        0
    }
}

/// Refuses the resources none of the container's hierarchies carries (on our hosts: net_cls
/// and net_prio, bound to cgroup2 where they have no files): the spec wants an error, not a
/// container without them.
fn grantable(dirs: &[CgroupDir], layout: &Layout, r: &LinuxResources) -> Result<()> {
    let v2_has = |c: &str| {
        layout
            .v2()
            .is_some_and(|h| h.controllers.iter().any(|x| x == c))
    };
    let carried = |c: &str| dirs.iter().any(|d| d.has(c) || (d.v2 && v2_has(c)));
    let missing = |what: String, c: &str| {
        Error::Other(format!(
            "cgroup: {what}: no cgroup hierarchy on this host carries the {c} controller"
        ))
    };
    let net = r.network().as_ref();
    if let Some(id) = net.and_then(|n| n.class_id()) {
        if !carried("net_cls") {
            return Err(missing(
                format!("network classID {id}"),
                "net_cls (cgroup v1)",
            ));
        }
    }
    if net
        .and_then(|n| n.priorities().as_ref())
        .is_some_and(|p| !p.is_empty())
        && !carried("net_prio")
    {
        return Err(missing("network priorities".into(), "net_prio (cgroup v1)"));
    }
    if let Some(h) = r.hugepage_limits().as_ref().and_then(|v| v.first()) {
        if !carried("hugetlb") {
            return Err(missing(
                format!("hugetlb limit for {}", h.page_size()),
                "hugetlb",
            ));
        }
    }
    Ok(())
}

fn mkdir_p(mount: &Path, dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        if p.starts_with(mount) && p != mount {
            mkdir_p(mount, p, created)?;
        }
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Other(format!(
            "cgroup {}: create: {e}",
            dir.display()
        ))),
    }
}
