//! Per-object locks between CLI processes: an exclusive `flock` on a file in the run root,
//! held while a command changes a container (or pod, network...), released when the guard
//! drops or the process dies (the kernel releases it: a killed CLI never leaves a lock).

use crate::error::{IoContext, Result};
use crate::paths::Paths;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

/// A held lock.
pub struct Lock {
    file: File,
    name: String,
}

/// The locks this process holds, by name, with their descriptors: a monitor started under a
/// lock inherits it (the same open file), so a CLI killed during the start cannot let
/// another command in before the monitor has finished creating the container.
static HELD: Mutex<Vec<(String, RawFd)>> = Mutex::new(Vec::new());

/// The descriptor of the lock `name` if this process holds it.
pub fn held_fd(name: &str) -> Option<RawFd> {
    HELD.lock()
        .ok()?
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, fd)| *fd)
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Ok(mut h) = HELD.lock() {
            h.retain(|(n, fd)| !(n == &self.name && *fd == self.file.as_raw_fd()));
        }
    }
}

/// Takes the exclusive lock named `name` (a container id, `pod-<id>`, `net-<name>`...),
/// waiting for it.
pub fn lock(paths: &Paths, name: &str) -> Result<Lock> {
    Ok(acquire(paths, name, true)?.expect("a blocking lock is taken"))
}

/// Takes the lock named `name` if nobody holds it; `None` if somebody does.
pub fn try_lock(paths: &Paths, name: &str) -> Result<Option<Lock>> {
    acquire(paths, name, false)
}

fn acquire(paths: &Paths, name: &str, wait: bool) -> Result<Option<Lock>> {
    let dir = paths.locks();
    std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
    let p = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .ctx(|| format!("open lock {}", p.display()))?;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), op) };
        if r == 0 {
            if let Ok(mut h) = HELD.lock() {
                h.push((name.to_string(), f.as_raw_fd()));
            }
            return Ok(Some(Lock {
                file: f,
                name: name.to_string(),
            }));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).ctx(|| format!("lock {}", p.display()));
        }
    }
}

/// Removes the lock file of an object that no longer exists (best effort).
pub fn forget(paths: &Paths, name: &str) {
    let _ = std::fs::remove_file(paths.locks().join(name));
}
