//! The image store: blobs, image records and snapshots under one root.

pub mod content;
pub mod meta;
pub mod snapshot;

pub use content::ContentStore;
pub use meta::{ImageRecord, LayerRecord, MetaStore};
pub use snapshot::{PendingSnapshot, Snapshots};

use crate::error::{IoResultExt, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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

    /// Whether every snapshot and the config of an image are present.
    pub fn complete(&self, img: &ImageRecord) -> bool {
        self.content.has(&img.id) && img.layers.iter().all(|l| self.snapshots.has(&l.chain_id))
    }
}
