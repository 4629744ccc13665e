//! The guest memory file: every RAM region written back to back; restored with a private
//! file mapping, so only the pages the guest touches are read, and guest writes never reach
//! the file.

use crate::allocator::memory::GuestMemoryMmap;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{FileOffset, GuestMemoryBackend, GuestMemoryRegion, GuestRegionMmap};

/// Writes all of guest memory to `path`.
pub fn save(mem: &GuestMemoryMmap, path: &Path) -> Result<()> {
    let ctx = || format!("snapshot {}: write memory", path.display());
    let mut f = File::create(path).map_err(|e| Error::io(ctx(), e))?;
    for r in mem.iter() {
        let host = r
            .get_host_address(vm_memory::MemoryRegionAddress(0))
            .map_err(|e| Error::Memory(format!("host address: {e}")))?;
        // SAFETY: the region is mapped for `len` bytes at `host` for the life of `mem`; the VM
        // is paused, so no vCPU writes to it while it is read.
        let bytes = unsafe { std::slice::from_raw_parts(host as *const u8, r.len() as usize) };
        f.write_all(bytes).map_err(|e| Error::io(ctx(), e))?;
    }
    f.sync_all().map_err(|e| Error::io(ctx(), e))
}

/// Maps `path` privately as guest memory with the layout of `mem_bytes`.
pub fn load(path: &Path, mem_bytes: u64) -> Result<GuestMemoryMmap> {
    let f = File::open(path)
        .map_err(|e| Error::io(format!("snapshot {}: open memory", path.display()), e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io("snapshot: stat memory", e))?
        .len();
    if len != mem_bytes {
        return Err(Error::Memory(format!(
            "snapshot {}: memory file is {len} bytes, config says {mem_bytes}",
            path.display()
        )));
    }
    let f = std::sync::Arc::new(f);
    let mut regions = Vec::new();
    let mut offset = 0u64;
    for (base, size) in crate::allocator::memory::ram_ranges(mem_bytes) {
        let m = MmapRegionBuilder::new(size as usize)
            .with_file_offset(FileOffset::from_arc(f.clone(), offset))
            .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
            .with_mmap_flags(libc::MAP_NORESERVE | libc::MAP_PRIVATE)
            .build()
            .map_err(|e| Error::Memory(format!("map snapshot memory: {e}")))?;
        regions.push(
            GuestRegionMmap::new(m, base)
                .ok_or_else(|| Error::Memory("snapshot memory region overflows".into()))?,
        );
        offset += size;
    }
    GuestMemoryMmap::from_regions(regions)
        .map_err(|e| Error::Memory(format!("snapshot memory: {e}")))
}
