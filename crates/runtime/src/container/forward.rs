//! How `run` and `exec` wait for the process they started: the signals a terminal or a
//! supervisor sends the runtime (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2, SIGWINCH) are
//! forwarded to it, and its exit becomes the runtime's exit code.

use strata_os::process;

/// Blocks the signals `run` and `exec` forward to the container (and SIGCHLD), so they are
/// taken with sigwaitinfo; returns the set.
pub fn block_forwarded_signals() -> libc::sigset_t {
    // SAFETY: building a signal set in a zeroed sigset_t and blocking it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
            libc::SIGCHLD,
        ] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for our child `pid`, forwarding the usual termination signals to it; returns its
/// shell-style exit code.
pub fn wait_forwarding_signals(pid: libc::pid_t) -> i32 {
    let set = block_forwarded_signals();
    loop {
        if let Ok((p, st)) = process::waitpid(pid, libc::WNOHANG) {
            if p == pid {
                return process::exit_code(st);
            }
        } else {
            return 255;
        }
        // SAFETY: zeroed siginfo is a valid out-buffer; `set` is initialised.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig > 0 && sig != libc::SIGCHLD {
            let _ = process::kill(pid, sig);
        }
    }
}
