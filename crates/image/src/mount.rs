//! `image mount`: an image's read-only root filesystem, as an overlayfs of its snapshots
//! (a read-only bind mount for one layer), or a flattened copy where overlayfs is missing.

use crate::error::{Error, IoResultExt, Result};
use crate::fsops;
use crate::oci::Compression;
use crate::store::{ImageRecord, Store};
use crate::unpack::{apply_tar, decompress, ApplyOptions, WhiteoutMode};
use std::io::BufReader;
use std::path::PathBuf;
use strata_os::mount::{self as osmount, Overlay};

/// How a mount was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// overlayfs with the snapshots as lower dirs.
    Overlay,
    /// read-only bind mount of the only snapshot.
    Bind,
    /// a flattened copy (no overlayfs).
    Copy,
}

fn mount_dir(store: &Store, img: &ImageRecord) -> PathBuf {
    store.runroot.join("mounts").join(img.id.hex())
}

fn is_mountpoint(p: &std::path::Path) -> bool {
    p.parent().is_some() && osmount::is_mountpoint(p)
}

/// Mounts the image read-only and returns the path. Idempotent. `force_copy` skips
/// overlayfs (tests, and filesystems that cannot be overlay lower dirs).
pub fn mount(store: &Store, img: &ImageRecord, force_copy: bool) -> Result<(PathBuf, MountKind)> {
    if !store.complete(img) {
        return Err(Error::NotFound(format!(
            "snapshots of image {}",
            img.id.short()
        )));
    }
    let dir = mount_dir(store, img);
    let merged = dir.join("merged");
    let flat = dir.join("flat");
    if is_mountpoint(&merged) {
        return Ok((merged, MountKind::Overlay));
    }
    if flat.is_dir() {
        return Ok((flat, MountKind::Copy));
    }
    std::fs::create_dir_all(&merged).op(format!("create {}", merged.display()))?;
    if !force_copy {
        let lowers = lower_dirs(store, img)?;
        let r = if lowers.len() == 1 {
            osmount::bind(&lowers[0], &merged, 0).and_then(|_| {
                osmount::change(&merged, libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY)
            })
        } else {
            // Read-only (no upper); a long layer list goes through fsconfig.
            Overlay {
                lowers: lowers.clone(),
                upper: None,
                options: Vec::new(),
            }
            .mount(&merged)
        };
        match r {
            Ok(()) => {
                let kind = if lowers.len() == 1 {
                    MountKind::Bind
                } else {
                    MountKind::Overlay
                };
                return Ok((merged, kind));
            }
            Err(e) => tracing::info!(error = %e, "overlay mount failed, copying instead"),
        }
    }
    let _ = std::fs::remove_dir(&merged);
    // Built beside its final place (the run root may be another filesystem than the store).
    let tmp = dir.join(crate::temp::temp_name("flat-"));
    std::fs::create_dir_all(&tmp).op(format!("create {}", tmp.display()))?;
    let guard = TempDir(tmp.clone());
    flatten(store, img, &tmp)?;
    std::fs::rename(&tmp, &flat).op(format!("create {}", flat.display()))?;
    std::mem::forget(guard);
    Ok((flat, MountKind::Copy))
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Re-applies the image's layer blobs, in order, onto `dest` (whiteouts delete).
pub fn flatten(store: &Store, img: &ImageRecord, dest: &std::path::Path) -> Result<()> {
    let root = fsops::open_trusted_dir(dest).op(format!("open {}", dest.display()))?;
    let opts = ApplyOptions::new(WhiteoutMode::Flatten, store.rootless);
    for l in &img.layers {
        let f = store.content.open_blob(&l.digest)?;
        let comp = Compression::from_media_type(&l.media_type)?;
        let dec =
            decompress::decoder(BufReader::with_capacity(1 << 20, f), comp).op("decompress")?;
        apply_tar(dec, &root, opts).map_err(|e| e.context(format!("layer {}", l.digest)))?;
    }
    Ok(())
}

/// Unmounts (or removes the flattened copy of) an image. Returns whether it was mounted.
pub fn unmount(store: &Store, img: &ImageRecord) -> Result<bool> {
    let dir = mount_dir(store, img);
    let merged = dir.join("merged");
    let flat = dir.join("flat");
    let mut was = false;
    if is_mountpoint(&merged) {
        osmount::umount2(&merged, libc::MNT_DETACH).op(format!("unmount {}", merged.display()))?;
        was = true;
    }
    if flat.is_dir() {
        std::fs::remove_dir_all(&flat).op(format!("remove {}", flat.display()))?;
        was = true;
    }
    let _ = std::fs::remove_dir(&merged);
    let _ = std::fs::remove_dir(&dir);
    Ok(was)
}

/// Whether an image is mounted.
pub fn is_mounted(store: &Store, img: &ImageRecord) -> bool {
    let dir = mount_dir(store, img);
    is_mountpoint(&dir.join("merged")) || dir.join("flat").is_dir()
}

/// The image's snapshot directories as overlayfs lower dirs, top layer first (for the
/// engine's container root filesystems: add an upper and a work dir).
pub fn lower_dirs(store: &Store, img: &ImageRecord) -> Result<Vec<PathBuf>> {
    if !store.complete(img) {
        return Err(Error::NotFound(format!(
            "snapshots of image {}",
            img.id.short()
        )));
    }
    Ok(img
        .layers
        .iter()
        .rev()
        .map(|l| store.snapshots.path(&l.chain_id))
        .collect())
}
