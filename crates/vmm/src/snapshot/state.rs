//! vCPU and VM state capture and restore through KVM ioctls.

use crate::error::{Error, Result};
use kvm_bindings::{
    kvm_clock_data, kvm_fpu, kvm_irqchip, kvm_lapic_state, kvm_mp_state, kvm_msr_entry, kvm_regs,
    kvm_sregs, kvm_vcpu_events, Msrs, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE,
};
use kvm_ioctls::{VcpuFd, VmFd};
use serde::{Deserialize, Serialize};

/// MSRs saved with each vCPU (besides what sregs carries).
pub const SAVED_MSRS: &[u32] = &[
    0x10,        // TSC
    0x1b,        // APIC_BASE
    0x174,       // SYSENTER_CS
    0x175,       // SYSENTER_ESP
    0x176,       // SYSENTER_EIP
    0x1a0,       // MISC_ENABLE
    0x277,       // PAT
    0xc000_0081, // STAR
    0xc000_0082, // LSTAR
    0xc000_0083, // CSTAR
    0xc000_0084, // SFMASK
    0xc000_0102, // KERNEL_GS_BASE
    0xc000_0103, // TSC_AUX
];

/// One vCPU's architectural state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VcpuState {
    /// General registers.
    pub regs: kvm_regs,
    /// Segment, control and descriptor-table registers.
    pub sregs: kvm_sregs,
    /// x87/SSE state as raw bytes of `kvm_fpu`.
    pub fpu: Vec<u8>,
    /// Local APIC.
    pub lapic: kvm_lapic_state,
    /// Saved MSRs that KVM could read.
    pub msrs: Vec<kvm_msr_entry>,
    /// Run state (runnable, halted, waiting for SIPI).
    pub mp_state: kvm_mp_state,
    /// Pending exceptions, interrupts, NMIs.
    pub events: kvm_vcpu_events,
}

fn fpu_bytes(f: &kvm_fpu) -> Vec<u8> {
    // SAFETY: kvm_fpu is a plain C struct of integers and byte arrays; viewing it as bytes
    // for its exact size reads only initialised memory.
    unsafe {
        std::slice::from_raw_parts(
            f as *const kvm_fpu as *const u8,
            std::mem::size_of::<kvm_fpu>(),
        )
    }
    .to_vec()
}

fn fpu_from(b: &[u8]) -> Result<kvm_fpu> {
    if b.len() != std::mem::size_of::<kvm_fpu>() {
        return Err(Error::Device(
            "snapshot: fpu state has the wrong size".into(),
        ));
    }
    let mut f = kvm_fpu::default();
    // SAFETY: sizes are equal (checked above) and every bit pattern is a valid kvm_fpu.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), &mut f as *mut kvm_fpu as *mut u8, b.len())
    };
    Ok(f)
}

/// Reads a vCPU's state (the vCPU must be out of KVM_RUN).
pub fn save_vcpu(v: &VcpuFd) -> Result<VcpuState> {
    let entries: Vec<kvm_msr_entry> = SAVED_MSRS
        .iter()
        .map(|i| kvm_msr_entry {
            index: *i,
            ..Default::default()
        })
        .collect();
    let mut msrs =
        Msrs::from_entries(&entries).map_err(|e| Error::Device(format!("msrs: {e:?}")))?;
    let n = v
        .get_msrs(&mut msrs)
        .map_err(|e| Error::kvm("get msrs", e))?;
    Ok(VcpuState {
        regs: v.get_regs().map_err(|e| Error::kvm("get regs", e))?,
        sregs: v.get_sregs().map_err(|e| Error::kvm("get sregs", e))?,
        fpu: fpu_bytes(&v.get_fpu().map_err(|e| Error::kvm("get fpu", e))?),
        lapic: v.get_lapic().map_err(|e| Error::kvm("get lapic", e))?,
        msrs: msrs.as_slice()[..n].to_vec(),
        mp_state: v
            .get_mp_state()
            .map_err(|e| Error::kvm("get mp state", e))?,
        events: v
            .get_vcpu_events()
            .map_err(|e| Error::kvm("get vcpu events", e))?,
    })
}

/// Writes a vCPU's state back (CPUID must already be set).
pub fn restore_vcpu(v: &VcpuFd, s: &VcpuState) -> Result<()> {
    v.set_sregs(&s.sregs)
        .map_err(|e| Error::kvm("set sregs", e))?;
    v.set_regs(&s.regs).map_err(|e| Error::kvm("set regs", e))?;
    v.set_fpu(&fpu_from(&s.fpu)?)
        .map_err(|e| Error::kvm("set fpu", e))?;
    let msrs = Msrs::from_entries(&s.msrs).map_err(|e| Error::Device(format!("msrs: {e:?}")))?;
    v.set_msrs(&msrs).map_err(|e| Error::kvm("set msrs", e))?;
    v.set_lapic(&s.lapic)
        .map_err(|e| Error::kvm("set lapic", e))?;
    v.set_mp_state(s.mp_state)
        .map_err(|e| Error::kvm("set mp state", e))?;
    v.set_vcpu_events(&s.events)
        .map_err(|e| Error::kvm("set vcpu events", e))
}

/// VM-wide state: the in-kernel PICs and IOAPIC, and the KVM clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmState {
    /// PIC master, PIC slave, IOAPIC.
    pub irqchips: Vec<kvm_irqchip>,
    /// kvmclock.
    pub clock: kvm_clock_data,
}

/// Reads the VM's irqchip and clock state.
pub fn save_vm(vm: &VmFd) -> Result<VmState> {
    let mut irqchips = Vec::new();
    for id in [
        KVM_IRQCHIP_PIC_MASTER,
        KVM_IRQCHIP_PIC_SLAVE,
        KVM_IRQCHIP_IOAPIC,
    ] {
        let mut c = kvm_irqchip {
            chip_id: id,
            ..Default::default()
        };
        vm.get_irqchip(&mut c)
            .map_err(|e| Error::kvm("get irqchip", e))?;
        irqchips.push(c);
    }
    let clock = vm.get_clock().map_err(|e| Error::kvm("get clock", e))?;
    Ok(VmState { irqchips, clock })
}

/// Restores irqchip and clock state.
pub fn restore_vm(vm: &VmFd, s: &VmState) -> Result<()> {
    for c in &s.irqchips {
        vm.set_irqchip(c)
            .map_err(|e| Error::kvm("set irqchip", e))?;
    }
    // Only the clock value is restored; flags from another host/boot are not meaningful.
    let clock = kvm_clock_data {
        clock: s.clock.clock,
        ..Default::default()
    };
    vm.set_clock(&clock).map_err(|e| Error::kvm("set clock", e))
}
