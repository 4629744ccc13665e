//! A container's root filesystem: an active snapshot of the image store keyed by the
//! container's id (containerd's contract: `prepare` at create gives a writable layer over the
//! image's snapshots), mounted at `<bundle>/rootfs` while the container runs. A pod's infra
//! container has no image: its root filesystem is an empty directory.

use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use std::path::PathBuf;
use strata_image::snapshot::{mount_all, unmount as unmount_all};
use strata_image::snapshotter::Snapshotter;
use strata_image::store::ImageRecord;

/// Where a pod's infra container finds strata-pause (its root filesystem is otherwise empty).
pub const PAUSE_PATH: &str = "/pause";

/// The image record a container was created from.
pub fn image_of(e: &Engine, image_id: &str) -> Result<ImageRecord> {
    let store = e.store()?;
    let found = store.meta().find(image_id)?;
    found.ok_or_else(|| {
        Error::NotFound(format!(
            "image {} of this container is no longer in the store [layer: image]",
            strata_image::Digest::parse(image_id)
                .map(|d| d.short().to_string())
                .unwrap_or_else(|_| image_id.to_string())
        ))
    })
}

/// Makes the container's writable layer over its image (at create): the active snapshot
/// keyed by its id.
pub fn prepare(e: &Engine, id: &str, image_id: &str) -> Result<()> {
    let target = e.paths.rootfs(id);
    std::fs::create_dir_all(&target).ctx(|| format!("rootfs: create {}", target.display()))?;
    if image_id.is_empty() {
        return Ok(());
    }
    let img = image_of(e, image_id)?;
    let store = e.store()?;
    let parent = img.layers.last().map(|l| l.chain_id.clone());
    Snapshotter::new(&store).prepare(id, parent.as_ref())?;
    Ok(())
}

/// Mounts the root filesystem (idempotent). A container without an image (a pod's infra)
/// has an empty one.
pub fn mount(e: &Engine, id: &str, image_id: &str) -> Result<PathBuf> {
    let target = e.paths.rootfs(id);
    if image_id.is_empty() {
        std::fs::create_dir_all(&target).ctx(|| format!("rootfs: create {}", target.display()))?;
        return Ok(target);
    }
    if strata_os::mount::is_mountpoint(&target) {
        return Ok(target);
    }
    let store = e.store()?;
    let mounts = Snapshotter::new(&store).mounts(id)?;
    std::fs::create_dir_all(&target).ctx(|| format!("rootfs: create {}", target.display()))?;
    mount_all(&mounts, &target).map_err(|err| Error::from(err).context("rootfs [layer: image]"))?;
    Ok(target)
}

/// Unmounts the root filesystem (idempotent).
pub fn unmount(e: &Engine, id: &str) -> Result<()> {
    unmount_all(&e.paths.rootfs(id)).map_err(|err| Error::from(err).context("rootfs"))
}

/// Removes the container's writable layer (idempotent; unmount it first).
pub fn remove(e: &Engine, id: &str) -> Result<()> {
    let store = e.store()?;
    match Snapshotter::new(&store).remove(id) {
        Ok(()) | Err(strata_image::Error::NotFound(_)) => Ok(()),
        Err(err) => Err(Error::from(err).context("rootfs")),
    }
}

/// The host directories of the container's writable layer and its image's layers (top first).
pub fn layers(e: &Engine, id: &str) -> Option<(PathBuf, Vec<PathBuf>)> {
    let store = e.store().ok()?;
    let info = Snapshotter::new(&store).stat(id).ok()?;
    let lowers = info
        .lowers
        .iter()
        .map(|c| store.snapshots.path(c))
        .collect();
    Some((store.active.fs(id), lowers))
}

/// Bytes used by the container's writable layer.
pub fn usage(e: &Engine, id: &str) -> u64 {
    e.store()
        .ok()
        .and_then(|st| Snapshotter::new(&st).usage(id).ok())
        .map_or(0, |u| u.bytes)
}
