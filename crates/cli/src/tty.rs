//! The caller's terminal during an attached `run -t` or `exec -t`: raw mode (restored on
//! drop), its window size followed by the container's terminal, and the signals taken by
//! a thread of their own.

use std::os::fd::RawFd;

/// A terminal in raw mode until dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts `fd` in raw mode if it is a terminal.
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: isatty on an integer descriptor.
        if unsafe { libc::isatty(fd) } != 1 {
            return None;
        }
        // SAFETY: a zeroed termios is a valid out-buffer for tcgetattr.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer; fd is a terminal.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        // SAFETY: cfmakeraw edits the struct in place.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: valid pointer to an initialised termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read from this terminal.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// The window size of the terminal `fd` (rows, columns).
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: a zeroed winsize is a valid out-buffer.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills `ws` for a terminal; fails harmlessly otherwise.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0)
        .then_some((ws.ws_row, ws.ws_col))
}

/// Takes `signals` in a thread of their own, calling `f` for each: they are blocked in the
/// calling thread first, so threads started after this one leave them to it.
pub fn on_signals(signals: &[libc::c_int], mut f: impl FnMut(libc::c_int) + Send + 'static) {
    // SAFETY: building and blocking a signal set; threads spawned after this inherit it.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait on an initialised set with a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            f(sig);
        }
    });
}

/// Gives the terminal of the container of the monitor in `dir` (or of its exec `session`)
/// our terminal's size, now and at every SIGWINCH.
pub fn follow_resizes(dir: std::path::PathBuf, session: Option<i32>) {
    let resize = move || {
        if let Some((rows, cols)) = size(1).or_else(|| size(0)) {
            let r = strata_monitor::Request::Resize {
                rows,
                cols,
                session,
            };
            let _ = strata_monitor::protocol::call(&dir, &r, None);
        }
    };
    resize();
    on_signals(&[libc::SIGWINCH], move |_| resize());
}
