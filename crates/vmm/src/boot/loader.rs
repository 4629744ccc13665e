//! Kernel and initrd loading: ELF (with or without the PVH note) and bzImage.

use super::Entry;
use crate::allocator::layout::{HIMEM_START, MMIO_GAP_START};
use crate::allocator::memory::GuestMemoryMmap;
use crate::error::{Error, Result};
use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::{BzImage, Elf, KernelLoader, PvhBootCapability};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

/// What the kernel loader produced.
#[derive(Debug, Clone)]
pub struct LoadedKernel {
    /// Where and how to enter it.
    pub entry: Entry,
    /// First address after the kernel image.
    pub kernel_end: u64,
    /// bzImage setup header (None for ELF).
    pub setup_header: Option<setup_header>,
}

/// Where an initrd was put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedInitrd {
    /// Guest physical address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
}

fn boot_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Boot {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Opens the kernel and checks its format before any memory is allocated.
pub fn probe_kernel(path: &Path) -> Result<()> {
    let mut f = File::open(path).map_err(|e| boot_err(path, format!("open kernel: {e}")))?;
    let mut head = [0u8; 0x206];
    let n = f
        .read(&mut head)
        .map_err(|e| boot_err(path, format!("read kernel: {e}")))?;
    if n >= 4 && &head[..4] == b"\x7fELF" {
        return Ok(());
    }
    if n >= 0x206 && &head[0x202..0x206] == b"HdrS" {
        return Ok(());
    }
    Err(boot_err(path, "bad image: neither an ELF nor a bzImage"))
}

/// Loads the kernel at `path` into `mem`.
pub fn load_kernel(mem: &GuestMemoryMmap, path: &Path) -> Result<LoadedKernel> {
    probe_kernel(path)?;
    let mut f = File::open(path).map_err(|e| boot_err(path, format!("open kernel: {e}")))?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic)
        .map_err(|e| boot_err(path, format!("read kernel: {e}")))?;
    if &magic == b"\x7fELF" {
        let r = Elf::load(mem, None, &mut f, Some(GuestAddress(HIMEM_START)))
            .map_err(|e| boot_err(path, format!("load elf: {e}")))?;
        let entry = match r.pvh_boot_cap {
            PvhBootCapability::PvhEntryPresent(a) => Entry::Pvh32 { rip: a.0 },
            _ => Entry::Linux64 {
                rip: r.kernel_load.0,
            },
        };
        Ok(LoadedKernel {
            entry,
            kernel_end: r.kernel_end,
            setup_header: None,
        })
    } else {
        let r = BzImage::load(mem, None, &mut f, Some(GuestAddress(HIMEM_START)))
            .map_err(|e| boot_err(path, format!("load bzimage: {e}")))?;
        let hdr = r
            .setup_header
            .ok_or_else(|| boot_err(path, "bzimage without setup header"))?;
        // xloadflags bit 0 (XLF_KERNEL_64): the image has the 64-bit entry at +0x200.
        if hdr.xloadflags & 1 == 0 {
            return Err(boot_err(
                path,
                "bzimage has no 64-bit entry point (xloadflags)",
            ));
        }
        Ok(LoadedKernel {
            entry: Entry::Linux64 {
                rip: r.kernel_load.0 + 0x200,
            },
            kernel_end: r.kernel_end,
            setup_header: Some(hdr),
        })
    }
}

/// Places the initrd as high as possible in low memory (below `addr_max`), page aligned, above
/// the kernel.
pub fn load_initrd(
    mem: &GuestMemoryMmap,
    path: &Path,
    kernel_end: u64,
    addr_max: Option<u64>,
) -> Result<LoadedInitrd> {
    let data = std::fs::read(path).map_err(|e| boot_err(path, format!("read initrd: {e}")))?;
    let size = data.len() as u64;
    let low_end = mem
        .iter()
        .next()
        .map(|r| r.start_addr().0 + r.len())
        .unwrap_or(0)
        .min(MMIO_GAP_START);
    let top = match addr_max {
        Some(m) if m > 0 => low_end.min(m + 1),
        _ => low_end,
    };
    let addr = top
        .checked_sub(size)
        .map(|a| a & !0xfff)
        .filter(|a| *a >= kernel_end)
        .ok_or_else(|| {
            boot_err(
                path,
                format!("initrd of {size} bytes does not fit in guest memory"),
            )
        })?;
    mem.write_slice(&data, GuestAddress(addr))
        .map_err(|e| boot_err(path, format!("write initrd: {e}")))?;
    Ok(LoadedInitrd { addr, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_kernels() {
        let d = std::env::temp_dir().join(format!("strata-vmm-bad-{}", std::process::id()));
        std::fs::write(&d, b"this is not a kernel").unwrap();
        let e = probe_kernel(&d).unwrap_err().to_string();
        std::fs::remove_file(&d).unwrap();
        assert!(e.contains("bad image"), "{e}");
        let e = probe_kernel(Path::new("/nonexistent/kernel"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("boot /nonexistent/kernel: open kernel"),
            "{e}"
        );
    }

    #[test]
    fn initrd_goes_high_and_aligned() {
        let mem = crate::allocator::memory::create(64 << 20).unwrap();
        let d = std::env::temp_dir().join(format!("strata-vmm-initrd-{}", std::process::id()));
        std::fs::write(&d, vec![7u8; 5000]).unwrap();
        let r = load_initrd(&mem, &d, 0x200000, None).unwrap();
        assert_eq!(r.addr, ((64 << 20) - 5000) & !0xfff);
        assert_eq!(r.size, 5000);
        let r = load_initrd(&mem, &d, 0x200000, Some(0x3fffff)).unwrap();
        assert_eq!(r.addr, (0x400000 - 5000) & !0xfff);
        assert!(load_initrd(&mem, &d, 63 << 20, Some(0x3fffff)).is_err());
        std::fs::remove_file(&d).unwrap();
    }
}
