//! The vCPU run loop.

use super::exit::{
    internal_error, VcpuOutcome, SYSTEM_EVENT_CRASH, SYSTEM_EVENT_RESET, SYSTEM_EVENT_SHUTDOWN,
};
use crate::allocator::bus::{Bus, GuestRequest};
use crate::error::VcpuFailure;
use kvm_ioctls::{VcpuExit, VcpuFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Counters the dispatcher keeps per VM (reported by the metrics endpoint).
#[derive(Debug, Default)]
pub struct ExitCounters {
    /// Port I/O exits.
    pub pio: AtomicU64,
    /// MMIO exits.
    pub mmio: AtomicU64,
    /// Other exits.
    pub other: AtomicU64,
}

/// State shared between the VMM and its vCPU threads.
#[derive(Default)]
pub struct VcpuShared {
    /// Set to make every vCPU leave its loop at the next exit.
    pub stop: AtomicBool,
    /// Exit counters.
    pub counters: ExitCounters,
}

/// The buses a vCPU routes accesses to.
#[derive(Clone)]
pub struct Buses {
    /// Port I/O space.
    pub pio: Bus,
    /// MMIO space.
    pub mmio: Bus,
}

fn request_outcome(r: Option<GuestRequest>) -> Option<VcpuOutcome> {
    match r? {
        GuestRequest::Reset => Some(VcpuOutcome::GuestStop),
        GuestRequest::Panic(c) => Some(VcpuOutcome::Failed(VcpuFailure::GuestPanic(c))),
    }
}

/// Runs `vcpu` until the guest stops it, it fails, or `shared.stop` is set.
pub fn run(id: usize, vcpu: &mut VcpuFd, buses: &Buses, shared: &Arc<VcpuShared>) -> VcpuOutcome {
    let c = &shared.counters;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return VcpuOutcome::Stopped;
        }
        let exit = match vcpu.run() {
            Ok(e) => e,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                vcpu.set_kvm_immediate_exit(0);
                continue;
            }
            Err(e) => return VcpuOutcome::Failed(VcpuFailure::Unhandled(format!("kvm run: {e}"))),
        };
        let outcome = match exit {
            VcpuExit::IoOut(port, data) => {
                c.pio.fetch_add(1, Ordering::Relaxed);
                request_outcome(buses.pio.write(port as u64, data))
            }
            VcpuExit::IoIn(port, data) => {
                c.pio.fetch_add(1, Ordering::Relaxed);
                buses.pio.read(port as u64, data);
                None
            }
            VcpuExit::MmioRead(addr, data) => {
                c.mmio.fetch_add(1, Ordering::Relaxed);
                buses.mmio.read(addr, data);
                None
            }
            VcpuExit::MmioWrite(addr, data) => {
                c.mmio.fetch_add(1, Ordering::Relaxed);
                request_outcome(buses.mmio.write(addr, data))
            }
            VcpuExit::Hlt => Some(VcpuOutcome::GuestStop),
            VcpuExit::Shutdown => Some(VcpuOutcome::Failed(VcpuFailure::TripleFault)),
            VcpuExit::InternalError => Some(VcpuOutcome::Failed(internal_error(vcpu))),
            VcpuExit::FailEntry(reason, _cpu) => {
                Some(VcpuOutcome::Failed(VcpuFailure::FailEntry(reason)))
            }
            VcpuExit::SystemEvent(t, _) => match t {
                SYSTEM_EVENT_SHUTDOWN | SYSTEM_EVENT_RESET => Some(VcpuOutcome::GuestStop),
                SYSTEM_EVENT_CRASH => Some(VcpuOutcome::Failed(VcpuFailure::GuestPanic(0))),
                other => Some(VcpuOutcome::Failed(VcpuFailure::Unhandled(format!(
                    "system event {other}"
                )))),
            },
            VcpuExit::Intr => None,
            other => {
                c.other.fetch_add(1, Ordering::Relaxed);
                Some(VcpuOutcome::Failed(VcpuFailure::Unhandled(format!(
                    "{other:?}"
                ))))
            }
        };
        if let Some(o) = outcome {
            tracing::debug!("dispatcher: vcpu {id}: {o:?}");
            return o;
        }
    }
}
