//! Guest memory: size checks against the host, the RAM regions (split around the 32-bit MMIO
//! hole) and their registration with KVM.

use crate::allocator::layout::{MMIO_GAP_END, MMIO_GAP_START};
use crate::error::{Error, Result};
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

/// Guest memory type used throughout the VMM.
pub type GuestMemoryMmap = vm_memory::GuestMemoryMmap<()>;

/// Smallest guest the VMM accepts.
pub const MIN_MEM_MIB: u64 = 8;

/// The guest RAM ranges for `mem_bytes` of memory, skipping the MMIO hole below 4 GiB.
pub fn ram_ranges(mem_bytes: u64) -> Vec<(GuestAddress, u64)> {
    if mem_bytes <= MMIO_GAP_START {
        vec![(GuestAddress(0), mem_bytes)]
    } else {
        vec![
            (GuestAddress(0), MMIO_GAP_START),
            (GuestAddress(MMIO_GAP_END), mem_bytes - MMIO_GAP_START),
        ]
    }
}

/// Total host memory in bytes, from /proc/meminfo.
pub fn host_mem_bytes() -> Result<u64> {
    let s = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| Error::io("allocator: read /proc/meminfo", e))?;
    parse_mem_total(&s).ok_or_else(|| Error::Memory("no MemTotal in /proc/meminfo".into()))
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Checks a requested size before anything is allocated.
pub fn check_size(mem_mib: u64) -> Result<u64> {
    if mem_mib < MIN_MEM_MIB {
        return Err(Error::Config(format!(
            "memory {mem_mib} MiB: below the minimum of {MIN_MEM_MIB} MiB"
        )));
    }
    let bytes = mem_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| Error::Config(format!("memory {mem_mib} MiB: too large")))?;
    let host = host_mem_bytes()?;
    if bytes > host {
        return Err(Error::Config(format!(
            "memory {mem_mib} MiB: more than the host has ({} MiB)",
            host >> 20
        )));
    }
    Ok(bytes)
}

/// Maps anonymous guest memory of `mem_bytes` (not yet touched, so it costs no RSS).
pub fn create(mem_bytes: u64) -> Result<GuestMemoryMmap> {
    let ranges: Vec<(GuestAddress, usize)> = ram_ranges(mem_bytes)
        .into_iter()
        .map(|(a, l)| (a, l as usize))
        .collect();
    GuestMemoryMmap::from_ranges(&ranges).map_err(|e| Error::Memory(format!("mmap: {e}")))
}

/// Registers every region of `mem` with KVM as memory slots 0.. (with dirty logging if asked).
pub fn register(vm: &VmFd, mem: &GuestMemoryMmap, dirty_log: bool) -> Result<()> {
    for (slot, region) in mem.iter().enumerate() {
        let host = region
            .get_host_address(vm_memory::MemoryRegionAddress(0))
            .map_err(|e| Error::Memory(format!("host address: {e}")))?;
        let r = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: if dirty_log {
                kvm_bindings::KVM_MEM_LOG_DIRTY_PAGES
            } else {
                0
            },
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the region's host mapping stays alive as long as `mem`, which the VM owns
        // for its whole life; KVM only accesses it through this registered range.
        unsafe { vm.set_user_memory_region(r) }
            .map_err(|e| Error::kvm("set user memory region", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_memory_is_one_range() {
        assert_eq!(ram_ranges(256 << 20), vec![(GuestAddress(0), 256 << 20)]);
    }

    #[test]
    fn large_memory_skips_the_mmio_hole() {
        let r = ram_ranges(4 << 30);
        assert_eq!(r[0], (GuestAddress(0), MMIO_GAP_START));
        assert_eq!(
            r[1],
            (GuestAddress(MMIO_GAP_END), (4 << 30) - MMIO_GAP_START)
        );
    }

    #[test]
    fn parses_meminfo() {
        assert_eq!(
            parse_mem_total("MemTotal:  1024 kB\nMemFree: 3 kB\n"),
            Some(1 << 20)
        );
    }

    #[test]
    fn rejects_more_than_host() {
        let host = host_mem_bytes().unwrap() >> 20;
        let e = check_size(host + 1024).unwrap_err().to_string();
        assert!(e.contains("more than the host has"), "{e}");
        assert!(check_size(4).is_err());
    }
}
