//! The host's end of a guest process's stdio: what a VM container's shim (for its init)
//! and the monitor's exec runner (for an exec) do with the descriptors they were given.
//! With a terminal, the process has a pty in the guest; the host side makes a pty of its
//! own, sends its master to the console socket it was told (as the OCI runtime would), and
//! relays between its slave (raw: the guest's pty does the line discipline) and the guest,
//! passing the slave's size on when the master's reader resizes it.

use crate::agent::Agent;
use crate::{Error, Result};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// A pty whose master goes to the console socket at `console`; its slave, raw.
pub fn host_terminal(console: &Path) -> Result<OwnedFd> {
    use strata_runtime::process::console;
    let (master, slave) = console::open_pty().map_err(|e| Error(format!("terminal: {e}")))?;
    // SAFETY: termios calls on the slave this function owns, with a zeroed struct that
    // tcgetattr fills.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    console::send_to_socket(console, &master)
        .map_err(|e| Error(format!("terminal to {}: {e}", console.display())))?;
    Ok(slave)
}

/// A terminal's size (rows, columns).
fn size_of(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: a zeroed winsize that TIOCGWINSZ fills, on a descriptor the caller holds.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// The terminal's size once its reader has set it (up to a second), or (0, 0).
pub fn first_size(slave: RawFd) -> (u16, u16) {
    let t0 = Instant::now();
    loop {
        let size = size_of(slave).unwrap_or((0, 0));
        if size != (0, 0) || t0.elapsed() > Duration::from_secs(1) {
            return size;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Descriptor `fd` to the input of the guest process `key` (an exec's id, a container's),
/// then its end.
pub fn pass_input(agent: &Agent, key: &str, fd: RawFd) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: reads into a buffer of its length from a descriptor the caller holds.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            let _ = agent.input(key, &[], true);
            return;
        }
        if agent.input(key, &buf[..n as usize], false).is_err() {
            return;
        }
    }
}

/// Passes the terminal's size to the guest process `key`'s whenever it changes.
pub fn pass_size(agent: &Agent, key: &str, slave: RawFd) {
    let mut last = size_of(slave).unwrap_or((0, 0));
    loop {
        let Some(now) = size_of(slave) else { return };
        // Until the guest has the terminal, a resize fails: tried again on the next tick.
        if now != last && now != (0, 0) && agent.resize(key, now.0, now.1).is_ok() {
            last = now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
