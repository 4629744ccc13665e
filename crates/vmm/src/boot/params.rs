//! Boot parameters: the command line, the e820 map, the Linux zero page and the PVH
//! start_info structure.

use super::loader::{LoadedInitrd, LoadedKernel};
use crate::allocator::layout::*;
use crate::allocator::memory::GuestMemoryMmap;
use crate::error::{Error, Result};
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params};
use linux_loader::start_info::{hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

/// e820 usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 reserved.
pub const E820_RESERVED: u32 = 2;
/// PVH start_info magic.
pub const PVH_MAGIC: u32 = 0x336e_c578;
/// "HdrS".
const HDRS_MAGIC: u32 = 0x5372_6448;
/// Boot sector signature.
const BOOT_FLAG: u16 = 0xaa55;
/// Loader type "undefined/other".
const LOADER_OTHER: u8 = 0xff;

/// The guest's e820 map: low RAM, the EBDA/BIOS hole as reserved, then every RAM region above
/// 1 MiB.
pub fn e820_map(mem: &GuestMemoryMmap) -> Vec<(u64, u64, u32)> {
    let mut map = vec![
        (0, EBDA_START, E820_RAM),
        (EBDA_START, HIMEM_START - EBDA_START, E820_RESERVED),
    ];
    for r in mem.iter() {
        let start = r.start_addr().0.max(HIMEM_START);
        let end = r.start_addr().0 + r.len();
        if end > start {
            map.push((start, end - start, E820_RAM));
        }
    }
    map
}

/// Writes the NUL-terminated command line at `CMDLINE_ADDR`.
pub fn write_cmdline(mem: &GuestMemoryMmap, cmdline: &str) -> Result<()> {
    if cmdline.len() + 1 > CMDLINE_MAX {
        return Err(Error::Config(format!(
            "kernel command line of {} bytes exceeds {} bytes",
            cmdline.len(),
            CMDLINE_MAX - 1
        )));
    }
    if cmdline.as_bytes().contains(&0) {
        return Err(Error::Config(
            "kernel command line contains a nul byte".into(),
        ));
    }
    let mut b = cmdline.as_bytes().to_vec();
    b.push(0);
    mem.write_slice(&b, GuestAddress(CMDLINE_ADDR))
        .map_err(|e| Error::BootSetup(format!("write command line: {e}")))
}

/// Writes the Linux zero page for a 64-bit boot.
pub fn write_zero_page(
    mem: &GuestMemoryMmap,
    kernel: &LoadedKernel,
    cmdline_len: usize,
    initrd: Option<LoadedInitrd>,
    rsdp: Option<u64>,
) -> Result<()> {
    let mut p = boot_params {
        acpi_rsdp_addr: rsdp.unwrap_or(0),
        ..Default::default()
    };
    if let Some(h) = kernel.setup_header {
        p.hdr = h;
    }
    p.hdr.type_of_loader = LOADER_OTHER;
    p.hdr.boot_flag = BOOT_FLAG;
    p.hdr.header = HDRS_MAGIC;
    p.hdr.cmd_line_ptr = CMDLINE_ADDR as u32;
    p.hdr.cmdline_size = cmdline_len as u32;
    if p.hdr.kernel_alignment == 0 {
        p.hdr.kernel_alignment = 0x0100_0000;
    }
    if let Some(i) = initrd {
        p.hdr.ramdisk_image = i.addr as u32;
        p.hdr.ramdisk_size = i.size as u32;
    }
    let map = e820_map(mem);
    if map.len() > p.e820_table.len() {
        return Err(Error::BootSetup("too many e820 entries".into()));
    }
    for (i, (addr, size, type_)) in map.iter().enumerate() {
        p.e820_table[i] = boot_e820_entry {
            addr: *addr,
            size: *size,
            r#type: *type_,
        };
    }
    p.e820_entries = map.len() as u8;
    mem.write_obj(p, GuestAddress(ZERO_PAGE_ADDR))
        .map_err(|e| Error::BootSetup(format!("write zero page: {e}")))
}

/// Writes the PVH `hvm_start_info`, its memory map and module list.
pub fn write_pvh_info(
    mem: &GuestMemoryMmap,
    initrd: Option<LoadedInitrd>,
    rsdp: Option<u64>,
) -> Result<()> {
    let map = e820_map(mem);
    for (i, (addr, size, type_)) in map.iter().enumerate() {
        let e = hvm_memmap_table_entry {
            addr: *addr,
            size: *size,
            type_: *type_,
            reserved: 0,
        };
        mem.write_obj(e, GuestAddress(PVH_MEMMAP_ADDR + (i * 24) as u64))
            .map_err(|e| Error::BootSetup(format!("write pvh memmap: {e}")))?;
    }
    let mut info = hvm_start_info {
        magic: PVH_MAGIC,
        version: 1,
        cmdline_paddr: CMDLINE_ADDR,
        memmap_paddr: PVH_MEMMAP_ADDR,
        memmap_entries: map.len() as u32,
        rsdp_paddr: rsdp.unwrap_or(0),
        ..Default::default()
    };
    if let Some(i) = initrd {
        let m = hvm_modlist_entry {
            paddr: i.addr,
            size: i.size,
            ..Default::default()
        };
        mem.write_obj(m, GuestAddress(PVH_MODLIST_ADDR))
            .map_err(|e| Error::BootSetup(format!("write pvh modlist: {e}")))?;
        info.nr_modules = 1;
        info.modlist_paddr = PVH_MODLIST_ADDR;
    }
    mem.write_obj(info, GuestAddress(PVH_INFO_ADDR))
        .map_err(|e| Error::BootSetup(format!("write pvh start info: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e820_covers_ram_and_reserves_bios_area() {
        let mem = crate::allocator::memory::create(128 << 20).unwrap();
        let m = e820_map(&mem);
        assert_eq!(m[0], (0, EBDA_START, E820_RAM));
        assert_eq!(m[1].2, E820_RESERVED);
        assert_eq!(m[2], (HIMEM_START, (128 << 20) - HIMEM_START, E820_RAM));
    }

    #[test]
    fn cmdline_limits() {
        let mem = crate::allocator::memory::create(16 << 20).unwrap();
        assert!(write_cmdline(&mem, &"x".repeat(CMDLINE_MAX)).is_err());
        assert!(write_cmdline(&mem, "a\0b").is_err());
        write_cmdline(&mem, "console=ttyS0").unwrap();
        let mut b = [0u8; 14];
        mem.read_slice(&mut b, GuestAddress(CMDLINE_ADDR)).unwrap();
        assert_eq!(&b, b"console=ttyS0\0");
    }
}
