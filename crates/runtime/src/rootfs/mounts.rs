//! The spec's `mounts`, performed in order inside the container's new mount namespace, before
//! pivot_root. Targets are resolved inside the root with [`Confined`] and mounted through
//! their fd.

use super::options::{self, MountOptions};
use crate::cgroups::CgroupDir;
use crate::error::{Context, Error, Result};
use oci_spec::runtime::Mount;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use strata_os::fd::{self, fd_path};
use strata_os::{mount, path_cstr, Confined};

/// What the mounts need to know about the container besides the mount list.
pub struct MountEnv<'a> {
    /// The rootfs (already a mount point), where every target is resolved.
    pub root: Confined<'a>,
    /// The container's cgroup directories (the hierarchy name as seen under /sys/fs/cgroup,
    /// e.g. "memory", or "" on a pure v2 host, and the host path).
    pub cgroups: &'a [CgroupDir],
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Whether the container has its own network namespace (sysfs needs one).
    pub netns: bool,
    /// User namespace fds of idmapped mounts, index-aligned with the spec's mounts.
    pub idmaps: &'a [Option<RawFd>],
}

/// Performs one mount entry.
pub fn mount_one(env: &MountEnv, index: usize, m: &Mount) -> Result<()> {
    let dest = m.destination().as_path();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let source = m.source().as_deref().unwrap_or(Path::new(""));
    let what = || {
        format!(
            "mount {} on {}",
            if source.as_os_str().is_empty() {
                Path::new(typ)
            } else {
                source
            }
            .display(),
            dest.display()
        )
    };

    let idmap = env.idmaps.get(index).copied().flatten();
    if opts.bind.is_some() || typ == "bind" {
        return bind_idmapped(env, source, dest, &opts, idmap).map_err(|e| prefix(e, &what()));
    }
    if idmap.is_some() {
        return Err(Error::Spec(format!(
            "mount on {}: uidMappings/gidMappings need a bind mount",
            dest.display()
        )));
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return super::cgroupfs::mount(env, dest, &opts, typ).map_err(|e| prefix(e, &what()));
    }
    let target = env.root.mkdir_all(dest, 0o755).ctx(what)?;
    let flags = opts.flags & !libc::MS_REMOUNT;
    let src = if source.as_os_str().is_empty() {
        OsStr::new(typ)
    } else {
        source.as_os_str()
    };
    let r = mount::mount(
        Some(src),
        &fd_path(target.as_raw_fd()),
        Some(typ),
        flags,
        Some(OsStr::new(&opts.data)),
    );
    match r {
        Ok(()) => {}
        Err(e) if typ == "sysfs" && e.raw_os_error() == Some(libc::EPERM) && !env.netns => {
            // sysfs cannot be mounted without a network namespace of one's own: bind the
            // host's, read-only as runc does.
            let o = MountOptions {
                flags: flags | libc::MS_RDONLY,
                bind: Some(true),
                ..Default::default()
            };
            return bind(env, Path::new("/sys"), dest, &o).map_err(|e| prefix(e, &what()));
        }
        Err(e) if typ == "mqueue" && e.raw_os_error() == Some(libc::EPERM) => {
            // Without an ipc namespace of its own the container sees the host's mqueue.
            let o = MountOptions {
                flags,
                bind: Some(false),
                ..Default::default()
            };
            return bind(env, Path::new("/dev/mqueue"), dest, &o).map_err(|e| prefix(e, &what()));
        }
        Err(e) => return Err(Error::io(what(), e)),
    }
    drop(target);
    after_mount(env.root, dest, &opts).ctx(what)
}

fn prefix(e: Error, what: &str) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// A bind mount of a host path onto a target inside the root, then the remount that applies
/// the flags a bind ignores, then propagation and recursive attributes.
pub fn bind(env: &MountEnv, source: &Path, dest: &Path, opts: &MountOptions) -> Result<()> {
    bind_idmapped(env, source, dest, opts, None)
}

/// [`bind`], idmapped with the user namespace `idmap` when given.
fn bind_idmapped(
    env: &MountEnv,
    source: &Path,
    dest: &Path,
    opts: &MountOptions,
    idmap: Option<RawFd>,
) -> Result<()> {
    // The source is a host path chosen by the user of the runtime (not by the container), so
    // it is opened plainly; the target is resolved inside the root.
    let src =
        fd::open(source, libc::O_PATH, 0).ctx(|| format!("bind source {}", source.display()))?;
    let src_path = fd_path(src.as_raw_fd());
    let is_dir = std::fs::metadata(&src_path)
        .map(|m| m.is_dir())
        .ctx(|| format!("bind source {}", source.display()))?;
    let target = if is_dir {
        env.root.mkdir_all(dest, 0o755)
    } else {
        env.root.create_file(dest, 0o644)
    }
    .ctx(|| format!("bind target {}", dest.display()))?;
    let rec = if opts.bind == Some(true) {
        libc::MS_REC
    } else {
        0
    };
    if let Some(userns) = idmap {
        super::idmap::bind(src.as_raw_fd(), target.as_raw_fd(), rec != 0, userns)?;
    } else {
        mount::bind(&src_path, &fd_path(target.as_raw_fd()), rec).ctx(|| "bind".into())?;
    }
    // Re-open the target: the fd above still refers to the covered directory.
    let target = env
        .root
        .open(dest, libc::O_PATH)
        .ctx(|| format!("reopen {}", dest.display()))?;
    let remount = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    if remount != 0 {
        let t = fd_path(target.as_raw_fd());
        let flags = libc::MS_BIND | libc::MS_REMOUNT | remount;
        if let Err(e) = mount::change(&t, flags) {
            // Locked flags (nodev, nosuid, noexec from the source mount) must be kept when
            // remounting inside a user namespace: retry with the source mount's flags added.
            let extra = locked_flags(&src_path);
            mount::change(&t, flags | extra)
                .map_err(|_| e)
                .ctx(|| "remount bind".into())?;
        }
    }
    after_mount(env.root, dest, opts).ctx(|| "bind attributes".into())
}

fn locked_flags(path: &Path) -> libc::c_ulong {
    let Ok(c) = path_cstr(path) else { return 0 };
    // SAFETY: zeroed statvfs is a valid out-buffer; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let f = st.f_flag;
    let mut out = 0;
    for (st_flag, ms) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_RDONLY, libc::MS_RDONLY),
    ] {
        if f & st_flag != 0 {
            out |= ms;
        }
    }
    out
}

/// Propagation changes and recursive attributes on a freshly made mount.
fn after_mount(root: Confined, dest: &Path, opts: &MountOptions) -> std::io::Result<()> {
    if opts.propagation.is_empty() && opts.rec_attr_set == 0 && opts.rec_attr_clr == 0 {
        return Ok(());
    }
    // Resolve again inside the root: the new mount now covers the original target.
    let fresh = root.open(dest, libc::O_PATH)?;
    let fp = fd_path(fresh.as_raw_fd());
    for &flag in &opts.propagation {
        mount::change(&fp, flag)?;
    }
    if opts.rec_attr_set != 0 || opts.rec_attr_clr != 0 {
        mount::mount_setattr(
            fresh.as_raw_fd(),
            true,
            opts.rec_attr_set,
            opts.rec_attr_clr,
            0,
        )?;
    }
    Ok(())
}

/// Whether `p` names a path under /proc (where only procfs may be mounted: CVE-2019-16884).
pub fn under_proc(p: &Path) -> bool {
    p.starts_with("/proc")
}
