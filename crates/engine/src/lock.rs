//! Per-object locks between CLI processes: an exclusive `flock` on a file in the run root,
//! held while a command changes a container (or pod, network...), released when the guard
//! drops or the process dies (the kernel releases it: a killed CLI never leaves a lock).

use crate::error::{IoContext, Result};
use crate::paths::Paths;
use std::fs::File;
use std::os::fd::AsRawFd;

/// A held lock.
pub struct Lock(#[allow(dead_code)] File);

/// Takes the exclusive lock named `name` (a container id, `pod-<id>`, `net-<name>`...),
/// waiting for it.
pub fn lock(paths: &Paths, name: &str) -> Result<Lock> {
    let dir = paths.locks();
    std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
    let p = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .ctx(|| format!("open lock {}", p.display()))?;
    loop {
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(Lock(f));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).ctx(|| format!("lock {}", p.display()));
        }
    }
}

/// Removes the lock file of an object that no longer exists (best effort).
pub fn forget(paths: &Paths, name: &str) {
    let _ = std::fs::remove_file(paths.locks().join(name));
}
