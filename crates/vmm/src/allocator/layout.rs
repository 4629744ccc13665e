//! Fixed guest physical memory layout (x86_64), close to Firecracker's so Linux finds things
//! where it expects them.

/// GDT used for the boot CPU.
pub const GDT_ADDR: u64 = 0x500;
/// PVH `hvm_start_info` structure.
pub const PVH_INFO_ADDR: u64 = 0x6000;
/// PVH memory map (array of `hvm_memmap_table_entry`).
pub const PVH_MEMMAP_ADDR: u64 = 0x6040;
/// PVH module list (initrd).
pub const PVH_MODLIST_ADDR: u64 = 0x6800;
/// Linux zero page (`boot_params`).
pub const ZERO_PAGE_ADDR: u64 = 0x7000;
/// Initial stack pointer of the boot CPU.
pub const BOOT_STACK: u64 = 0x8ff0;
/// Level 4 page table.
pub const PML4_ADDR: u64 = 0x9000;
/// Page directory pointer table.
pub const PDPT_ADDR: u64 = 0xa000;
/// Four page directories (2 MiB pages) identity-mapping the first 4 GiB.
pub const PD_ADDR: u64 = 0xb000;
/// Kernel command line.
pub const CMDLINE_ADDR: u64 = 0x20000;
/// Maximum command line length including the NUL.
pub const CMDLINE_MAX: usize = 4096;
/// Extended BIOS data area: the MP table lives here, the e820 map stops here.
pub const EBDA_START: u64 = 0x9fc00;
/// ACPI RSDP (the guest scans 0xe0000..0xfffff for it).
pub const RSDP_ADDR: u64 = 0xe0000;
/// Other ACPI tables follow the RSDP.
pub const ACPI_TABLES_ADDR: u64 = 0xe1000;
/// End of the ACPI area.
pub const ACPI_TABLES_END: u64 = 0x100000;
/// Start of high memory, where kernels are loaded.
pub const HIMEM_START: u64 = 0x100000;
/// Start of the 32-bit MMIO hole (guest RAM above it moves past 4 GiB).
pub const MMIO_GAP_START: u64 = 0xc000_0000;
/// End of the 32-bit MMIO hole.
pub const MMIO_GAP_END: u64 = 0x1_0000_0000;
/// First virtio-mmio device window.
pub const VIRTIO_MMIO_BASE: u64 = 0xd000_0000;
/// Size of one virtio-mmio device window.
pub const VIRTIO_MMIO_SIZE: u64 = 0x1000;
/// IOAPIC MMIO address (in-kernel irqchip).
pub const IOAPIC_ADDR: u64 = 0xfec0_0000;
/// Local APIC MMIO address.
pub const LAPIC_ADDR: u64 = 0xfee0_0000;
/// Address KVM needs for its TSS (three pages).
pub const KVM_TSS_ADDR: u64 = 0xfffb_d000;
/// Legacy serial COM1 port base.
pub const COM1_PORT: u16 = 0x3f8;
/// COM1 interrupt line.
pub const COM1_IRQ: u32 = 4;
/// i8042 data port.
pub const I8042_DATA_PORT: u16 = 0x60;
/// i8042 command/status port.
pub const I8042_CMD_PORT: u16 = 0x64;
/// Panic notification port (QEMU's pvpanic ISA default).
pub const PVPANIC_PORT: u16 = 0x505;
/// ACPI hardware-reduced sleep control/status register (power-off).
pub const ACPI_SLEEP_PORT: u16 = 0x3c0;
/// First IRQ line handed to virtio devices.
pub const VIRTIO_FIRST_IRQ: u32 = 5;
/// Last usable IOAPIC pin.
pub const LAST_IRQ: u32 = 23;
