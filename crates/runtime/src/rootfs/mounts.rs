//! The spec's `mounts`, performed in order inside the container's new mount namespace, before
//! pivot_root. Targets are resolved with [`super::safe_path`] and mounted through their fd.

use super::options::{self, MountOptions};
use super::safe_path;
use crate::error::{Context, Error, Result};
use crate::sys;
use oci_spec::runtime::Mount;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// What the mounts need to know about the container besides the mount list.
pub struct MountEnv<'a> {
    /// O_PATH fd of the rootfs (already a mount point).
    pub root: RawFd,
    /// Host cgroup directories of the container: (hierarchy name as seen under
    /// /sys/fs/cgroup, e.g. "memory" or "" for a pure v2 host, host path).
    pub cgroups: &'a [(String, String)],
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Whether the container has its own network namespace (sysfs needs one).
    pub netns: bool,
    /// User namespace fds of idmapped mounts, index-aligned with the spec's mounts.
    pub idmaps: &'a [Option<RawFd>],
}

/// Performs one mount entry.
pub fn mount_one(env: &MountEnv, index: usize, m: &Mount) -> Result<()> {
    let dest = m.destination().to_string_lossy().into_owned();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let what = || {
        format!(
            "mount {} on {dest}",
            if source.is_empty() { typ } else { &source }
        )
    };

    let idmap = env.idmaps.get(index).copied().flatten();
    if opts.bind.is_some() || typ == "bind" {
        return bind_idmapped(env, &source, &dest, &opts, idmap).map_err(|e| prefix(e, &what()));
    }
    if idmap.is_some() {
        return Err(Error::Spec(format!(
            "mount on {dest}: uidMappings/gidMappings need a bind mount"
        )));
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return super::cgroupfs::mount(env, &dest, &opts, typ).map_err(|e| prefix(e, &what()));
    }
    let target = safe_path::mkdir_all(env.root, &dest, 0o755).ctx(what)?;
    let tpath = sys::fd_path(target.as_raw_fd());
    let flags = opts.flags & !libc::MS_REMOUNT;
    let src = if source.is_empty() { typ } else { &source };
    let r = sys::mount(Some(src), &tpath, Some(typ), flags, Some(&opts.data));
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
            return bind(env, "/sys", &dest, &o).map_err(|e| prefix(e, &what()));
        }
        Err(e) if typ == "mqueue" && e.raw_os_error() == Some(libc::EPERM) => {
            // Without an ipc namespace of its own the container sees the host's mqueue.
            let o = MountOptions {
                flags,
                bind: Some(false),
                ..Default::default()
            };
            return bind(env, "/dev/mqueue", &dest, &o).map_err(|e| prefix(e, &what()));
        }
        Err(e) => return Err(Error::io(what(), e)),
    }
    drop(target);
    after_mount(env.root, &dest, &opts).ctx(what)
}

fn prefix(e: Error, what: &str) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// A bind mount of a host path onto a target inside the root, then the remount that applies
/// the flags a bind ignores, then propagation and recursive attributes.
pub fn bind(env: &MountEnv, source: &str, dest: &str, opts: &MountOptions) -> Result<()> {
    bind_idmapped(env, source, dest, opts, None)
}

/// [`bind`], idmapped with the user namespace `idmap` when given.
fn bind_idmapped(
    env: &MountEnv,
    source: &str,
    dest: &str,
    opts: &MountOptions,
    idmap: Option<RawFd>,
) -> Result<()> {
    // The source is a host path chosen by the user of the runtime (not by the container), so
    // it is opened plainly; the target is resolved inside the root.
    let src = sys::open(source, libc::O_PATH, 0).ctx(|| format!("bind source {source}"))?;
    let is_dir = std::fs::metadata(sys::fd_path(src.as_raw_fd()))
        .map(|m| m.is_dir())
        .ctx(|| format!("bind source {source}"))?;
    let target = if is_dir {
        safe_path::mkdir_all(env.root, dest, 0o755)
    } else {
        safe_path::create_file(env.root, dest, 0o644)
    }
    .ctx(|| format!("bind target {dest}"))?;
    let rec = if opts.bind == Some(true) {
        libc::MS_REC
    } else {
        0
    };
    if let Some(userns) = idmap {
        super::idmap::bind(src.as_raw_fd(), target.as_raw_fd(), rec != 0, userns)?;
    } else {
        let tpath = sys::fd_path(target.as_raw_fd());
        sys::mount(
            Some(&sys::fd_path(src.as_raw_fd())),
            &tpath,
            None,
            libc::MS_BIND | rec,
            None,
        )
        .ctx(|| "bind".into())?;
    }
    // Re-open the target: the fd above still refers to the covered directory.
    let target =
        safe_path::open_in_root(env.root, dest, libc::O_PATH).ctx(|| format!("reopen {dest}"))?;
    let remount = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    if remount != 0 {
        let t = sys::fd_path(target.as_raw_fd());
        let flags = libc::MS_BIND | libc::MS_REMOUNT | remount;
        if let Err(e) = sys::mount(None, &t, None, flags, None) {
            // Locked flags (nodev, nosuid, noexec from the source mount) must be kept when
            // remounting inside a user namespace: retry with the source mount's flags added.
            let extra = locked_flags(&sys::fd_path(src.as_raw_fd()));
            sys::mount(None, &t, None, flags | extra, None)
                .map_err(|_| e)
                .ctx(|| "remount bind".into())?;
        }
    }
    after_mount(env.root, dest, opts).ctx(|| "bind attributes".into())
}

fn locked_flags(path: &str) -> libc::c_ulong {
    let Ok(c) = sys::cstr(path) else { return 0 };
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
fn after_mount(root: RawFd, dest: &str, opts: &MountOptions) -> std::io::Result<()> {
    if opts.propagation.is_empty() && opts.rec_attr_set == 0 && opts.rec_attr_clr == 0 {
        return Ok(());
    }
    // Resolve again inside the root: the new mount now covers the original target.
    let fresh = safe_path::open_in_root(root, dest, libc::O_PATH)?;
    let fp = sys::fd_path(fresh.as_raw_fd());
    for &flag in &opts.propagation {
        sys::mount(None, &fp, None, flag, None)?;
    }
    if opts.rec_attr_set != 0 || opts.rec_attr_clr != 0 {
        mount_setattr(
            fresh.as_raw_fd(),
            true,
            opts.rec_attr_set,
            opts.rec_attr_clr,
            0,
        )?;
    }
    Ok(())
}

/// `mount_setattr(2)` on the mount at `fd` (and, with `recursive`, the mounts below it): sets
/// and clears MOUNT_ATTR_* flags; `userns_fd` is for MOUNT_ATTR_IDMAP (0 otherwise).
pub fn mount_setattr(
    fd: RawFd,
    recursive: bool,
    set: u64,
    clr: u64,
    userns_fd: u64,
) -> std::io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd,
    };
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` lives across the call and its size is passed; `empty` is a valid string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    sys::cvt_long(r).map(drop)
}

/// Whether `p` names a path under /proc (where only procfs may be mounted: CVE-2019-16884).
pub fn under_proc(p: &Path) -> bool {
    p.starts_with("/proc")
}
