//! The monitor's signals, taken synchronously through a signalfd: SIGCHLD (the container
//! or a helper child ended) and the termination signals it forwards to the container.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Signals forwarded to the container's init when the monitor receives them.
pub const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Blocks SIGCHLD and the forwarded signals and returns a non-blocking signalfd for them.
/// (Children started through the runtime or `Command` get an empty mask back.)
pub fn signalfd() -> io::Result<OwnedFd> {
    // SAFETY: building a signal set in a zeroed sigset_t, blocking it for this (only)
    // thread, and creating a signalfd for it; all plain syscalls on local data.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        strata_os::cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
        strata_os::owned(libc::signalfd(
            -1,
            &set,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        ))
    }
}

/// Reads the pending signals (numbers) from the signalfd.
pub fn read_pending(fd: &OwnedFd) -> Vec<libc::c_int> {
    let mut out = Vec::new();
    loop {
        // SAFETY: a zeroed signalfd_siginfo is a valid buffer of its own size.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is valid for writes of `size` bytes.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                &mut info as *mut _ as *mut libc::c_void,
                size,
            )
        };
        if n != size as isize {
            return out;
        }
        out.push(info.ssi_signo as libc::c_int);
    }
}
