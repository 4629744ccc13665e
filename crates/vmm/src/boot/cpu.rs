//! Boot CPU state: GDT, identity page tables, segment and control registers, general
//! registers, CPUID, MSRs, FPU and local APIC LINT pins.

use super::Entry;
use crate::allocator::layout::*;
use crate::allocator::memory::GuestMemoryMmap;
use crate::error::{Error, Result};
use kvm_bindings::{kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, CpuId, Msrs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress};

/// GDT selectors (Linux's __BOOT_CS / __BOOT_DS).
pub const CODE_SEL: u16 = 0x10;
/// Data segment selector.
pub const DATA_SEL: u16 = 0x18;
/// TSS selector.
pub const TSS_SEL: u16 = 0x20;

const CR0_PE: u64 = 1;
const CR0_ET: u64 = 1 << 4;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;

/// Encodes a GDT descriptor.
pub fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    let (flags, base, limit) = (flags as u64, base as u64, limit as u64);
    ((base & 0xff00_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0xffff)
        | ((limit & 0xf_0000) << 32)
        | ((flags & 0xf0ff) << 40)
}

/// Decodes a GDT descriptor into KVM's segment form.
pub fn segment(entry: u64, selector: u16) -> kvm_segment {
    let base = ((entry >> 16) & 0xff_ffff) | ((entry >> 32) & 0xff00_0000);
    let limit_raw = ((entry & 0xffff) | ((entry >> 32) & 0xf_0000)) as u32;
    let g = ((entry >> 55) & 1) as u8;
    let limit = if g == 1 {
        (limit_raw << 12) | 0xfff
    } else {
        limit_raw
    };
    kvm_segment {
        base,
        limit,
        selector,
        type_: ((entry >> 40) & 0xf) as u8,
        present: ((entry >> 47) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        db: ((entry >> 54) & 1) as u8,
        s: ((entry >> 44) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        g,
        avl: ((entry >> 52) & 1) as u8,
        unusable: if (entry >> 47) & 1 == 0 { 1 } else { 0 },
        padding: 0,
    }
}

/// The boot GDT for an entry kind: null, null, code (64- or 32-bit), data, TSS.
pub fn gdt_for(entry: Entry) -> [u64; 5] {
    let code = match entry {
        Entry::Linux64 { .. } => gdt_entry(0xa09b, 0, 0xfffff),
        Entry::Pvh32 { .. } => gdt_entry(0xc09b, 0, 0xfffff),
    };
    [
        0,
        0,
        code,
        gdt_entry(0xc093, 0, 0xfffff),
        gdt_entry(0x808b, 0, 0xfffff),
    ]
}

/// Writes identity page tables mapping the first 4 GiB with 2 MiB pages.
pub fn write_page_tables(mem: &GuestMemoryMmap) -> Result<()> {
    let w = |v: u64, a: u64| {
        mem.write_obj(v, GuestAddress(a))
            .map_err(|e| Error::BootSetup(format!("write page tables: {e}")))
    };
    w(PDPT_ADDR | 0x3, PML4_ADDR)?;
    for i in 0..4u64 {
        w((PD_ADDR + i * 0x1000) | 0x3, PDPT_ADDR + i * 8)?;
    }
    let mut pd = vec![0u8; 4 * 4096];
    for i in 0..2048u64 {
        pd[(i * 8) as usize..(i * 8 + 8) as usize]
            .copy_from_slice(&((i << 21) | 0x83).to_le_bytes());
    }
    mem.write_slice(&pd, GuestAddress(PD_ADDR))
        .map_err(|e| Error::BootSetup(format!("write page tables: {e}")))
}

/// Sets segment, control and general registers of the boot vCPU for `entry`.
pub fn setup_boot_vcpu(vcpu: &VcpuFd, mem: &GuestMemoryMmap, entry: Entry) -> Result<()> {
    let gdt = gdt_for(entry);
    for (i, e) in gdt.iter().enumerate() {
        mem.write_obj(*e, GuestAddress(GDT_ADDR + i as u64 * 8))
            .map_err(|e| Error::BootSetup(format!("write gdt: {e}")))?;
    }
    let mut s = vcpu.get_sregs().map_err(|e| Error::kvm("get sregs", e))?;
    let code = segment(gdt[2], CODE_SEL);
    let data = segment(gdt[3], DATA_SEL);
    let tss = segment(gdt[4], TSS_SEL);
    s.gdt.base = GDT_ADDR;
    s.gdt.limit = (gdt.len() * 8 - 1) as u16;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.cs = code;
    s.ds = data;
    s.es = data;
    s.fs = data;
    s.gs = data;
    s.ss = data;
    s.tr = tss;
    let mut regs = kvm_regs {
        rflags: 0x2,
        ..Default::default()
    };
    match entry {
        Entry::Linux64 { rip } => {
            write_page_tables(mem)?;
            s.cr3 = PML4_ADDR;
            s.cr4 |= CR4_PAE;
            s.cr0 = CR0_PE | CR0_ET | CR0_PG;
            s.efer |= EFER_LME | EFER_LMA;
            regs.rip = rip;
            regs.rsp = BOOT_STACK;
            regs.rbp = BOOT_STACK;
            regs.rsi = ZERO_PAGE_ADDR;
        }
        Entry::Pvh32 { rip } => {
            s.cr0 = CR0_PE | CR0_ET;
            s.cr4 = 0;
            s.efer = 0;
            regs.rip = rip;
            regs.rbx = PVH_INFO_ADDR;
        }
    }
    vcpu.set_sregs(&s).map_err(|e| Error::kvm("set sregs", e))?;
    vcpu.set_regs(&regs)
        .map_err(|e| Error::kvm("set regs", e))?;
    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(|e| Error::kvm("set fpu", e))
}

/// Patches the host-supported CPUID for vCPU `id` of `count` and sets it.
pub fn setup_cpuid(vcpu: &VcpuFd, base: &CpuId, id: u8, count: u8) -> Result<()> {
    let mut cpuid = base.clone();
    for e in cpuid.as_mut_slice() {
        match e.function {
            1 => {
                e.ebx = (e.ebx & 0x0000_ffff) | ((count as u32) << 16) | ((id as u32) << 24);
                e.ecx |= 1 << 31; // hypervisor present
                e.edx |= 1 << 28; // HTT: the logical count field is valid
            }
            0xb | 0x1f => e.edx = id as u32,
            _ => {}
        }
    }
    vcpu.set_cpuid2(&cpuid)
        .map_err(|e| Error::kvm("set cpuid", e))
}

/// MSRs the boot protocol leaves in a defined state.
pub const BOOT_MSRS: &[(u32, u64)] = &[
    (0x174, 0),       // IA32_SYSENTER_CS
    (0x175, 0),       // IA32_SYSENTER_ESP
    (0x176, 0),       // IA32_SYSENTER_EIP
    (0xc000_0081, 0), // STAR
    (0xc000_0082, 0), // LSTAR
    (0xc000_0083, 0), // CSTAR
    (0xc000_0084, 0), // SFMASK
    (0xc000_0102, 0), // KERNEL_GS_BASE
    (0x1a0, 1),       // IA32_MISC_ENABLE: fast strings
];

/// Sets [`BOOT_MSRS`]; returns how many KVM accepted (PVM may refuse some).
pub fn setup_msrs(vcpu: &VcpuFd) -> Result<usize> {
    let entries: Vec<kvm_msr_entry> = BOOT_MSRS
        .iter()
        .map(|(i, d)| kvm_msr_entry {
            index: *i,
            data: *d,
            ..Default::default()
        })
        .collect();
    let msrs =
        Msrs::from_entries(&entries).map_err(|e| Error::BootSetup(format!("msrs: {e:?}")))?;
    let n = vcpu
        .set_msrs(&msrs)
        .map_err(|e| Error::kvm("set msrs", e))?;
    if n != entries.len() {
        tracing::debug!("boot: kvm accepted {n} of {} boot msrs", entries.len());
    }
    Ok(n)
}

/// Sets LINT0 to ExtINT and LINT1 to NMI so the legacy PIC and NMIs reach the CPU.
pub fn setup_lint(vcpu: &VcpuFd) -> Result<()> {
    let mut lapic = vcpu.get_lapic().map_err(|e| Error::kvm("get lapic", e))?;
    let set = |regs: &mut [std::os::raw::c_char], off: usize, mode: u32| {
        let mut b = [0u8; 4];
        for (i, x) in b.iter_mut().enumerate() {
            *x = regs[off + i] as u8;
        }
        let v = (u32::from_le_bytes(b) & !0x700) | (mode << 8);
        for (i, x) in v.to_le_bytes().iter().enumerate() {
            regs[off + i] = *x as std::os::raw::c_char;
        }
    };
    set(&mut lapic.regs, 0x350, 7);
    set(&mut lapic.regs, 0x360, 4);
    vcpu.set_lapic(&lapic)
        .map_err(|e| Error::kvm("set lapic", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdt_entries_decode_back() {
        let code = segment(gdt_entry(0xa09b, 0, 0xfffff), CODE_SEL);
        assert_eq!(
            (code.l, code.db, code.present, code.type_, code.s),
            (1, 0, 1, 0xb, 1)
        );
        assert_eq!(code.limit, 0xffff_ffff);
        let data = segment(gdt_entry(0xc093, 0, 0xfffff), DATA_SEL);
        assert_eq!((data.l, data.db, data.type_), (0, 1, 3));
        let tss = segment(gdt_entry(0x808b, 0, 0xfffff), TSS_SEL);
        assert_eq!((tss.type_, tss.s), (0xb, 0));
        assert_eq!(gdt_entry(0xa09b, 0, 0xfffff), 0x00af_9b00_0000_ffff);
    }
}
