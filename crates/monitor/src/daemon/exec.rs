//! Exec sessions: `exec` runs a new process in the container through the runtime library, in
//! a forked copy of the monitor (the runner) that waits for it. The session's output goes to
//! the client that asked, as frames; its input comes from that client; the runner's exit is
//! the session's exit frame. With a terminal, the runtime sends the pty master to a console
//! socket of the session's. The container's log does not get an exec's output.
//!
//! Everything the runtime does (reading the container's spec, building the process, joining
//! the namespaces) happens in the runner, so none of it adds to the monitor's own memory.

use super::container::Container;
use super::input::Input;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata_monitor::frame::{self, Kind};
use strata_monitor::protocol::{exec_failure_status, ExecRequest};
use strata_monitor::record::ExitRecord;
use strata_runtime::container::exec::{exec, ExecOpts};
use strata_runtime::container::exec_process::{self, Overrides};

/// A running exec session.
pub struct Session {
    /// The runner's pid (the session's id).
    pub pid: i32,
    /// The client it belongs to.
    pub client: u64,
    /// Its stdin (the pty master with a terminal).
    pub input: Input,
    /// Its stdout (the pty master with a terminal).
    pub stdout: Option<OwnedFd>,
    /// Its stderr.
    pub stderr: Option<OwnedFd>,
    /// The runner's error, if the command could not be run.
    error: OwnedFd,
    /// Whether it has a terminal.
    pub tty: bool,
}

fn dev_null(flags: libc::c_int) -> io::Result<OwnedFd> {
    strata_os::fd::open("/dev/null", flags | libc::O_CLOEXEC, 0)
}

/// A pipe for one of the process's streams when `wanted` (the monitor's end first, the
/// process's second), else /dev/null for the process.
fn stream(wanted: bool, input: bool) -> io::Result<(Option<OwnedFd>, OwnedFd)> {
    if !wanted {
        return Ok((
            None,
            dev_null(if input {
                libc::O_RDONLY
            } else {
                libc::O_WRONLY
            })?,
        ));
    }
    let (r, w) = strata_os::fd::pipe()?;
    Ok(if input { (Some(w), r) } else { (Some(r), w) })
}

/// Starts an exec session in the container for client `client`. Detached, the runner
/// returns once the process runs; the caller waits for it ([`Session::finish_detached`]).
pub fn start(c: &Container, dir: &Path, r: &ExecRequest, client: u64) -> Result<Session, String> {
    let err = |e: io::Error| format!("monitor: exec: {e}");
    // A detached exec's terminal would have no reader: docker's `exec -dt` runs without.
    let tty = r.tty && !r.detach;
    let console = if tty {
        Some(ConsoleSocket::bind(dir, client).map_err(err)?)
    } else {
        None
    };
    let piped = !tty && !r.detach;
    let (stdin, in_child) = stream(piped && r.stdin, true).map_err(err)?;
    let (stdout, out_child) = stream(piped, false).map_err(err)?;
    let (stderr, err_child) = stream(piped, false).map_err(err)?;
    let (error, error_child) = strata_os::fd::pipe().map_err(err)?;
    // SAFETY: the monitor is single-threaded, so the child may run arbitrary code.
    let pid = unsafe { strata_os::process::clone_fork(0) }.map_err(err)?;
    if pid == 0 {
        let fds = [
            in_child.as_raw_fd(),
            out_child.as_raw_fd(),
            err_child.as_raw_fd(),
            error_child.as_raw_fd(),
        ];
        runner(fds, c, r, console.as_ref().map(|s| s.runner_path.clone()));
    }
    drop((in_child, out_child, err_child, error_child));
    for fd in [&stdin, &stdout, &stderr].into_iter().flatten() {
        strata_os::fd::set_nonblocking(fd.as_raw_fd(), true).map_err(err)?;
    }
    let mut s = Session {
        pid,
        client,
        input: Input::new(stdin, false),
        stdout,
        stderr,
        error,
        tty,
    };
    if let Some(sock) = console {
        match sock.take_master(pid) {
            Ok(m) => {
                strata_os::fd::set_nonblocking(m.as_raw_fd(), true).map_err(err)?;
                s.input = Input::new(Some(m.try_clone().map_err(err)?), true);
                s.stdout = Some(m);
            }
            // The runner ended before it had a terminal: its error says why.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let _ = strata_os::process::kill(pid, libc::SIGKILL);
                return Err(err(e));
            }
        }
    }
    Ok(s)
}

/// The runner: descriptors 0-2 the process's stdio, 3 the error pipe, nothing else of the
/// monitor's; then the runtime's exec. Exits with the process's status, or 125-127 (the
/// runtime's error written to descriptor 3) when it could not be run.
fn runner(fds: [RawFd; 4], c: &Container, r: &ExecRequest, console: Option<PathBuf>) -> ! {
    // Descriptors 0-3 may be among the sources: move them all above first.
    let high: Vec<RawFd> = fds
        .iter()
        // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor this process holds.
        .map(|&fd| unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) })
        .collect();
    for (target, fd) in high.iter().enumerate() {
        let _ = strata_os::fd::dup_onto(*fd, target as RawFd);
    }
    let _ = strata_os::fd::set_cloexec(3, true);
    let _ = strata_os::fd::close_from(4);
    c.runtime_logging();
    let result = exec_process(c, r).and_then(|process| {
        if c.in_vm() {
            return super::vm_exec::run(c, r, &process, console.as_deref());
        }
        let opts = ExecOpts {
            id: c.id.clone(),
            process,
            detach: r.detach,
            console_socket: console,
            ..Default::default()
        };
        exec(c.root(), &opts).map_err(|e| e.to_string())
    });
    let code = match result {
        Ok(code) => code,
        Err(msg) => {
            let _ = strata_os::fd::write_all(3, msg.as_bytes());
            exec_failure_status(&msg)
        }
    };
    // SAFETY: ends the forked runner without destructors or atexit handlers.
    unsafe { libc::_exit(code) }
}

/// The container's process with the request's changes.
fn exec_process(c: &Container, r: &ExecRequest) -> Result<oci_spec::runtime::Process, String> {
    let tty = r.tty && !r.detach;
    let mut base = c.process()?;
    base.set_terminal(Some(tty));
    let overrides = Overrides {
        tty,
        env: r.env.clone(),
        cwd: r.cwd.clone(),
        user: r.uid.map(|uid| (uid, r.gid.unwrap_or(0))),
        additional_gids: r.additional_gids.clone(),
        caps: r.caps.clone(),
        no_new_privs: false,
    };
    exec_process::apply(base, Some(r.args.clone()), &overrides).map_err(|e| e.to_string())
}

/// Where the runtime sends an exec's pty master: a socket bound through a descriptor of the
/// monitor's directory, reached by the runner as `/proc/<monitor>/fd/<n>/...` (a short path
/// whatever the directory's length).
struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    runner_path: PathBuf,
    _dir: OwnedFd,
}

impl ConsoleSocket {
    fn bind(dir: &Path, client: u64) -> io::Result<ConsoleSocket> {
        let d = strata_os::fd::open(dir, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)?;
        let name = format!("exec-{client}.sock");
        let path = strata_os::fd::fd_path(d.as_raw_fd()).join(&name);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let runner_path = PathBuf::from(format!("/proc/{me}/fd/{}/{name}", d.as_raw_fd()));
        Ok(ConsoleSocket {
            listener,
            path,
            runner_path,
            _dir: d,
        })
    }

    /// The master the runtime sends; `NotFound` if the runner ended first (it failed before
    /// it made a terminal).
    fn take_master(&self, runner: i32) -> io::Result<OwnedFd> {
        let t0 = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((conn, _)) => {
                    conn.set_nonblocking(false)?;
                    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
                    return strata_os::fdpass::recv_fd(conn.as_raw_fd());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let running = matches!(
                        strata_os::process::process_stat(runner),
                        Some((state, _)) if state != 'Z'
                    );
                    if !running {
                        return Err(io::ErrorKind::NotFound.into());
                    }
                    if t0.elapsed() > Duration::from_secs(10) {
                        return Err(io::Error::other("no terminal from the runtime in 10 s"));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Session {
    /// Reads what one of its output streams has; the frame for it, or `None` when nothing is
    /// there (a stream that ended is dropped).
    pub fn read_output(&mut self, stderr: bool) -> Option<Vec<u8>> {
        let (fd, kind) = if stderr {
            (&mut self.stderr, Kind::Stderr)
        } else {
            (&mut self.stdout, Kind::Stdout)
        };
        let f = fd.as_ref()?;
        let mut buf = [0u8; 32 * 1024];
        match strata_os::fd::read(f.as_raw_fd(), &mut buf) {
            Ok(n) if n > 0 => Some(frame::encode(kind, &buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            // End of the stream, EIO from a pty whose other side closed, or a real error.
            _ => {
                *fd = None;
                None
            }
        }
    }

    /// The runner has exited with wait status `st`: the last frames (what output is left,
    /// then the exit).
    pub fn finish(mut self, st: libc::c_int) -> Vec<u8> {
        let mut out = Vec::new();
        for stderr in [false, true] {
            while let Some(f) = self.read_output(stderr) {
                out.extend(f);
            }
        }
        out.extend(frame::exit(&self.exit_record(st)));
        out
    }

    /// A detached session: waits for the runner (it returns once the process runs) and
    /// tells whether the process started.
    pub fn finish_detached(self) -> Result<(), String> {
        let st = strata_os::process::waitpid(self.pid, 0)
            .map(|(_, st)| st)
            .map_err(|e| format!("monitor: exec runner: {e}"))?;
        let rec = self.exit_record(st);
        match (rec.exit_code, rec.error) {
            (0, _) => Ok(()),
            (_, Some(e)) => Err(e),
            (code, None) => Err(format!("exec runner failed (status {code})")),
        }
    }

    fn exit_record(&self, st: libc::c_int) -> ExitRecord {
        let mut error = Vec::new();
        let mut buf = [0u8; 4096];
        let _ = strata_os::fd::set_nonblocking(self.error.as_raw_fd(), true);
        while let Ok(n @ 1..) = strata_os::fd::read(self.error.as_raw_fd(), &mut buf) {
            error.extend_from_slice(&buf[..n]);
        }
        ExitRecord {
            error: (!error.is_empty()).then(|| String::from_utf8_lossy(&error).into_owned()),
            ..ExitRecord::reaped(self.pid, st)
        }
    }
}
