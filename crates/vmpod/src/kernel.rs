//! The guest kernel: Debian's cloud kernel as scripts/setup.d unpacks it (the image under
//! `boot/`, its modules under `lib/modules/<release>/` with `modules.dep`), and the modules a
//! VM pod's guest needs, resolved with their dependencies in load order.

use crate::{io_err, Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where setup.d puts the kernel (`$STRATA_KERNEL_DIR` overrides).
pub fn default_dir() -> PathBuf {
    std::env::var_os("STRATA_KERNEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/strata/kernel".into())
}

/// The modules a VM pod's guest loads: virtio over MMIO (announced through ACPI), the
/// serial port the agent speaks on, the pod's network interface, the layer disks (erofs)
/// and the overlay joining them.
pub const GUEST_MODULES: &[&str] = &[
    "virtio_mmio",
    "virtio_console",
    "virtio_blk",
    "virtio_net",
    "erofs",
    "overlay",
    "fuse",
    "virtiofs",
];

/// Modules a guest loads only when it needs them, by set (the initramfs lists each set's in
/// `/etc/strata/modules.NAME`): `scsi`, for the SCSI disks of a pod VM's containers' layers
/// and block devices ([`crate::slots`], [`crate::scsi`]), which a pod VM loads right after
/// its agent serves and a VM container never.
pub const ON_DEMAND_MODULES: &[(&str, &[&str])] = &[("scsi", &["virtio_scsi", "sd_mod"])];

/// An unpacked guest kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Its release (`6.1.0-57-cloud-amd64`).
    pub release: String,
    /// What the VMM boots: the uncompressed ELF `vmlinux-<release>` that setup.d extracts
    /// (entered through its PVH note), else the bzImage `vmlinuz-<release>`. The ELF spares
    /// the guest decompressing and relocating itself (slow under TCG: the boot to the agent
    /// here takes ~1.8 s instead of ~2.2), and QEMU maps it from the file (shared page cache)
    /// where it copies a bzImage into its own memory (14 MiB more per VM).
    pub image: PathBuf,
    /// `lib/modules/<release>`.
    pub modules: PathBuf,
}

impl Kernel {
    /// The kernel unpacked in `dir`.
    pub fn find(dir: &Path) -> Result<Kernel> {
        let boot = dir.join("boot");
        let release = std::fs::read_dir(&boot)
            .map_err(io_err(format!(
                "guest kernel {} (run scripts/install-deps)",
                boot.display()
            )))?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("vmlinuz-"))
                    .map(str::to_string)
            })
            .next()
            .ok_or_else(|| {
                Error(format!(
                    "guest kernel: no vmlinuz-* in {} (run scripts/install-deps)",
                    boot.display()
                ))
            })?;
        let modules = dir.join("lib/modules").join(&release);
        if !modules.join("modules.dep").is_file() {
            return Err(Error(format!(
                "guest kernel {release}: no modules.dep in {} (run scripts/install-deps)",
                modules.display()
            )));
        }
        let elf = boot.join(format!("vmlinux-{release}"));
        Ok(Kernel {
            image: if is_elf(&elf) {
                elf
            } else {
                boot.join(format!("vmlinuz-{release}"))
            },
            release,
            modules,
        })
    }

    /// The files of `names` and of everything they depend on, dependencies first, as paths
    /// relative to [`Kernel::modules`]. Built-in modules (absent from modules.dep) are
    /// skipped.
    pub fn resolve(&self, names: &[&str]) -> Result<Vec<PathBuf>> {
        let dep = std::fs::read_to_string(self.modules.join("modules.dep")).map_err(io_err(
            format!("guest kernel {}: modules.dep", self.release),
        ))?;
        let mut by_name: HashMap<String, (String, Vec<String>)> = HashMap::new();
        for line in dep.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let name = module_name(path);
            let deps = deps.split_whitespace().map(str::to_string).collect();
            by_name.insert(name, (path.to_string(), deps));
        }
        let mut order: Vec<PathBuf> = Vec::new();
        for n in names {
            let key = n.replace('-', "_");
            let Some((path, deps)) = by_name.get(&key) else {
                continue; // built in
            };
            // modules.dep lists every transitive dependency, the deepest last.
            for d in deps.iter().rev().chain(std::iter::once(path)) {
                let p = PathBuf::from(d);
                if !order.contains(&p) {
                    order.push(p);
                }
            }
        }
        Ok(order)
    }
}

/// Whether `path` is a file that starts with the ELF magic (an unfinished extraction is not).
fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// `kernel/drivers/char/virtio_console.ko` -> `virtio_console`.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel 6.1.0-x unpacked in a temporary directory: its bzImage and `modules.dep`.
    fn unpacked(modules_dep: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("lib/modules/6.1.0-x");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::create_dir_all(d.path().join("boot")).unwrap();
        std::fs::write(d.path().join("boot/vmlinuz-6.1.0-x"), b"MZ").unwrap();
        std::fs::write(m.join("modules.dep"), modules_dep).unwrap();
        d
    }

    #[test]
    fn dependencies_come_first_once() {
        let d = unpacked(
            "kernel/a/virtio_console.ko: kernel/a/virtio.ko kernel/a/virtio_ring.ko\n\
             kernel/a/virtio_mmio.ko: kernel/a/virtio.ko kernel/a/virtio_ring.ko\n\
             kernel/a/virtio_ring.ko:\nkernel/a/virtio.ko:\n",
        );
        let k = Kernel::find(d.path()).unwrap();
        assert_eq!(k.release, "6.1.0-x");
        let order = k
            .resolve(&["virtio_mmio", "virtio_console", "ext4"])
            .unwrap();
        let names: Vec<_> = order.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "kernel/a/virtio_ring.ko",
                "kernel/a/virtio.ko",
                "kernel/a/virtio_mmio.ko",
                "kernel/a/virtio_console.ko"
            ]
        );
        assert!(Kernel::find(&d.path().join("none"))
            .unwrap_err()
            .to_string()
            .contains("install-deps"));
    }

    #[test]
    fn the_elf_vmlinux_is_booted_when_extracted_whole() {
        let d = unpacked("");
        let boot = d.path().join("boot");
        let image = || Kernel::find(d.path()).unwrap().image;
        assert_eq!(image(), boot.join("vmlinuz-6.1.0-x"));
        // A cut-short extraction is no ELF: the bzImage is still booted.
        std::fs::write(boot.join("vmlinux-6.1.0-x"), b"\x7fEL").unwrap();
        assert_eq!(image(), boot.join("vmlinuz-6.1.0-x"));
        std::fs::write(boot.join("vmlinux-6.1.0-x"), b"\x7fELF\x02\x01").unwrap();
        assert_eq!(image(), boot.join("vmlinux-6.1.0-x"));
    }
}
