//! After pivot_root: masked paths, read-only paths, the read-only root, and checked /proc
//! writes. Paths are resolved inside the new root with [`super::safe_path`].

use super::safe_path;
use crate::error::{Context, Error, Result};
use crate::sys;
use std::os::fd::AsRawFd;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Hides each path: a directory gets an empty read-only tmpfs, anything else /dev/null.
pub fn mask(paths: &[String]) -> Result<()> {
    let root = sys::open("/", libc::O_PATH | libc::O_DIRECTORY, 0).ctx(|| "open /".into())?;
    for p in paths {
        let fd = match safe_path::open_in_root(root.as_raw_fd(), p, libc::O_PATH) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::io(format!("masked path {p}"), e)),
        };
        let t = sys::fd_path(fd.as_raw_fd());
        let is_dir = std::fs::metadata(&t).map(|m| m.is_dir()).unwrap_or(false);
        let r = if is_dir {
            sys::mount(Some("tmpfs"), &t, Some("tmpfs"), libc::MS_RDONLY, None)
        } else {
            sys::mount(Some("/dev/null"), &t, None, libc::MS_BIND, None)
        };
        r.ctx(|| format!("masked path {p}"))?;
    }
    Ok(())
}

/// Makes each path read-only (a bind onto itself, remounted read-only).
pub fn readonly(paths: &[String]) -> Result<()> {
    let root = sys::open("/", libc::O_PATH | libc::O_DIRECTORY, 0).ctx(|| "open /".into())?;
    for p in paths {
        let fd = match safe_path::open_in_root(root.as_raw_fd(), p, libc::O_PATH) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::io(format!("readonly path {p}"), e)),
        };
        let t = sys::fd_path(fd.as_raw_fd());
        sys::mount(Some(&t), &t, None, libc::MS_BIND | libc::MS_REC, None)
            .ctx(|| format!("readonly path {p}"))?;
        let fd = safe_path::open_in_root(root.as_raw_fd(), p, libc::O_PATH)
            .ctx(|| format!("readonly path {p}"))?;
        let t = sys::fd_path(fd.as_raw_fd());
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC;
        if sys::mount(None, &t, None, flags, None).is_err() {
            // Keep the flags the kernel locks inside a user namespace.
            sys::mount(
                None,
                &t,
                None,
                flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )
            .ctx(|| format!("remount {p} read-only"))?;
        }
    }
    Ok(())
}

/// Remounts the new root read-only.
pub fn readonly_root() -> Result<()> {
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    if sys::mount(None, "/", None, flags, None).is_err() {
        sys::mount(
            None,
            "/",
            None,
            flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )
        .ctx(|| "remount / read-only".into())?;
    }
    Ok(())
}

/// Writes `value` to a file under /proc only after checking the opened file really lives on
/// procfs, so a container that put something else over /proc cannot redirect the runtime's
/// writes (CVE-2019-16884 class).
pub fn write_proc(path: &str, value: &str) -> Result<()> {
    let fd =
        sys::open(path, libc::O_WRONLY | libc::O_NOFOLLOW, 0).ctx(|| format!("open {path}"))?;
    check_procfs(fd.as_raw_fd(), path)?;
    sys::write_all(fd.as_raw_fd(), value.as_bytes()).ctx(|| format!("write {path}"))
}

/// Fails unless `fd` is on a procfs.
pub fn check_procfs(fd: std::os::fd::RawFd, path: &str) -> Result<()> {
    let t = sys::fstatfs_type(fd).ctx(|| format!("statfs {path}"))?;
    if t != PROC_SUPER_MAGIC {
        return Err(Error::Other(format!(
            "{path} is not on procfs (file system type {t:#x}): refusing to write to it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_write_refuses_non_procfs() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("oom_score_adj");
        std::fs::write(&f, "").unwrap();
        let e = write_proc(f.to_str().unwrap(), "0").unwrap_err();
        assert!(e.to_string().contains("not on procfs"), "{e}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "");
        // A real procfs file passes the check.
        let fd = sys::open("/proc/self/comm", libc::O_RDONLY, 0).unwrap();
        check_procfs(fd.as_raw_fd(), "/proc/self/comm").unwrap();
    }
}
