//! Active snapshots: containerd's snapshotter contract over the store, the one root
//! filesystem contract of the engine (a container's rootfs), the builder (a RUN step's)
//! and `strata commit`.
//!
//! - Committed snapshots are the store's per-chain-id directories (a layer's diff in
//!   overlayfs upper-dir format, [`crate::snapshot::format`]): those of pulled or loaded
//!   images, and those made by [`Snapshotter::commit`].
//! - An active snapshot is `<root>/active/<key>/{fs,work}` with a record in the metadata
//!   database (key, kind, parent chain id, the chain's snapshots, creation time, labels).
//!   Keys are the caller's (a container id, a build step id); see
//!   [`crate::snapshot::active::check_key`].
//! - [`Snapshotter::prepare`]`(key, parent)` returns the mounts of a writable layer: over
//!   a parent, one overlay (lower dirs: the parent chain's snapshots, top first; upper
//!   `fs`, work `work`; `index=off,redirect_dir=off,metacopy=off`, so the upper dir stays
//!   a plain layer diff: whole copied-up files, no redirects, whiteouts and opaque
//!   directories only); without one, a read-write bind mount of `fs`.
//!   [`Snapshotter::view`] returns read-only mounts of the parent's layers (a bind mount
//!   for one layer). [`crate::snapshot::mount_all`] mounts either.
//! - [`Snapshotter::commit`]`(key)` turns the (unmounted) writable layer into a new
//!   layer: its diff as an OCI layer tar ([`crate::snapshot::diff`]), gzip-compressed into
//!   the content store (digested, fsynced, renamed into place as every blob), diff id =
//!   sha256 of the tar, chain id = sha256(parent chain + " " + diff id); then the `fs`
//!   directory itself, synced, is renamed to the chain's snapshot directory (atomic: a
//!   crash leaves it either absent or whole), and the active snapshot is gone.
//! - [`Snapshotter::remove`], [`Snapshotter::usage`] (bytes and inodes of the writable
//!   layer), [`Snapshotter::stat`], [`Snapshotter::list`].
//!
//! Garbage collection (`image rmi`, `image prune`) keeps every snapshot an active one
//! stacks on, and a committed layer (snapshot and blob) while an image or an active
//! snapshot uses it. A caller that commits a layer and uses it later (the builder: the
//! next step's parent) holds the store's shared lock in between ([`Store::lock`]), as a
//! pull does for what it writes. Crashed operations' leftovers are dropped when the store
//! is next opened by a process alone with it.

mod commit;

use crate::digest::Digest;
use crate::error::{Error, IoResultExt, Result};
use crate::fsops;
use crate::snapshot::active::check_key;
use crate::snapshot::{usage, Committed, Info, Kind, Mount, Usage};
use crate::store::Store;
use std::collections::BTreeMap;
use strata_os::mount::Overlay;

/// Overlay options that keep an upper directory a plain layer diff.
pub const UPPER_OPTIONS: [&str; 3] = ["index=off", "redirect_dir=off", "metacopy=off"];

/// The snapshotter of a store.
pub struct Snapshotter<'a> {
    store: &'a Store,
}

fn ctx(key: &str) -> impl FnOnce(Error) -> Error + '_ {
    move |e| e.context(format!("snapshot {key}"))
}

impl<'a> Snapshotter<'a> {
    /// The snapshotter of `store`.
    pub fn new(store: &'a Store) -> Self {
        Snapshotter { store }
    }

    /// A writable snapshot `key` over the committed snapshot `parent` (a chain id; none:
    /// an empty root). Returns its mounts.
    pub fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::Active, BTreeMap::new())
    }

    /// A read-only view `key` of the committed snapshot `parent` (none: an empty root).
    /// Returns its mounts.
    pub fn view(&self, key: &str, parent: Option<&Digest>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::View, BTreeMap::new())
    }

    /// [`Snapshotter::prepare`] or [`Snapshotter::view`] with labels. Nothing is left
    /// behind when it fails.
    pub fn create(
        &self,
        key: &str,
        parent: Option<&Digest>,
        kind: Kind,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        check_key(key)?; // names the key itself
        let _lock = self.store.lock(false)?;
        let lowers = match parent {
            Some(p) => self.lowers_of(p).map_err(ctx(key))?,
            None => Vec::new(),
        };
        let info = Info {
            key: key.to_string(),
            kind,
            parent: parent.cloned(),
            lowers,
            created: strata_os::clock::rfc3339_now(),
            labels,
        };
        let staged = self
            .store
            .active
            .stage(kind == Kind::Active)
            .map_err(ctx(key))?;
        // Recorded first (the key is taken atomically), then the directory gets its name;
        // a crash in between leaves a record without its directory, dropped at next open.
        self.store.meta().put_active(&info).map_err(ctx(key))?;
        if let Err(e) = self.store.active.install(staged, key) {
            let _ = self.store.meta().remove_active(key);
            return Err(ctx(key)(e));
        }
        Ok(self.mounts_of(&info))
    }

    /// The mounts of the active snapshot or view `key`.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        Ok(self.mounts_of(&self.stat(key)?))
    }

    fn mounts_of(&self, info: &Info) -> Vec<Mount> {
        let dirs: Vec<_> = info
            .lowers
            .iter()
            .map(|c| self.store.snapshots.path(c))
            .collect();
        let a = &self.store.active;
        match (info.kind, dirs.len()) {
            (Kind::Active, 0) => vec![Mount::bind(&a.fs(&info.key), false)],
            (Kind::Active, _) => vec![Mount::overlay(&Overlay {
                lowers: dirs,
                upper: Some((a.fs(&info.key), a.work(&info.key))),
                options: UPPER_OPTIONS.iter().map(|o| o.to_string()).collect(),
            })],
            (Kind::View, 0) => vec![Mount::bind(&a.fs(&info.key), true)],
            (Kind::View, 1) => vec![Mount::bind(&dirs[0], true)],
            (Kind::View, _) => vec![Mount::overlay(&Overlay {
                lowers: dirs,
                upper: None,
                options: Vec::new(),
            })],
        }
    }

    /// The committed snapshots a snapshot over `parent` stacks on, top first: `parent`
    /// and the layers below it (from the record of a committed layer, an image's layers,
    /// or an active snapshot over it). Every one must be present.
    pub fn lowers_of(&self, parent: &Digest) -> Result<Vec<Digest>> {
        let not_found = || Error::NotFound(format!("parent snapshot {parent}"));
        if !self.store.snapshots.has(parent) {
            return Err(not_found());
        }
        let meta = self.store.meta();
        let lowers = if let Some(c) = meta.committed(parent)? {
            Some(c.lowers)
        } else if let Some(l) = meta.list()?.iter().find_map(|img| {
            let i = img.layers.iter().position(|l| &l.chain_id == parent)?;
            Some(crate::pull::lowers_of(&img.layers[..=i]))
        }) {
            Some(l)
        } else {
            meta.list_active()?.into_iter().find_map(|a| {
                let i = a.lowers.iter().position(|c| c == parent)?;
                Some(a.lowers[i..].to_vec())
            })
        };
        let lowers = lowers.ok_or_else(not_found)?;
        if let Some(missing) = lowers.iter().find(|c| !self.store.snapshots.has(c)) {
            return Err(Error::NotFound(format!(
                "snapshot {missing} below parent {}",
                parent.short()
            )));
        }
        Ok(lowers)
    }

    /// The record of `key`.
    pub fn stat(&self, key: &str) -> Result<Info> {
        check_key(key)?; // names the key itself
        self.store
            .meta()
            .active(key)?
            .ok_or_else(|| Error::NotFound(format!("snapshot {key}")))
    }

    /// Every active snapshot and view, by key.
    pub fn list(&self) -> Result<Vec<Info>> {
        self.store.meta().list_active()
    }

    /// Disk usage of `key`'s writable layer (nothing for a view: it writes nothing).
    pub fn usage(&self, key: &str) -> Result<Usage> {
        if self.stat(key)?.kind == Kind::View {
            return Ok(Usage::default());
        }
        let fs = self.store.active.fs(key);
        let fd = fsops::open_trusted_dir(&fs).op(format!("open {}", fs.display()))?;
        usage::usage(&fd).map_err(ctx(key))
    }

    /// Removes the active snapshot or view `key` (unmount it first): its record, then
    /// its directory.
    pub fn remove(&self, key: &str) -> Result<()> {
        check_key(key)?; // names the key itself
        let _lock = self.store.lock(false)?;
        let had = self.store.meta().remove_active(key)?;
        let dir = self.store.active.path(key);
        if !had && !dir.exists() {
            return Err(Error::NotFound(format!("snapshot {key}")));
        }
        self.store.active.remove(key).map_err(ctx(key))
    }

    /// Turns the writable snapshot `key` (unmounted) into a committed layer; the active
    /// snapshot is removed. See the module doc.
    pub fn commit(&self, key: &str) -> Result<Committed> {
        self.commit_clamped(key, None)
    }

    /// [`Snapshotter::commit`] with the layer's modification times clamped to
    /// `clamp_mtime` (seconds since the epoch: a build's `SOURCE_DATE_EPOCH`).
    pub fn commit_clamped(&self, key: &str, clamp_mtime: Option<i64>) -> Result<Committed> {
        commit::commit(self, key, clamp_mtime).map_err(ctx(key))
    }
}
