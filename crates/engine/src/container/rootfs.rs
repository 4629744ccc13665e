//! A container's root filesystem: its own writable layer over the image's snapshots,
//! mounted (overlayfs) at `<bundle>/rootfs` while it runs.

use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use std::path::PathBuf;
use strata_image::store::ImageRecord;

/// Where a pod's infra container finds strata-pause (its root filesystem is otherwise empty).
pub const PAUSE_PATH: &str = "/pause";

/// The container's writable layer and overlayfs work directory.
fn layer_dirs(e: &Engine, id: &str) -> (PathBuf, PathBuf) {
    let b = e.paths.bundle(id);
    (b.join("diff"), b.join("work"))
}

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

/// Makes the container's writable layer (at create).
pub fn prepare(e: &Engine, id: &str) -> Result<()> {
    let (diff, work) = layer_dirs(e, id);
    for d in [&diff, &work, &e.paths.rootfs(id)] {
        std::fs::create_dir_all(d).ctx(|| format!("rootfs: create {}", d.display()))?;
    }
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
    let img = image_of(e, image_id)?;
    let store = e.store()?;
    let lowers = strata_image::mount::lower_dirs(&store, &img)?;
    let (diff, work) = layer_dirs(e, id);
    prepare(e, id)?;
    let o = strata_os::mount::Overlay {
        lowers,
        upper: Some((diff, work)),
        options: vec![
            "index=off".into(),
            "redirect_dir=off".into(),
            "metacopy=off".into(),
        ],
    };
    o.mount(&target).ctx(|| {
        format!(
            "rootfs: mount overlay at {} [layer: image]",
            target.display()
        )
    })?;
    Ok(target)
}

/// Unmounts the root filesystem (idempotent).
pub fn unmount(e: &Engine, id: &str) -> Result<()> {
    let target = e.paths.rootfs(id);
    while strata_os::mount::is_mountpoint(&target) {
        strata_os::mount::umount2(&target, libc::MNT_DETACH)
            .ctx(|| format!("rootfs: unmount {}", target.display()))?;
    }
    Ok(())
}
