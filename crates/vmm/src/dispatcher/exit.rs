//! Classification of KVM exits that stop a vCPU.

use crate::error::VcpuFailure;
use kvm_ioctls::VcpuFd;

/// KVM_SYSTEM_EVENT_SHUTDOWN.
pub const SYSTEM_EVENT_SHUTDOWN: u32 = 1;
/// KVM_SYSTEM_EVENT_RESET.
pub const SYSTEM_EVENT_RESET: u32 = 2;
/// KVM_SYSTEM_EVENT_CRASH.
pub const SYSTEM_EVENT_CRASH: u32 = 3;

/// Why a vCPU loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcpuOutcome {
    /// The guest asked for power-off or reset: the VMM exits with status 0.
    GuestStop,
    /// The VMM asked the vCPU to stop (API stop, another vCPU failed).
    Stopped,
    /// The vCPU failed.
    Failed(VcpuFailure),
}

/// Reads the details of a KVM_EXIT_INTERNAL_ERROR from the vCPU's run structure.
pub fn internal_error(vcpu: &mut VcpuFd) -> VcpuFailure {
    let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
    let run = vcpu.get_kvm_run();
    // SAFETY: the exit reason is KVM_EXIT_INTERNAL_ERROR (the caller just received
    // VcpuExit::InternalError), so the `internal` member of the union is the active one.
    let internal = unsafe { run.__bindgen_anon_1.internal };
    let n = (internal.ndata as usize).min(internal.data.len());
    VcpuFailure::KvmInternal {
        suberror: internal.suberror,
        data: internal.data[..n].to_vec(),
        rip,
    }
}
