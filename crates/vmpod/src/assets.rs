//! What a VM container needs beside its bundle, made once and cached: each image layer as
//! an erofs disk (keyed by the layer's snapshot, so containers of one image share them and a
//! start copies nothing; an image of more layers than the VM has disks for gets its lowest
//! layers merged into one disk), and the initramfs (the static agent and the kernel's
//! modules, keyed by the agent binary). `vm.json` in the bundle tells the shim where they are.

use crate::initramfs::{self, Contents};
use crate::kernel::{Kernel, GUEST_MODULES, ON_DEMAND_MODULES};
use crate::{io_err, Error, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The static agent: `$STRATA_AGENT`, else where the set-up installs it.
pub fn agent_binary() -> Result<PathBuf> {
    let p = std::env::var_os("STRATA_AGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/local/lib/strata/strata-agent".into());
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error(format!(
            "no static strata-agent at {} (crates/agent/build-static.sh builds it; STRATA_AGENT names it)",
            p.display()
        )))
    }
}

/// A VM container's assets.
#[derive(Clone, Debug)]
pub struct Assets {
    /// The guest kernel image.
    pub kernel: PathBuf,
    /// Its release.
    pub release: String,
    /// The initramfs.
    pub initramfs: PathBuf,
    /// The layer disks, the lowest first.
    pub layers: Vec<PathBuf>,
}

/// Virtio transports of QEMU's microvm machine: each disk, port and network card takes one.
pub const TRANSPORTS: usize = 24;

/// The most layer disks a VM container boots with beside `device_disks` disks of its
/// `--device`s and `nics` network cards: the transports those, its agent's port and
/// virtio-fs leave.
pub fn container_layer_disks(device_disks: usize, nics: usize) -> usize {
    TRANSPORTS.saturating_sub(2 + nics + device_disks).max(1)
}

/// The most layer disks one container of a VM pod takes of the pod VM's: half, so two images
/// without a common layer always fit.
pub const MEMBER_LAYER_DISKS: usize = crate::slots::MAX / 2;

/// What [`prepare`] makes a container's assets from.
pub struct Sources<'a> {
    /// The engine's VM cache (initramfs files).
    pub cache: &'a Path,
    /// Where layer disks are cached, each named by its snapshot's name (the layer's chain
    /// id): the image store's derived caches, removed with their snapshot.
    pub layer_cache: &'a Path,
    /// The guest kernel's directory.
    pub kernel_dir: &'a Path,
    /// The image's layer directories, top first and named by chain id, as the snapshotter
    /// lists them.
    pub lowers: &'a [PathBuf],
    /// The most disks the layers take: the lowest layers beyond that are merged into one.
    pub max_disks: usize,
}

/// Makes (or finds) the assets of a container: its layer disks and the initramfs.
pub fn prepare(src: &Sources) -> Result<Assets> {
    let k = Kernel::find(src.kernel_dir)?;
    let agent = agent_binary()?;
    let layers_dir = src.layer_cache;
    for d in [src.cache, layers_dir] {
        std::fs::create_dir_all(d).map_err(io_err(format!("vm cache {}", d.display())))?;
    }
    // Layer disks were kept beside the initramfs once, never removed with their image.
    let _ = std::fs::remove_dir_all(src.cache.join("layers"));
    let (merged, single) = split_layers(src.lowers, src.max_disks);
    let mut layers = Vec::new();
    if let Some(top) = merged.first() {
        // The merged layers are a chain's lowest ones: its top layer's chain id names them all.
        let img = layers_dir.join(format!("{}.flat.erofs", layer_key(top)?));
        if !img.is_file() {
            crate::erofs::build_merged(merged, &img)?;
        }
        layers.push(img);
    }
    for l in single.iter().rev() {
        let img = layers_dir.join(format!("{}.erofs", layer_key(l)?));
        if !img.is_file() {
            crate::erofs::build(l, &img)?;
        }
        layers.push(img);
    }
    let meta = std::fs::metadata(&agent).map_err(io_err(format!("agent {}", agent.display())))?;
    let stamp = {
        use std::os::unix::fs::MetadataExt;
        // The modules and the init it carries are part of its name (FNV-1a of the modules'
        // lists, the on-demand sets' too, and of strata-pause).
        let on_demand = ON_DEMAND_MODULES
            .iter()
            .flat_map(|(set, ms)| std::iter::once(set).chain(ms.iter()));
        let modules = GUEST_MODULES
            .iter()
            .chain(on_demand)
            .flat_map(|m| m.bytes().chain([b',']))
            .chain(strata_pause::PROGRAM.iter().copied())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        format!(
            "{}-{}-{}-{:08x}",
            k.release,
            meta.len(),
            meta.mtime(),
            modules as u32
        )
    };
    let initramfs = src.cache.join(format!("initramfs-{stamp}.cpio"));
    if !initramfs.is_file() {
        let tmp = initramfs.with_extension("tmp");
        initramfs::build(
            &tmp,
            &Contents {
                agent: &agent,
                kernel: &k,
                modules: GUEST_MODULES,
                on_demand: ON_DEMAND_MODULES,
                busybox: None,
            },
        )?;
        std::fs::rename(&tmp, &initramfs)
            .map_err(io_err(format!("initramfs {}", initramfs.display())))?;
        remove_other_initramfs(src.cache, &initramfs);
    }
    Ok(Assets {
        kernel: k.image,
        release: k.release,
        initramfs,
        layers,
    })
}

/// `lowers` (top first) as (the lowest ones to merge into one disk, top first; the ones
/// that keep a disk each): all keep theirs when they fit in `max_disks`.
fn split_layers(lowers: &[PathBuf], max_disks: usize) -> (&[PathBuf], &[PathBuf]) {
    if lowers.len() <= max_disks.max(1) {
        return (&[], lowers);
    }
    let (single, merged) = lowers.split_at(max_disks.max(1) - 1);
    (merged, single)
}

/// A layer directory's cache key: its name, the layer's chain id.
fn layer_key(l: &Path) -> Result<&str> {
    l.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error(format!("layer {}: no name", l.display())))
}

/// Removes the initramfs files of earlier agents or kernels made over ten minutes ago (a
/// running VM has read its own; a VM still starting from one is given the time to).
fn remove_other_initramfs(cache: &Path, keep: &Path) {
    let Ok(files) = std::fs::read_dir(cache) else {
        return;
    };
    let stale = |f: &std::fs::DirEntry| {
        f.metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(600))
    };
    for f in files.flatten() {
        let p = f.path();
        let name = f.file_name();
        let name = name.to_string_lossy();
        if p != keep && name.starts_with("initramfs-") && name.ends_with(".cpio") && stale(&f) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

impl Assets {
    /// `vm.json`'s content.
    pub fn to_json(&self, memory_mib: u32, vcpus: u32) -> Value {
        json!({
            "kernel": self.kernel,
            "release": self.release,
            "initramfs": self.initramfs,
            "layers": self.layers,
            "memoryMib": memory_mib,
            "vcpus": vcpus,
        })
    }

    /// Reads `vm.json` back: the assets, memory and vCPUs.
    pub fn from_json(v: &Value) -> Result<(Assets, u32, u32)> {
        let path = |k: &str| {
            v[k].as_str()
                .map(PathBuf::from)
                .ok_or_else(|| Error(format!("vm.json: no {k}")))
        };
        let layers = v["layers"]
            .as_array()
            .ok_or_else(|| Error("vm.json: no layers".into()))?
            .iter()
            .map(|l| {
                l.as_str()
                    .map(PathBuf::from)
                    .ok_or_else(|| Error("vm.json: a bad layer".into()))
            })
            .collect::<Result<Vec<_>>>()?;
        let a = Assets {
            kernel: path("kernel")?,
            release: v["release"].as_str().unwrap_or_default().to_string(),
            initramfs: path("initramfs")?,
            layers,
        };
        let mem = v["memoryMib"].as_u64().unwrap_or(256) as u32;
        let cpus = v["vcpus"].as_u64().unwrap_or(1) as u32;
        Ok((a, mem, cpus))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(l: &[PathBuf]) -> Vec<&str> {
        l.iter().map(|p| p.to_str().unwrap()).collect()
    }

    #[test]
    fn the_lowest_layers_beyond_the_disks_are_merged() {
        let lowers: Vec<PathBuf> = ["top", "l3", "l2", "l1", "base"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let (merged, single) = split_layers(&lowers, 5);
        assert!(merged.is_empty());
        assert_eq!(names(single), ["top", "l3", "l2", "l1", "base"]);
        // Three disks: two layers keep theirs, the three lowest share the third.
        let (merged, single) = split_layers(&lowers, 3);
        assert_eq!(names(merged), ["l2", "l1", "base"]);
        assert_eq!(names(single), ["top", "l3"]);
        let (merged, single) = split_layers(&lowers, 1);
        assert_eq!(names(merged), ["top", "l3", "l2", "l1", "base"]);
        assert!(single.is_empty());
        // No budget still leaves one disk.
        assert_eq!(split_layers(&lowers, 0).0.len(), 5);
        assert_eq!(split_layers(&lowers[..1], 0).1.len(), 1);
    }

    #[test]
    fn layer_disk_budgets_leave_room_for_the_rest_of_the_vm() {
        assert_eq!(container_layer_disks(0, 1), 21);
        assert_eq!(container_layer_disks(4, 1), 17);
        assert_eq!(container_layer_disks(0, 3), 19);
        assert_eq!(container_layer_disks(40, 1), 1);
        assert_eq!(MEMBER_LAYER_DISKS * 2, crate::slots::MAX);
    }

    #[test]
    fn only_stale_initramfs_files_of_other_agents_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("initramfs-new.cpio");
        let old = dir.path().join("initramfs-old.cpio");
        let recent = dir.path().join("initramfs-recent.cpio");
        let other = dir.path().join("other.cpio");
        for p in [&keep, &old, &recent, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for p in [&keep, &old, &other] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
        }
        remove_other_initramfs(dir.path(), &keep);
        assert!(keep.exists() && recent.exists() && other.exists());
        assert!(!old.exists());
    }
}
