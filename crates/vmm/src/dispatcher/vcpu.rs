//! The vCPU run loop, and parking vCPUs for pause (each vCPU saves its own state when it
//! parks, so a paused VM can be snapshotted without touching vCPU file descriptors from
//! other threads).

use super::exit::{
    internal_error, VcpuOutcome, SYSTEM_EVENT_CRASH, SYSTEM_EVENT_RESET, SYSTEM_EVENT_SHUTDOWN,
};
use crate::allocator::bus::{Bus, GuestRequest};
use crate::error::VcpuFailure;
use crate::snapshot::state::{save_vcpu, VcpuState};
use kvm_ioctls::{VcpuExit, VcpuFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

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

/// Pause bookkeeping.
#[derive(Debug, Default)]
pub struct PauseState {
    /// A pause is in force.
    pub requested: bool,
    /// vCPUs currently parked.
    pub parked: usize,
    /// The state each vCPU saved when it last parked.
    pub states: Vec<Option<Result<VcpuState, String>>>,
}

/// State shared between the VMM and its vCPU threads.
#[derive(Default)]
pub struct VcpuShared {
    /// Set to make every vCPU leave its loop at the next exit.
    pub stop: AtomicBool,
    /// Fast check for a pending pause.
    pub pause_flag: AtomicBool,
    /// Pause state, guarded.
    pub pause: Mutex<PauseState>,
    /// Signalled when `pause` changes.
    pub cv: Condvar,
    /// Exit counters.
    pub counters: ExitCounters,
}

impl VcpuShared {
    /// Shared state for `n` vCPUs.
    pub fn new(n: usize) -> Self {
        let s = VcpuShared::default();
        s.pause.lock().expect("pause lock").states = vec![None; n];
        s
    }
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
        GuestRequest::Reset => {
            tracing::info!("dispatcher: guest requested a reset");
            Some(VcpuOutcome::GuestStop)
        }
        GuestRequest::PowerOff => {
            tracing::info!("dispatcher: guest powered off");
            Some(VcpuOutcome::GuestStop)
        }
        GuestRequest::Panic(c) => Some(VcpuOutcome::Failed(VcpuFailure::GuestPanic(c))),
    }
}

fn park(id: usize, vcpu: &VcpuFd, shared: &VcpuShared) {
    let st = save_vcpu(vcpu).map_err(|e| e.to_string());
    let mut p = shared.pause.lock().expect("pause lock");
    if let Some(slot) = p.states.get_mut(id) {
        *slot = Some(st);
    }
    p.parked += 1;
    shared.cv.notify_all();
    while p.requested && !shared.stop.load(Ordering::Acquire) {
        p = shared.cv.wait(p).expect("pause lock");
    }
    p.parked -= 1;
    shared.cv.notify_all();
}

/// Runs `vcpu` until the guest stops it, it fails, or `shared.stop` is set; parks it while a
/// pause is requested.
pub fn run(id: usize, vcpu: &mut VcpuFd, buses: &Buses, shared: &Arc<VcpuShared>) -> VcpuOutcome {
    let c = &shared.counters;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return VcpuOutcome::Stopped;
        }
        if shared.pause_flag.load(Ordering::Acquire) {
            park(id, vcpu, shared);
            continue;
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
