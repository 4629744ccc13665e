//! An exec in a VM container, in the session's runner: the process goes to the guest
//! through the shim's proxy (the agent runs the OCI runtime's exec there), the runner's
//! stdin (descriptor 0) is passed on as input, the output comes back to descriptors 1 and
//! 2, and the runner exits with the process's status, as a runtime exec's runner does.

use super::container::Container;
use std::sync::Arc;
use std::time::Duration;
use strata_monitor::protocol::ExecRequest;
use strata_vmpod::agent::{Agent, Event};

/// Runs `process` in `c`'s guest; its exit status.
pub fn run(
    c: &Container,
    r: &ExecRequest,
    process: &oci_spec::runtime::Process,
) -> Result<i32, String> {
    if r.tty && !r.detach {
        return Err(format!(
            "container {}: a terminal for an exec in a VM container is not served yet (exec without -t) [layer: vm]",
            c.id
        ));
    }
    let sock = c.vm_dir().join(strata_vmpod::proxy::SOCKET);
    let agent = Arc::new(
        Agent::connect(&sock, Duration::from_secs(30))
            .map_err(|e| format!("container {}: its VM: {e}", c.id))?,
    );
    let process = serde_json::to_value(process).map_err(|e| e.to_string())?;
    // SAFETY: getpid has no preconditions; the runner's pid names the session.
    let exec_id = format!("exec-{}", unsafe { libc::getpid() });
    let stdin = r.stdin && !r.detach;
    let mut events = agent
        .exec_container(&c.id, &exec_id, &process, stdin, r.detach)
        .map_err(|e| format!("container {}: {e}", c.id))?;
    if stdin {
        let (agent, exec_id) = (Arc::clone(&agent), exec_id.clone());
        std::thread::spawn(move || pass_input(&agent, &exec_id));
    }
    loop {
        match events.next_event() {
            Ok(Some(Event::Output(stream, b))) => {
                let fd = if stream == 1 { 1 } else { 2 };
                let _ = strata_os::fd::write_all(fd, &b);
            }
            Ok(Some(Event::Exit(code))) => return Ok(code),
            Ok(None) => return Ok(0),
            Err(e) => return Err(format!("container {}: {e}", c.id)),
        }
    }
}

/// Descriptor 0 to the exec's input, then its end.
fn pass_input(agent: &Agent, exec_id: &str) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: reads into a buffer of its length from the runner's stdin.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
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
