//! Mounts: `mount(2)`/`umount2(2)`, the descriptor-based mount API (`open_tree`,
//! `move_mount`, `mount_setattr`, `fsopen`/`fsconfig`/`fsmount`), and overlayfs.

use crate::cvt::{cvt, cvt_long, os_cstr, owned, path_cstr, ptr_or_null, EMPTY};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `mount(2)`. `None` arguments pass NULL; an empty `data` passes NULL.
pub fn mount(
    src: Option<&OsStr>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&OsStr>,
) -> io::Result<()> {
    let src = src.map(os_cstr).transpose()?;
    let target = path_cstr(target)?;
    let fstype = fstype.map(|t| os_cstr(OsStr::new(t))).transpose()?;
    let data = data.filter(|d| !d.is_empty()).map(os_cstr).transpose()?;
    // SAFETY: every pointer is NULL or a valid NUL-terminated string living across the call.
    cvt(unsafe {
        libc::mount(
            ptr_or_null(&src),
            target.as_ptr(),
            ptr_or_null(&fstype),
            flags,
            ptr_or_null(&data) as *const libc::c_void,
        )
    })
    .map(drop)
}

/// `mount(2)` without a source, type or data: a propagation change (`MS_PRIVATE`,
/// `MS_SLAVE | MS_REC`, ...) or a remount (`MS_REMOUNT | MS_BIND | MS_RDONLY`).
pub fn change(target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    mount(None, target, None, flags, None)
}

/// A bind mount of `src` onto `target` (`MS_REC` in `extra` for a recursive one).
pub fn bind(src: &Path, target: &Path, extra: libc::c_ulong) -> io::Result<()> {
    mount(
        Some(src.as_os_str()),
        target,
        None,
        libc::MS_BIND | extra,
        None,
    )
}

/// `umount2(2)`.
pub fn umount2(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let t = path_cstr(target)?;
    // SAFETY: `t` is a valid NUL-terminated string.
    cvt(unsafe { libc::umount2(t.as_ptr(), flags) }).map(drop)
}

/// `mount_setattr(2)` on the mount at `fd` (and, with `recursive`, the mounts below it): sets
/// and clears `MOUNT_ATTR_*` flags; `userns_fd` is for `MOUNT_ATTR_IDMAP` (0 otherwise).
pub fn mount_setattr(
    fd: RawFd,
    recursive: bool,
    set: u64,
    clr: u64,
    userns_fd: u64,
) -> io::Result<()> {
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
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` lives across the call and its size is passed; EMPTY is a valid string.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            EMPTY.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    cvt_long(r).map(drop)
}

/// `OPEN_TREE_CLONE` (linux/mount.h): a detached copy of the mount.
pub const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// `open_tree(2)` of the mount at `fd` with `OPEN_TREE_CLONE` (with `recursive`, its
/// submounts too): a detached mount to change and attach elsewhere.
pub fn clone_tree(fd: RawFd, recursive: bool) -> io::Result<OwnedFd> {
    let rec = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    // SAFETY: open_tree on a descriptor we hold with the empty path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            fd,
            EMPTY.as_ptr(),
            OPEN_TREE_CLONE
                | libc::O_CLOEXEC as libc::c_uint
                | libc::AT_EMPTY_PATH as libc::c_uint
                | rec,
        )
    };
    owned(cvt_long(r)? as libc::c_int)
}

/// `move_mount(2)` of the detached or attached mount `from` onto the object `to` (both
/// descriptors, both with empty paths).
pub fn move_mount(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: move_mount between two descriptors we hold, both with empty paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            EMPTY.as_ptr(),
            to,
            EMPTY.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    cvt_long(r).map(drop)
}

/// Whether `p` is the root of a mount (`STATX_ATTR_MOUNT_ROOT`). This also tells a bind
/// mount of a directory onto itself, or of a file, which a device comparison cannot (both
/// sides are on the same file system). Kernels without the attribute (before 5.8) fall back
/// to comparing devices with the parent.
pub fn is_mountpoint(p: &Path) -> bool {
    let Ok(c) = path_cstr(p) else {
        return false;
    };
    // SAFETY: a zeroed statx is a valid out-buffer.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid out-pointer for the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            0,
            &mut st,
        )
    };
    if r != 0 {
        return false;
    }
    let root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if st.stx_attributes_mask & root != 0 {
        return st.stx_attributes & root != 0;
    }
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = p.parent() else {
        return true;
    };
    match (std::fs::symlink_metadata(p), std::fs::metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev() || a.ino() == b.ino(),
        _ => false,
    }
}

/// An overlayfs: read-only `lowers` (top first), and for a writable one an upper and a work
/// directory on the same file system.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// Lower directories, the top one first.
    pub lowers: Vec<PathBuf>,
    /// Upper (writable) directory and its work directory; `None` for a read-only overlay
    /// (which needs at least two lowers).
    pub upper: Option<(PathBuf, PathBuf)>,
    /// Extra options (`index=off`, `volatile`, ...).
    pub options: Vec<String>,
}

/// Longest option string `mount(2)` takes (one page, with room for the terminator).
const MAX_DATA: usize = 4095;

impl Overlay {
    /// The `mount(2)` option string, or `None` if a path cannot be written there (a `,`,
    /// `:` or `\`) or the whole does not fit a page: then [`Overlay::mount`] uses `fsconfig`.
    pub fn data(&self) -> Option<Vec<u8>> {
        let bad = |p: &Path| p.as_os_str().as_bytes().iter().any(|c| b",:\\".contains(c));
        if self.lowers.iter().any(|p| bad(p))
            || self.upper.as_ref().is_some_and(|(u, w)| bad(u) || bad(w))
        {
            return None;
        }
        let mut d = b"lowerdir=".to_vec();
        for (i, l) in self.lowers.iter().enumerate() {
            if i > 0 {
                d.push(b':');
            }
            d.extend_from_slice(l.as_os_str().as_bytes());
        }
        if let Some((u, w)) = &self.upper {
            d.extend_from_slice(b",upperdir=");
            d.extend_from_slice(u.as_os_str().as_bytes());
            d.extend_from_slice(b",workdir=");
            d.extend_from_slice(w.as_os_str().as_bytes());
        }
        for o in &self.options {
            d.push(b',');
            d.extend_from_slice(o.as_bytes());
        }
        (d.len() <= MAX_DATA).then_some(d)
    }

    /// Mounts the overlay on `target` (read-only when it has no upper).
    pub fn mount(&self, target: &Path) -> io::Result<()> {
        if self.lowers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "overlay: no lower directory",
            ));
        }
        let flags = if self.upper.is_none() {
            libc::MS_RDONLY
        } else {
            0
        };
        match self.data() {
            Some(d) => mount(
                Some(OsStr::new("overlay")),
                target,
                Some("overlay"),
                flags,
                Some(OsStr::from_bytes(&d)),
            ),
            None => self.mount_by_fsconfig(target),
        }
    }

    /// Many or awkward lower paths: one `lowerdir+` parameter per layer (Linux 6.8+), no
    /// escaping and no page limit.
    fn mount_by_fsconfig(&self, target: &Path) -> io::Result<()> {
        let fs = fsopen("overlay")?;
        for l in &self.lowers {
            fsconfig_string(fs.as_raw_fd(), "lowerdir+", l.as_os_str())?;
        }
        if let Some((u, w)) = &self.upper {
            fsconfig_string(fs.as_raw_fd(), "upperdir", u.as_os_str())?;
            fsconfig_string(fs.as_raw_fd(), "workdir", w.as_os_str())?;
        }
        for o in &self.options {
            let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
            if v.is_empty() {
                fsconfig(fs.as_raw_fd(), FSCONFIG_SET_FLAG, Some(k), None)?;
            } else {
                fsconfig_string(fs.as_raw_fd(), k, OsStr::new(v))?;
            }
        }
        fsconfig(fs.as_raw_fd(), FSCONFIG_CMD_CREATE, None, None)?;
        let attrs = if self.upper.is_none() {
            MOUNT_ATTR_RDONLY
        } else {
            0
        };
        // SAFETY: fsmount on the configured context we hold.
        let m = owned(unsafe {
            libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) as libc::c_int
        })?;
        let t = crate::fd::open(target, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        move_mount(m.as_raw_fd(), t.as_raw_fd())
    }
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
/// `MOUNT_ATTR_RDONLY` (linux/mount.h).
pub const MOUNT_ATTR_RDONLY: u64 = 1;

fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    let t = os_cstr(OsStr::new(fstype))?;
    // SAFETY: `t` is a valid C string for the duration of the call.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) as libc::c_int })
}

fn fsconfig_string(fs: RawFd, key: &str, value: &OsStr) -> io::Result<()> {
    fsconfig(fs, FSCONFIG_SET_STRING, Some(key), Some(value))
}

fn fsconfig(
    fs: RawFd,
    cmd: libc::c_uint,
    key: Option<&str>,
    value: Option<&OsStr>,
) -> io::Result<()> {
    let k: Option<CString> = key.map(|k| os_cstr(OsStr::new(k))).transpose()?;
    let v: Option<CString> = value.map(os_cstr).transpose()?;
    // SAFETY: key and value are NULL or valid C strings living across the call; aux is 0.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs,
            cmd,
            ptr_or_null(&k),
            ptr_or_null(&v),
            0,
        )
    };
    cvt_long(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_refused_for_awkward_paths_and_long_lists() {
        let mut o = Overlay {
            lowers: vec!["/a".into(), "/b".into()],
            upper: Some(("/u".into(), "/w".into())),
            options: vec!["index=off".into()],
        };
        assert_eq!(
            o.data().unwrap(),
            b"lowerdir=/a:/b,upperdir=/u,workdir=/w,index=off".to_vec()
        );
        o.lowers.push("/x:y".into());
        assert!(o.data().is_none());
        o.lowers = (0..200)
            .map(|i| PathBuf::from(format!("/var/lib/strata/{i:064}")))
            .collect();
        assert!(o.data().is_none(), "more than a page");
    }

    #[test]
    fn self_binds_and_file_binds_are_mount_points() {
        if !strata_testkit::require_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        let f = t.path().join("f");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(&f, "").unwrap();
        assert!(!is_mountpoint(&d) && !is_mountpoint(&f));
        bind(&d, &d, 0).unwrap();
        bind(Path::new("/etc/hostname"), &f, 0).unwrap();
        let (dm, fm) = (is_mountpoint(&d), is_mountpoint(&f));
        umount2(&d, libc::MNT_DETACH).unwrap();
        umount2(&f, libc::MNT_DETACH).unwrap();
        assert!(dm, "a directory bound onto itself");
        assert!(fm, "a bind-mounted file");
        assert!(!is_mountpoint(&d));
        assert!(is_mountpoint(Path::new("/proc")));
    }

    /// Mounts a writable overlay both ways (option string, and `lowerdir+` for the long list)
    /// and checks the merged view. Needs root (mounts).
    #[test]
    fn overlay_mounts_both_ways() {
        if !strata_testkit::require_root() {
            return;
        }
        for many in [false, true] {
            let t = tempfile::tempdir().unwrap();
            let mut lowers = Vec::new();
            let n = if many { 60 } else { 2 };
            for i in 0..n {
                // Long names push the 60-layer list past a page.
                let l = t.path().join(format!("lower-{i:0>60}"));
                std::fs::create_dir(&l).unwrap();
                std::fs::write(l.join(format!("f{i}")), format!("{i}")).unwrap();
                std::fs::write(l.join("top"), format!("{i}")).unwrap();
                lowers.insert(0, l);
            }
            let (u, w, m) = (t.path().join("u"), t.path().join("w"), t.path().join("m"));
            for d in [&u, &w, &m] {
                std::fs::create_dir(d).unwrap();
            }
            let o = Overlay {
                lowers,
                upper: Some((u.clone(), w)),
                options: vec![],
            };
            assert_eq!(o.data().is_none(), many);
            o.mount(&m).unwrap();
            let seen = std::fs::read_to_string(m.join("top"));
            std::fs::write(m.join("new"), "x").unwrap();
            let f0 = m.join("f0").exists();
            umount2(&m, libc::MNT_DETACH).unwrap();
            assert_eq!(seen.unwrap(), format!("{}", n - 1), "the top layer wins");
            assert!(f0);
            assert!(u.join("new").exists(), "writes land in the upper dir");
        }
    }
}
