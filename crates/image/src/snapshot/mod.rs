//! Snapshots: one directory per layer chain id, holding that layer's diff in overlayfs
//! upper-dir format (see [`format`]: whiteouts as 0/0 character devices, opaque dirs
//! marked by xattr). A snapshot is built in a temporary directory and renamed into place
//! only when complete and synced, so no command ever sees a half-unpacked one.
//!
//! This module is the snapshot code the unpacker and the store share: it depends on
//! neither (`unpack` writes into a [`PendingSnapshot`] and reports [`DeferredLink`]s,
//! `store` holds the [`Snapshots`] of its root).

pub mod active;
pub mod diff;
pub mod format;
pub mod links;
pub mod mounts;
pub mod unsynced;
pub mod usage;

pub use active::{ActiveDirs, Committed, Info, Kind, Usage};
pub use links::DeferredLink;
pub use mounts::{mount_all, unmount, Mount};

use crate::digest::Digest;
use crate::error::{Error, IoResultExt, Result};
use crate::fsops::{self, join};
use crate::temp::{clean_dead, temp_name};
use rustix::fs as rfs;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use unsynced::Unsynced;

/// The snapshot directories of a store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    tmp: PathBuf,
    unsynced: Unsynced,
}

/// A snapshot being built. Dropping it removes the temporary directory.
pub struct PendingSnapshot {
    /// The temporary directory.
    pub path: PathBuf,
    /// An fd of it, the root for confined application.
    pub fd: OwnedFd,
    done: bool,
}

impl Drop for PendingSnapshot {
    fn drop(&mut self) {
        if !self.done {
            // remove_dir_all does not follow symlinks inside the tree.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

impl Snapshots {
    /// Opens (creating) the snapshot area under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("snapshots");
        let tmp = root.join("tmp");
        fs::create_dir_all(&dir).op(format!("create {}", dir.display()))?;
        fs::create_dir_all(&tmp).op(format!("create {}", tmp.display()))?;
        spread_children(&tmp);
        let unsynced = Unsynced::open(root)?;
        Ok(Snapshots { dir, tmp, unsynced })
    }

    /// Path of a chain id's snapshot.
    pub fn path(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex())
    }

    /// Whether a snapshot exists (complete: incomplete ones are never renamed in).
    pub fn has(&self, chain: &Digest) -> bool {
        self.path(chain).is_dir()
    }

    /// Starts a new snapshot in a temporary directory.
    pub fn prepare(&self) -> Result<PendingSnapshot> {
        let path = self.tmp.join(temp_name("snap-"));
        fs::create_dir(&path).op(format!("create {}", path.display()))?;
        let fd = fsops::open_trusted_dir(&path).op(format!("open {}", path.display()))?;
        Ok(PendingSnapshot {
            path,
            fd,
            done: false,
        })
    }

    /// A fresh temporary directory for other uses (flattened mounts).
    pub fn temp_dir(&self, prefix: &str) -> PathBuf {
        self.tmp.join(temp_name(prefix))
    }

    /// Resolves deferred hard links against `lowers` (top first), makes the snapshot durable
    /// (`sync`: a syncfs now; else it becomes visible unsynced, recorded by a marker, see
    /// [`unsynced`]) and renames it into place as `chain`. If another process
    /// committed the same chain id meanwhile, this one is discarded.
    pub fn commit(
        &self,
        mut p: PendingSnapshot,
        chain: &Digest,
        links: &[DeferredLink],
        lowers: &[Digest],
        sync: bool,
    ) -> Result<()> {
        if !links.is_empty() {
            let dirs: Vec<PathBuf> = lowers.iter().map(|c| self.path(c)).collect();
            let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
            for l in links {
                links::copy_up(&p.fd, l, &dirs)
                    .map_err(|e| e.context(format!("hard link {:?}", join(&l.link))))?;
            }
        }
        let dest = self.path(chain);
        if sync {
            rfs::syncfs(p.fd.as_fd()).op("syncfs snapshot")?;
        } else if !dest.is_dir() {
            self.unsynced.mark(chain)?;
        }
        match fs::rename(&p.path, &dest) {
            Ok(()) => {
                p.done = true;
                if let Ok(d) = fs::File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            Err(_) if dest.is_dir() => Ok(()), // raced with another pull: keep theirs, drop ours
            Err(e) => Err(Error::io(format!("commit snapshot {}", chain.short()), e)),
        }
    }

    /// Makes the complete layer directory `dir` (on the store's file system) the snapshot
    /// of `chain`: synced (a syncfs), then renamed into place. Returns false, leaving `dir`
    /// where it is, if `chain` has a snapshot already (the same layer, committed before).
    pub fn install(&self, dir: &Path, chain: &Digest) -> Result<bool> {
        let dest = self.path(chain);
        if dest.is_dir() {
            return Ok(false);
        }
        let fd = fsops::open_trusted_dir(dir).op(format!("open {}", dir.display()))?;
        rfs::syncfs(fd.as_fd()).op("syncfs snapshot")?;
        match fs::rename(dir, &dest) {
            Ok(()) => {
                if let Ok(d) = fs::File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                Ok(true)
            }
            Err(_) if dest.is_dir() => Ok(false),
            Err(e) => Err(Error::io(format!("commit snapshot {}", chain.short()), e)),
        }
    }

    /// Removes the snapshots left unsynced by an earlier boot (see [`unsynced`]).
    pub fn recover_unsynced(&self) -> Result<usize> {
        self.unsynced.recover(|d| self.remove(d))
    }

    /// Retires unsynced-snapshot markers older than `age` (one syncfs if there are any).
    pub fn retire_unsynced(&self, age: std::time::Duration) -> Result<usize> {
        self.unsynced.retire(age)
    }

    /// Removes temporary snapshots (and flattened copies) left by processes that died.
    pub fn clean_temp(&self) -> Result<usize> {
        clean_dead(&self.tmp)
    }

    /// All snapshot chain ids.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).op("list snapshots")?.flatten() {
            if let Ok(d) = Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes a snapshot: renamed out of sight first, then deleted.
    pub fn remove(&self, chain: &Digest) -> Result<()> {
        let src = self.path(chain);
        let trash = self.tmp.join(temp_name("del-"));
        match fs::rename(&src, &trash) {
            Ok(()) => fs::remove_dir_all(&trash).op(format!("remove snapshot {}", chain.short())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove snapshot {}", chain.short()), e)),
        }
    }
}

/// Snapshots are created under a directory marked for spreading (see
/// [`fsops::spread_children`]), so each lands in a block group of its own.
fn spread_children(dir: &Path) {
    if let Ok(fd) = fsops::open_trusted_dir(dir) {
        fsops::spread_children(&fd);
    }
}
