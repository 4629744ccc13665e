//! ExecSync: a command in a running container through its monitor (as `strata exec`), its
//! output collected; past the timeout its processes are killed and the call answers
//! DeadlineExceeded, as containerd's does.

use crate::container::get;
use std::sync::mpsc;
use std::time::Duration;
use strata_engine::Engine;
use strata_monitor::protocol::{exec_failure_status, ExecRequest};
use tonic::Status;

/// What ExecSync answers.
pub struct Output {
    /// The command's stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Its exit code.
    pub exit_code: i32,
}

/// Runs `cmd` in container `id`; `timeout` seconds (0: none).
pub fn exec_sync(e: &Engine, id: &str, cmd: Vec<String>, timeout: i64) -> Result<Output, Status> {
    if cmd.is_empty() {
        return Err(crate::status::invalid(format!("ExecSync {id}: no command")));
    }
    let c = get(e, id)?;
    if !c.state.status.is_live() {
        return Err(Status::failed_precondition(format!(
            "ExecSync {id}: the container is not running [layer: engine]"
        )));
    }
    let dir = e.paths.monitor(&c.id);
    let req = ExecRequest {
        args: cmd,
        ..Default::default()
    };
    let (mut att, session) = match strata_monitor::attach::exec(&dir, req) {
        Ok(x) => x,
        Err(err) if err.kind() == std::io::ErrorKind::Other => {
            // The command could not be run: docker's and containerd's 126/127, as output.
            let msg = err.to_string();
            return Ok(Output {
                stdout: vec![],
                stderr: msg.as_bytes().to_vec(),
                exit_code: exec_failure_status(&msg),
            });
        }
        Err(err) => {
            return Err(Status::unavailable(format!(
                "ExecSync {id}: the container's monitor: {err} [layer: monitor]"
            )))
        }
    };
    let (done, watch) = mpsc::channel::<()>();
    let watchdog = (timeout > 0).then(|| {
        let limit = Duration::from_secs(timeout as u64);
        std::thread::spawn(move || {
            if watch.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                // The session is the runner; the command is its descendant.
                for p in strata_os::process::descendants(session) {
                    let _ = strata_os::process::kill(p, libc::SIGKILL);
                }
                return true;
            }
            false
        })
    });
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let exit = att.relay(&mut stdout, &mut stderr);
    let _ = done.send(());
    let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
    if timed_out {
        return Err(Status::deadline_exceeded(format!(
            "ExecSync {id}: the command did not finish in {timeout} s and was killed [layer: cri]"
        )));
    }
    match exit {
        Ok(Some(x)) => Ok(Output {
            stdout,
            stderr,
            exit_code: x.exit_code,
        }),
        Ok(None) => Err(Status::unavailable(format!(
            "ExecSync {id}: the monitor went away (the container stopped?) [layer: monitor]"
        ))),
        Err(err) => Err(Status::internal(format!(
            "ExecSync {id}: relaying the output: {err} [layer: monitor]"
        ))),
    }
}
