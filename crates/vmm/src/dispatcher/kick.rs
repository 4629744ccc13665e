//! Kicking a vCPU thread out of KVM_RUN: a real-time signal whose handler sets the thread's
//! `immediate_exit` flag, so a kick that lands just before KVM_RUN is not lost.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static IMMEDIATE_EXIT: Cell<*mut u8> = const { Cell::new(std::ptr::null_mut()) };
}

/// The signal used for kicks.
pub fn kick_signal() -> i32 {
    libc::SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let p = IMMEDIATE_EXIT.with(|c| c.get());
    if !p.is_null() {
        // SAFETY: `p` points into this thread's mmapped kvm_run structure, registered by
        // `register_current` and valid for as long as the thread's VcpuFd lives (the
        // registration is cleared before the VcpuFd is dropped).
        unsafe { std::ptr::write_volatile(p, 1) };
    }
}

/// Installs the kick handler once per process.
pub fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Err(e) = vmm_sys_util::signal::register_signal_handler(kick_signal(), on_kick) {
            tracing::warn!("dispatcher: cannot install vcpu kick handler: {e}");
        }
    });
}

/// Registers the current thread's vCPU for kicks.
pub fn register_current(vcpu: &mut kvm_ioctls::VcpuFd) {
    let p = &mut vcpu.get_kvm_run().immediate_exit as *mut u8;
    IMMEDIATE_EXIT.with(|c| c.set(p));
}

/// Clears the current thread's registration.
pub fn unregister_current() {
    IMMEDIATE_EXIT.with(|c| c.set(std::ptr::null_mut()));
}

/// Sends a kick to a thread.
pub fn kick(thread: libc::pthread_t) {
    // SAFETY: pthread_kill only sends a signal; the handler above is async-signal-safe.
    unsafe { libc::pthread_kill(thread, kick_signal()) };
}
