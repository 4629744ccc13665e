//! vCPU and VM state capture and restore through KVM ioctls.

use crate::error::{Error, Result};
use kvm_bindings::{
    kvm_clock_data, kvm_fpu, kvm_irqchip, kvm_lapic_state, kvm_mp_state, kvm_msr_entry, kvm_regs,
    kvm_sregs, kvm_vcpu_events, kvm_xcrs, kvm_xsave, Msrs, KVM_IRQCHIP_IOAPIC,
    KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
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
    0x2ff,       // MTRR_DEF_TYPE
    0x6e0,       // TSC_DEADLINE
    0x4b56_4d00, // KVM_WALL_CLOCK_NEW
    0x4b56_4d01, // KVM_SYSTEM_TIME_NEW
    0x4b56_4d02, // KVM_ASYNC_PF_EN
    0x4b56_4d03, // KVM_STEAL_TIME
    0x4b56_4d04, // KVM_PV_EOI_EN
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
    /// Extended control registers, where KVM supports them.
    #[serde(default)]
    pub xcrs: Option<kvm_xcrs>,
    /// The 4 KiB xsave area (AVX and later state) as words, where KVM supports it.
    #[serde(default)]
    pub xsave: Option<Vec<u32>>,
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
    // One MSR at a time: KVM_GET_MSRS stops at the first index it does not know, and which
    // ones it knows depends on the host (PVM or VMX/SVM) and the guest's CPUID.
    let mut msrs = Vec::new();
    for i in SAVED_MSRS {
        let e = [kvm_msr_entry {
            index: *i,
            ..Default::default()
        }];
        let mut one = Msrs::from_entries(&e).map_err(|e| Error::Device(format!("msrs: {e:?}")))?;
        if v.get_msrs(&mut one)
            .map_err(|e| Error::kvm("get msrs", e))?
            == 1
        {
            msrs.push(one.as_slice()[0]);
        }
    }
    Ok(VcpuState {
        regs: v.get_regs().map_err(|e| Error::kvm("get regs", e))?,
        sregs: v.get_sregs().map_err(|e| Error::kvm("get sregs", e))?,
        fpu: fpu_bytes(&v.get_fpu().map_err(|e| Error::kvm("get fpu", e))?),
        lapic: v.get_lapic().map_err(|e| Error::kvm("get lapic", e))?,
        msrs,
        mp_state: v
            .get_mp_state()
            .map_err(|e| Error::kvm("get mp state", e))?,
        events: v
            .get_vcpu_events()
            .map_err(|e| Error::kvm("get vcpu events", e))?,
        xcrs: v.get_xcrs().ok(),
        xsave: v.get_xsave().ok().map(|x| x.region.to_vec()),
    })
}

/// Writes a vCPU's state back (CPUID must already be set).
pub fn restore_vcpu(v: &VcpuFd, s: &VcpuState) -> Result<()> {
    v.set_sregs(&s.sregs)
        .map_err(|e| Error::kvm("set sregs", e))?;
    v.set_regs(&s.regs).map_err(|e| Error::kvm("set regs", e))?;
    v.set_fpu(&fpu_from(&s.fpu)?)
        .map_err(|e| Error::kvm("set fpu", e))?;
    if let Some(x) = &s.xcrs {
        v.set_xcrs(x).map_err(|e| Error::kvm("set xcrs", e))?;
    }
    if let Some(words) = &s.xsave {
        let mut x = kvm_xsave::default();
        if words.len() != x.region.len() {
            return Err(Error::Device(
                "snapshot: xsave state has the wrong size".into(),
            ));
        }
        x.region.copy_from_slice(words);
        // SAFETY: `x` is a plain 4 KiB kvm_xsave (KVM_CAP_XSAVE2 is never enabled, so KVM
        // reads no more than its fixed size).
        unsafe { v.set_xsave(&x) }.map_err(|e| Error::kvm("set xsave", e))?;
    }
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
