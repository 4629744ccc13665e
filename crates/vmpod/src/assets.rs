//! What a VM container needs beside its bundle, made once and cached under the engine's
//! root: each image layer as an erofs disk (keyed by the layer's snapshot, so containers of
//! one image share them and a start copies nothing), and the initramfs (the static agent and
//! the kernel's modules, keyed by the agent binary). `vm.json` in the bundle tells the shim
//! where they are.

use crate::initramfs::{self, Contents};
use crate::kernel::{Kernel, GUEST_MODULES};
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

/// Makes (or finds) the assets of a container whose image layers are the directories
/// `lowers` (top first, as the snapshotter lists them), caching under `cache`.
pub fn prepare(cache: &Path, kernel_dir: &Path, lowers: &[PathBuf]) -> Result<Assets> {
    let k = Kernel::find(kernel_dir)?;
    let agent = agent_binary()?;
    let layers_dir = cache.join("layers");
    std::fs::create_dir_all(&layers_dir)
        .map_err(io_err(format!("vm cache {}", layers_dir.display())))?;
    let mut layers = Vec::new();
    for l in lowers.iter().rev() {
        let key = l
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error(format!("layer {}: no name", l.display())))?;
        let img = layers_dir.join(format!("{key}.erofs"));
        if !img.is_file() {
            crate::erofs::build(l, &img)?;
        }
        layers.push(img);
    }
    let meta = std::fs::metadata(&agent).map_err(io_err(format!("agent {}", agent.display())))?;
    let stamp = {
        use std::os::unix::fs::MetadataExt;
        // The modules it carries are part of its name (FNV-1a of their list).
        let modules = GUEST_MODULES
            .iter()
            .flat_map(|m| m.bytes().chain([b',']))
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
    let initramfs = cache.join(format!("initramfs-{stamp}.cpio"));
    if !initramfs.is_file() {
        let tmp = initramfs.with_extension("tmp");
        initramfs::build(
            &tmp,
            &Contents {
                agent: &agent,
                kernel: &k,
                modules: GUEST_MODULES,
                busybox: None,
            },
        )?;
        std::fs::rename(&tmp, &initramfs)
            .map_err(io_err(format!("initramfs {}", initramfs.display())))?;
    }
    Ok(Assets {
        kernel: k.image,
        release: k.release,
        initramfs,
        layers,
    })
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
