//! An exec in a VM container, in the session's runner: the process goes to the guest
//! through the shim's proxy (the agent runs the OCI runtime's exec there), the runner's
//! stdin (descriptor 0) is passed on as input, the output comes back to descriptors 1 and
//! 2, and the runner exits with the process's status, as a runtime exec's runner does.
//! With a terminal, the runner's pty stands for the guest's (`strata_vmpod::terminal`): its
//! master goes to the session's console socket, as the runtime's would.

use super::container::Container;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strata_monitor::protocol::ExecRequest;
use strata_vmpod::agent::{Agent, Event};
use strata_vmpod::terminal;

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
    let slave = match (tty, console) {
        (true, Some(path)) => Some(
            terminal::host_terminal(path).map_err(|e| format!("container {}: exec: {e}", c.id))?,
        ),
        (true, None) => return Err(format!("container {}: no console for the exec", c.id)),
        (false, _) => None,
    };
    let stdin = (r.stdin || tty) && !r.detach;
    // The session's client sizes its terminal as the session starts: the guest's starts
    // with that size.
    let size = slave.as_ref().map(|s| terminal::first_size(s.as_raw_fd()));
    let mut events = agent
        .exec_container(&c.id, &exec_id, &process, (stdin, r.detach, size))
        .map_err(|e| format!("container {}: {e}", c.id))?;
    let (input_fd, out_fds) = match &slave {
        Some(s) => (s.as_raw_fd(), [s.as_raw_fd(); 2]),
        None => (0, [1, 2]),
    };
    if stdin {
        let (agent, exec_id) = (Arc::clone(&agent), exec_id.clone());
        std::thread::spawn(move || terminal::pass_input(&agent, &exec_id, input_fd));
    }
    if let Some(s) = &slave {
        let (agent, exec_id, fd) = (Arc::clone(&agent), exec_id.clone(), s.as_raw_fd());
        std::thread::spawn(move || terminal::pass_size(&agent, &exec_id, fd));
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
