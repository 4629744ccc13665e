//! VM containers (`--isolation vm`): at each start, the image's layers as erofs disks (the
//! image store's derived caches, removed with their layers) and the guest's initramfs
//! (cached under `<root>/vm`), so a start copies nothing, named in the bundle's `vm.json`
//! for the container's shim; and what the shim recorded about its VM, for `describe` and
//! `inspect`.

use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};

/// Guest memory beside the container's limit (the guest kernel, the agent, the page cache).
const OVERHEAD_MIB: u32 = 128;
/// Guest memory without a limit.
const DEFAULT_MIB: u32 = 256;

/// Writes `vm.json` into the container's bundle, making the cached assets first. A VM pod's
/// infra boots the pod's VM (sized by the pod) with no layers of its own; the pod's other
/// containers run in that VM, and their layers are attached to it.
pub fn write_assets(e: &Engine, c: &Container) -> Result<()> {
    let lowers = if c.config.infra {
        Vec::new()
    } else {
        let (_, lowers) = crate::container::rootfs::layers(e, &c.id).ok_or_else(|| {
            Error::Invalid(format!(
                "container {}: no image layers for its VM [layer: vm]",
                c.name
            ))
        })?;
        lowers
    };
    let devices = crate::spec::devices::vm_devices(&c.config.devices)
        .map_err(|err| Error::Invalid(format!("container {}: {err}", c.name)))?;
    let max_disks = match c.pod {
        Some(_) => strata_vmpod::assets::MEMBER_LAYER_DISKS,
        None => strata_vmpod::assets::container_layer_disks(
            devices.iter().filter(|d| d["type"] == "b").count(),
            crate::network::extra::configured(e, c)?.len(),
        ),
    };
    let cache = e.paths.root.join("vm");
    let layer_cache = strata_image::store::derived::dir(&e.store()?.root, "vm-layers");
    let _l = crate::lock::lock(&e.paths, "vm-assets")?;
    let a = strata_vmpod::assets::prepare(&strata_vmpod::assets::Sources {
        cache: &cache,
        layer_cache: &layer_cache,
        kernel_dir: &strata_vmpod::kernel::default_dir(),
        lowers: &lowers,
        max_disks,
    })
    .map_err(|err| Error::Runtime(format!("container {}: {err}", c.name)))?;
    let memory = c
        .config
        .resources
        .memory
        .map(|m| (m.max(0) as u64 >> 20) as u32 + OVERHEAD_MIB)
        .unwrap_or(DEFAULT_MIB);
    let vcpus = c
        .config
        .resources
        .cpus
        .map(|c| c.ceil().max(1.0) as u32)
        .unwrap_or(1);
    let mut v = a.to_json(memory, vcpus);
    match c.pod.as_deref() {
        Some(_) if c.config.infra => v["role"] = "sandbox".into(),
        Some(pod) => {
            let p = e.db.find_pod(pod)?;
            v["role"] = "member".into();
            v["sandboxVmDir"] = e
                .paths
                .monitor(&p.infra)
                .join("vm")
                .display()
                .to_string()
                .into();
        }
        None => v["role"] = "container".into(),
    }
    v["devices"] = serde_json::json!(devices);
    let p = e.paths.bundle(&c.id).join("vm.json");
    std::fs::write(&p, v.to_string()).ctx(|| format!("write {}", p.display()))
}

/// What the shim recorded about the VM (backend, VMM pid, guest kernel...), if it booted.
pub fn state(e: &Engine, c: &Container) -> Option<serde_json::Value> {
    let p = e.paths.monitor(&c.id).join("vm/vm.state");
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

/// Why a VM container's VM ended under it (a fault of the VM layer: the VMM killed, the
/// guest kernel's panic, the agent gone), if it did; `None` when its process just exited.
pub fn exit_reason(e: &Engine, c: &Container) -> Option<String> {
    let p = e
        .paths
        .monitor(&c.id)
        .join("vm")
        .join(strata_vmpod::shim::EXIT_REASON);
    let text = std::fs::read_to_string(p).ok()?;
    let line = text.lines().next()?.trim();
    // Written by the shim, on the host; still, one bounded line.
    let line: String = line.chars().take(512).collect();
    Some(if line.contains("[layer: ") {
        line
    } else {
        format!("{line} [layer: vm]")
    })
}
