//! After pivot_root: masked paths, read-only paths, the read-only root, and checked /proc
//! writes. Paths are resolved inside the new root with [`Confined`].

use crate::error::{Context, Error, Result};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use strata_os::fd::{self, fd_path};
use strata_os::{mount, Confined};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Hides each path: a directory gets an empty read-only tmpfs, anything else /dev/null.
pub fn mask(paths: &[String]) -> Result<()> {
    let slash = open_slash()?;
    let root = Confined::new(slash.as_fd());
    for p in paths {
        let fd = match root.open(p, libc::O_PATH) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::io(format!("masked path {p}"), e)),
        };
        let t = fd_path(fd.as_raw_fd());
        let is_dir = std::fs::metadata(&t).map(|m| m.is_dir()).unwrap_or(false);
        let r = if is_dir {
            let tmpfs = Some(OsStr::new("tmpfs"));
            mount::mount(tmpfs, &t, Some("tmpfs"), libc::MS_RDONLY, None)
        } else {
            mount::bind(Path::new("/dev/null"), &t, 0)
        };
        r.ctx(|| format!("masked path {p}"))?;
    }
    Ok(())
}

/// Makes each path read-only (a bind onto itself, remounted read-only).
pub fn readonly(paths: &[String]) -> Result<()> {
    let slash = open_slash()?;
    let root = Confined::new(slash.as_fd());
    for p in paths {
        let fd = match root.open(p, libc::O_PATH) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Error::io(format!("readonly path {p}"), e)),
        };
        let t = fd_path(fd.as_raw_fd());
        mount::bind(&t, &t, libc::MS_REC).ctx(|| format!("readonly path {p}"))?;
        let fd = root
            .open(p, libc::O_PATH)
            .ctx(|| format!("readonly path {p}"))?;
        let t = fd_path(fd.as_raw_fd());
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC;
        if mount::change(&t, flags).is_err() {
            // Keep the flags the kernel locks inside a user namespace.
            let locked = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            mount::change(&t, flags | locked).ctx(|| format!("remount {p} read-only"))?;
        }
    }
    Ok(())
}

/// Remounts the new root read-only.
pub fn readonly_root() -> Result<()> {
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    let slash = Path::new("/");
    if mount::change(slash, flags).is_err() {
        let locked = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        mount::change(slash, flags | locked).ctx(|| "remount / read-only".into())?;
    }
    Ok(())
}

/// The new root, for resolving the spec's paths inside it.
fn open_slash() -> Result<OwnedFd> {
    fd::open("/", libc::O_PATH | libc::O_DIRECTORY, 0).ctx(|| "open /".into())
}

/// Writes `value` to a file under /proc only after checking the opened file really lives on
/// procfs, so a container that put something else over /proc cannot redirect the runtime's
/// writes (CVE-2019-16884 class).
pub fn write_proc(path: &str, value: &str) -> Result<()> {
    let fd = fd::open(path, libc::O_WRONLY | libc::O_NOFOLLOW, 0).ctx(|| format!("open {path}"))?;
    check_procfs(fd.as_raw_fd(), path)?;
    fd::write_all(fd.as_raw_fd(), value.as_bytes()).ctx(|| format!("write {path}"))
}

/// Fails unless `fd` is on a procfs.
pub fn check_procfs(fd: std::os::fd::RawFd, path: &str) -> Result<()> {
    let t = fd::fstatfs_type(fd).ctx(|| format!("statfs {path}"))?;
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
        let fd = fd::open("/proc/self/comm", libc::O_RDONLY, 0).unwrap();
        check_procfs(fd.as_raw_fd(), "/proc/self/comm").unwrap();
    }
}
