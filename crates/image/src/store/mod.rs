//! The image store: blobs, image records and snapshots under one root. The snapshot
//! directories themselves are [`crate::snapshot`]'s.

pub mod content;
pub mod meta;

pub use content::ContentStore;
pub use meta::{ImageRecord, LayerRecord, MetaStore};

use crate::error::{IoResultExt, Result};
use crate::snapshot::Snapshots;
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
        Ok(Store {
            root: root.to_path_buf(),
            runroot: runroot.to_path_buf(),
            content,
            snapshots,
            rootless: !rustix::process::geteuid().is_root(),
            meta: Mutex::new(meta),
        })
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

    /// Whether every snapshot and the config of an image are present.
    pub fn complete(&self, img: &ImageRecord) -> bool {
        self.content.has(&img.id) && img.layers.iter().all(|l| self.snapshots.has(&l.chain_id))
    }
}
