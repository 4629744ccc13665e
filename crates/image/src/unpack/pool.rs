//! Parallel creation of small regular files. Creating an inode costs far more than
//! writing a few hundred bytes, so small files are handed to a few threads while the tar
//! stream is read in order. Any other entry (directories, links, whiteouts, a second
//! entry for a pending path) waits for the pending files first, which keeps the archive's
//! sequential semantics.

use super::apply::lossy;
use crate::error::{Error, Result};
use crate::fsops::remove_all_at;
use rustix::fs::{self as rfs, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

/// Files up to this size are created by the pool.
pub const SMALL_FILE: u64 = 256 << 10;

/// Metadata to apply to a new regular file.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta {
    /// Permission bits (with set-id and sticky bits).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: u64,
    /// Whether fchown is needed.
    pub chown: bool,
    /// Whether fchmod is needed (umask or special bits).
    pub chmod: bool,
}

/// One file to create.
pub struct FileJob {
    /// The confined parent directory.
    pub parent: Arc<OwnedFd>,
    /// The final component.
    pub base: OsString,
    /// The archive name (for errors).
    pub name: Vec<u8>,
    /// The content.
    pub data: Vec<u8>,
    /// Metadata.
    pub meta: FileMeta,
}

fn sys(op: &str, name: &[u8], e: Errno) -> Error {
    Error::io(format!("{op} {:?}", lossy(name)), e.into())
}

/// Opens `base` in `p` for writing, exclusively created; anything already there
/// (file, symlink, directory) is removed first, never followed.
pub fn create_exclusive(
    p: &OwnedFd,
    base: &OsStr,
    name: &[u8],
    mode: u32,
) -> Result<std::fs::File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let m = Mode::from_raw_mode(mode & 0o777);
    let fd = match rfs::openat(p.as_fd(), base, flags, m) {
        Ok(fd) => fd,
        Err(Errno::EXIST) => {
            remove_all_at(p, base).map_err(|e| sys("remove", name, e))?;
            rfs::openat(p.as_fd(), base, flags, m).map_err(|e| sys("create", name, e))?
        }
        Err(e) => return Err(sys("create", name, e)),
    };
    Ok(std::fs::File::from(fd))
}

/// Applies owner, mode and mtime to a just-written file.
pub fn finish_file(fd: &OwnedFd, name: &[u8], meta: &FileMeta) -> Result<()> {
    if meta.chown {
        // SAFETY: tar ids are clamped below u32::MAX, so never the "unchanged" value -1.
        let (u, g) = unsafe { (rfs::Uid::from_raw(meta.uid), rfs::Gid::from_raw(meta.gid)) };
        rfs::fchown(fd.as_fd(), Some(u), Some(g)).map_err(|e| sys("chown", name, e))?;
    }
    if meta.chmod {
        rfs::fchmod(fd.as_fd(), Mode::from_raw_mode(meta.mode))
            .map_err(|e| sys("chmod", name, e))?;
    }
    let t = Timespec {
        tv_sec: meta.mtime as i64,
        tv_nsec: 0,
    };
    let ts = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rfs::futimens(fd.as_fd(), &ts).map_err(|e| sys("utimes", name, e))
}

fn run(job: FileJob) -> Result<()> {
    let mut f = create_exclusive(&job.parent, &job.base, &job.name, job.meta.mode)?;
    f.write_all(&job.data)
        .map_err(|e| Error::io(format!("write {:?}", lossy(&job.name)), e))?;
    finish_file(&OwnedFd::from(f), &job.name, &job.meta)
}

#[derive(Default)]
struct State {
    pending: usize,
    error: Option<Error>,
}

/// The worker pool; lives inside a `std::thread::scope`.
pub struct Pool {
    tx: Option<SyncSender<FileJob>>,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl Pool {
    /// Starts `n` workers in `scope`.
    pub fn start<'s>(scope: &'s std::thread::Scope<'s, '_>, n: usize) -> Pool {
        let (tx, rx) = sync_channel::<FileJob>(256);
        let rx: Arc<Mutex<Receiver<FileJob>>> = Arc::new(Mutex::new(rx));
        let state = Arc::new((Mutex::new(State::default()), Condvar::new()));
        for _ in 0..n {
            let (rx, state) = (rx.clone(), state.clone());
            scope.spawn(move || loop {
                let job = match rx.lock().expect("pool receiver").recv() {
                    Ok(j) => j,
                    Err(_) => return,
                };
                let r = run(job);
                let (m, cv) = &*state;
                let mut s = m.lock().expect("pool state");
                s.pending -= 1;
                if let Err(e) = r {
                    s.error.get_or_insert(e);
                }
                if s.pending == 0 {
                    cv.notify_all();
                }
            });
        }
        Pool {
            tx: Some(tx),
            state,
        }
    }

    /// Queues a file (reports an earlier worker error instead, if any).
    pub fn submit(&self, job: FileJob) -> Result<()> {
        {
            let mut s = self.state.0.lock().expect("pool state");
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            s.pending += 1;
        }
        self.tx
            .as_ref()
            .expect("pool open")
            .send(job)
            .map_err(|_| Error::task("unpack worker pool", "stopped"))
    }

    /// Waits until every queued file is written; returns the first error.
    pub fn barrier(&self) -> Result<()> {
        let (m, cv) = &*self.state;
        let mut s = m.lock().expect("pool state");
        while s.pending > 0 {
            s = cv.wait(s).expect("pool state");
        }
        match s.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Waits for the queued files and stops the workers.
    pub fn close(mut self) -> Result<()> {
        let r = self.barrier();
        self.tx = None;
        r
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Stop the workers (the scope joins them); wait for queued jobs first so nothing
        // writes into a snapshot after its owner gave up on it.
        let _ = self.barrier();
        self.tx = None;
    }
}
