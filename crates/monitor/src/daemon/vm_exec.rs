//! An exec in a VM container, in the session's runner: the process goes to the guest
//! through the shim's proxy (the agent runs the OCI runtime's exec there), the runner's
//! stdin (descriptor 0) is passed on as input, the output comes back to descriptors 1 and
//! 2, and the runner exits with the process's status, as a runtime exec's runner does.
//!
//! With a terminal, the process gets a pty in the guest; on the host the runner makes a pty
//! of its own and sends its master to the session's console socket, as the runtime would:
//! the session's client reads and writes that master, the runner relays between its slave
//! (raw: the guest's pty does the line discipline) and the guest, and passes the slave's
//! size on when the client resizes the master.

use super::container::Container;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strata_monitor::protocol::ExecRequest;
use strata_vmpod::agent::{Agent, Event};

/// Runs `process` in `c`'s guest; its exit status. `console` is where a terminal's master
/// goes.
pub fn run(
    c: &Container,
    r: &ExecRequest,
    process: &oci_spec::runtime::Process,
    console: Option<&Path>,
) -> Result<i32, String> {
    let tty = r.tty && !r.detach;
    let sock = c.vm_dir().join(strata_vmpod::proxy::SOCKET);
    let agent = Arc::new(
        Agent::connect(&sock, Duration::from_secs(30))
            .map_err(|e| format!("container {}: its VM: {e}", c.id))?,
    );
    let process = serde_json::to_value(process).map_err(|e| e.to_string())?;
    // SAFETY: getpid has no preconditions; the runner's pid names the session.
    let exec_id = format!("exec-{}", unsafe { libc::getpid() });
    let terminal = match (tty, console) {
        (true, Some(path)) => Some(
            host_terminal(path)
                .map_err(|e| format!("container {}: a terminal for the exec: {e}", c.id))?,
        ),
        (true, None) => return Err(format!("container {}: no console for the exec", c.id)),
        (false, _) => None,
    };
    let stdin = (r.stdin || tty) && !r.detach;
    // The session's client sizes its terminal as the session starts: the guest's starts
    // with that size.
    let size = terminal.as_ref().map(|s| first_size(s.as_raw_fd()));
    let mut events = agent
        .exec_container(&c.id, &exec_id, &process, (stdin, r.detach, size))
        .map_err(|e| format!("container {}: {e}", c.id))?;
    let (input_fd, out_fds) = match &terminal {
        Some(slave) => (slave.as_raw_fd(), [slave.as_raw_fd(); 2]),
        None => (0, [1, 2]),
    };
    if stdin {
        let (agent, exec_id) = (Arc::clone(&agent), exec_id.clone());
        std::thread::spawn(move || pass_input(&agent, &exec_id, input_fd));
    }
    if let Some(slave) = &terminal {
        let (agent, exec_id, fd) = (Arc::clone(&agent), exec_id.clone(), slave.as_raw_fd());
        std::thread::spawn(move || pass_size(&agent, &exec_id, fd));
    }
    loop {
        match events.next_event() {
            Ok(Some(Event::Output(stream, b))) => {
                let fd = out_fds[usize::from(stream != 1)];
                let _ = strata_os::fd::write_all(fd, &b);
            }
            Ok(Some(Event::Exit(code))) => return Ok(code),
            Ok(None) => return Ok(0),
            Err(e) => return Err(format!("container {}: {e}", c.id)),
        }
    }
}

/// A pty whose master goes to the console socket at `path`; its slave, raw.
fn host_terminal(path: &Path) -> Result<OwnedFd, String> {
    let (master, slave) =
        strata_runtime::process::console::open_pty().map_err(|e| e.to_string())?;
    // SAFETY: termios calls on the slave this function owns, with a zeroed struct that
    // tcgetattr fills.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    strata_runtime::process::console::send_to_socket(path, &master).map_err(|e| e.to_string())?;
    Ok(slave)
}

/// Descriptor `fd` to the exec's input, then its end.
fn pass_input(agent: &Agent, exec_id: &str, fd: i32) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: reads into a buffer of its length from a descriptor the runner holds.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            let _ = agent.input(exec_id, &[], true);
            return;
        }
        if agent.input(exec_id, &buf[..n as usize], false).is_err() {
            return;
        }
    }
}

/// The terminal's size once its client has set it (up to a second), or (0, 0).
fn first_size(slave: i32) -> (u16, u16) {
    let t0 = std::time::Instant::now();
    loop {
        let size = size_of(slave).unwrap_or((0, 0));
        if size != (0, 0) || t0.elapsed() > Duration::from_secs(1) {
            return size;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A terminal's size (rows, columns).
fn size_of(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: zeroed winsize that TIOCGWINSZ fills, on a descriptor the runner holds.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// Passes the terminal's size to the guest's whenever the session's client changes it.
fn pass_size(agent: &Agent, exec_id: &str, slave: i32) {
    let mut last = size_of(slave).unwrap_or((0, 0));
    loop {
        let Some(now) = size_of(slave) else { return };
        // Until the guest has the terminal, a resize fails: tried again on the next tick.
        if now != last && now != (0, 0) && agent.resize(exec_id, now.0, now.1).is_ok() {
            last = now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
