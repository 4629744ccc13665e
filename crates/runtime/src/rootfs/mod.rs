//! The container's root filesystem: everything between a new mount namespace and a process
//! whose `/` is the bundle's rootfs.

pub mod cgroupfs;
pub mod devices;
pub mod idmap;
pub mod mounts;
pub mod options;
pub mod paths;
pub mod pivot;

use crate::cgroups::CgroupDir;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use strata_os::{fd, mount, Confined};

/// Inputs to [`prepare`] besides the spec.
pub struct Setup<'a> {
    /// Absolute rootfs path on the host.
    pub rootfs: &'a Path,
    /// The container's cgroup directories (for the `cgroup` mount type).
    pub cgroups: &'a [CgroupDir],
    /// Own cgroup namespace.
    pub cgroupns: bool,
    /// Own network namespace.
    pub netns: bool,
    /// Inside a new user namespace (devices are bind-mounted, not created).
    pub userns: bool,
    /// User namespace fds of idmapped mounts, index-aligned with the spec's mounts.
    pub idmaps: &'a [Option<std::os::fd::RawFd>],
    /// In a mount namespace of its own; without one the set-up happens in the runtime's, where
    /// `/` is left alone and only the rootfs bind gets the propagation.
    pub mntns: bool,
}

/// Before pivot_root: propagation, the rootfs bind, the spec's mounts, devices and links.
/// Returns an fd of the rootfs mount.
pub fn prepare(spec: &Spec, s: &Setup) -> Result<OwnedFd> {
    let linux = spec.linux().as_ref();
    // Nothing mounted from here on may propagate back to the host.
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty());
    let flag = match prop {
        Some(p) => options::propagation_flag(p).ok_or_else(|| {
            Error::Spec(format!("rootfsPropagation {p:?} is not a propagation mode"))
        })?,
        None => libc::MS_SLAVE | libc::MS_REC,
    };
    // The tree is a slave while the rootfs is set up (no mount is shared at pivot_root); the
    // modes that cannot or should not apply to it now are applied to the new root after.
    let setup_flag = if after_pivot(flag) {
        libc::MS_SLAVE | libc::MS_REC
    } else {
        flag
    };
    if s.mntns {
        mount::change(Path::new("/"), setup_flag)
            .ctx(|| "make / private to the container".into())?;
    }
    mount::bind(s.rootfs, s.rootfs, libc::MS_REC)
        .ctx(|| format!("bind rootfs {}", s.rootfs.display()))?;
    if !s.mntns {
        mount::change(s.rootfs, setup_flag)
            .ctx(|| format!("rootfs {} propagation", s.rootfs.display()))?;
    }
    let root = fd::open(s.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| format!("open rootfs {}", s.rootfs.display()))?;
    let env = mounts::MountEnv {
        root: Confined::new(root.as_fd()),
        cgroups: s.cgroups,
        cgroupns: s.cgroupns,
        netns: s.netns,
        idmaps: s.idmaps,
    };
    let mut dev_is_bound = false;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let dest = m.destination();
        if mounts::under_proc(dest) && dest != Path::new("/proc") {
            let t = m.typ().as_deref().unwrap_or("");
            if t != "proc" && !is_bind(m) {
                return Err(Error::Spec(format!(
                    "mount on {}: only binds and procfs may be mounted under /proc",
                    dest.display()
                )));
            }
        }
        if dest == Path::new("/proc") && m.typ().as_deref() != Some("proc") {
            return Err(Error::Spec(
                "mount on /proc: must be of type proc (CVE-2019-16884)".into(),
            ));
        }
        if dest == Path::new("/dev") && is_bind(m) {
            dev_is_bound = true;
        }
        mounts::mount_one(&env, i, m)?;
    }
    if !dev_is_bound {
        let mut nodes = devices::defaults();
        for d in linux
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
        {
            let n = devices::from_spec(d);
            nodes.retain(|x| x.path != n.path);
            nodes.push(n);
        }
        devices::create(env.root, &nodes, s.userns)?;
        devices::links(env.root)?;
    }
    Ok(root)
}

/// The id of the mount `path` is on (the topmost one there).
pub fn mount_id(path: &Path) -> Result<u64> {
    let what = || format!("mount id of {}", path.display());
    let fd = fd::open(path, libc::O_PATH, 0).ctx(what)?;
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ctx(what)?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::Other(format!("{}: no mnt_id in fdinfo", what())))
}

/// For a container without a mount namespace of its own, whose mounts were made in the
/// runtime's: detaches what is mounted on `rootfs` above the mount `base` that was there
/// before create (the rootfs bind, with every mount under it). A rootfs gone is nothing to do.
pub fn detach_above(rootfs: &Path, base: u64) -> Result<()> {
    match mount_id(rootfs) {
        Ok(id) if id != base => mount::umount2(rootfs, libc::MNT_DETACH)
            .ctx(|| format!("unmount rootfs {}", rootfs.display())),
        _ => Ok(()),
    }
}

/// Whether a rootfsPropagation mode is applied to `/` after pivot_root rather than to the tree
/// before the rootfs bind: shared (the set-up would propagate to the host), unbindable (the
/// rootfs could not be bound), and the non-recursive modes (on the old `/` they would miss the
/// mount the rootfs is on). rprivate and rslave apply before, so the binds' own propagation
/// options made after them stay.
fn after_pivot(flag: libc::c_ulong) -> bool {
    flag & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 || flag & libc::MS_REC == 0
}

fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// After pivot_root: masked and read-only paths, the read-only root, final propagation.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    if let Some(p) = linux.and_then(|l| l.readonly_paths().as_ref()) {
        paths::readonly(p)?;
    }
    if let Some(p) = linux.and_then(|l| l.masked_paths().as_ref()) {
        paths::mask(p)?;
    }
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(options::propagation_flag)
    {
        if after_pivot(p) {
            mount::change(Path::new("/"), p).ctx(|| "rootfs propagation".into())?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        paths::readonly_root()?;
    }
    Ok(())
}
