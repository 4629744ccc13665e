//! Boot: loading the kernel and initrd, and writing what a Linux kernel expects to find at
//! entry (zero page or PVH start_info, command line, e820 map, GDT, page tables, registers).

pub mod acpi;
pub mod aml;
pub mod cpu;
pub mod loader;
pub mod mptable;
pub mod params;

/// How the boot vCPU enters the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// 64-bit Linux boot protocol: long mode, paging on, RSI = zero page.
    Linux64 {
        /// Entry RIP.
        rip: u64,
    },
    /// PVH: 32-bit protected mode, paging off, EBX = hvm_start_info.
    Pvh32 {
        /// Entry EIP.
        rip: u64,
    },
}
