//! The image store: blobs, image records and snapshots under one root. The snapshot
//! directories themselves are [`crate::snapshot`]'s.

pub mod content;
pub mod derived;
pub mod meta;
pub mod records;

pub use content::ContentStore;
pub use meta::{ImageRecord, LayerRecord, MetaStore};

use crate::error::{IoResultExt, Result};
use crate::snapshot::{ActiveDirs, Snapshots};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// A held store lock (see [`Store::lock`]).
pub struct StoreLock(#[allow(dead_code)] std::fs::File);

/// Everything under one store root (`--root`), plus the run root (`--runroot`) for mounts.
pub struct Store {
    /// The store root.
    pub root: PathBuf,
    /// The run root (mount points).
    pub runroot: PathBuf,
    /// Blobs.
    pub content: ContentStore,
    /// Snapshots.
    pub snapshots: Snapshots,
    /// Active snapshots' directories (see `crate::snapshotter`).
    pub active: ActiveDirs,
    /// Rootless store: no chown, no device nodes.
    pub rootless: bool,
    meta: Mutex<MetaStore>,
}

impl Store {
    /// Opens (creating) the store.
    pub fn open(root: &Path, runroot: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).op(format!("create {}", root.display()))?;
        let content = ContentStore::open(root)?;
        let snapshots = Snapshots::open(root)?;
        // Before anything can use them: drop snapshots not known to have reached the disk
        // before a restart (see `unsynced`).
        snapshots.recover_unsynced()?;
        let meta = MetaStore::open(&root.join("images.db"))?;
        let store = Store {
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            content,
            snapshots,
            active: ActiveDirs::open(root)?,
            rootless: !rustix::process::geteuid().is_root(),
            meta: Mutex::new(meta),
        };
        store.recover_active()?;
        Ok(store)
    }

    /// Drops what operations on active snapshots left when they crashed: temporary and
    /// unrecorded directories, records without their directory (or, for a writable one,
    /// without its layer: a commit that moved it). Only when no other process works on
    /// the store (its exclusive lock is free), since a live operation's leftovers look
    /// the same; otherwise a later open does it.
    fn recover_active(&self) -> Result<()> {
        let Some(_lock) = self.try_lock_exclusive()? else {
            return Ok(());
        };
        let mut meta = self.meta();
        let mut known = std::collections::HashSet::new();
        for i in meta.list_active()? {
            let whole = match i.kind {
                crate::snapshot::Kind::Active => self.active.fs(&i.key).is_dir(),
                crate::snapshot::Kind::View => self.active.path(&i.key).is_dir(),
            };
            if whole {
                known.insert(i.key);
            } else {
                tracing::warn!(key = %i.key, "dropping the record of an incomplete active snapshot");
                meta.remove_active(&i.key)?;
            }
        }
        self.active.clean(|k| known.contains(k))?;
        Ok(())
    }

    /// The metadata database.
    pub fn meta(&self) -> MutexGuard<'_, MetaStore> {
        self.meta.lock().expect("metadata lock")
    }

    /// Takes the store lock: shared for writers of new content (pull, load), exclusive for
    /// garbage collection, so a collection never deletes what a running pull just wrote
    /// but has not recorded yet. Released when the guard drops.
    pub fn lock(&self, exclusive: bool) -> Result<StoreLock> {
        use rustix::fs::{flock, FlockOperation};
        let path = self.root.join("lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .op(format!("open {}", path.display()))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        flock(&f, op).op(format!("lock {}", path.display()))?;
        Ok(StoreLock(f))
    }

    /// Takes the store lock exclusively if no one holds it; `None` if someone does.
    pub fn try_lock_exclusive(&self) -> Result<Option<StoreLock>> {
        use rustix::fs::{flock, FlockOperation};
        let path = self.root.join("lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .op(format!("open {}", path.display()))?;
        match flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(StoreLock(f))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(crate::error::Error::io(
                format!("lock {}", path.display()),
                e.into(),
            )),
        }
    }

    /// Whether every snapshot and the config of an image are present.
    pub fn complete(&self, img: &ImageRecord) -> bool {
        self.content.has(&img.id) && img.layers.iter().all(|l| self.snapshots.has(&l.chain_id))
    }
}
