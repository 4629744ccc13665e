//! The monitor's control clients: requests answered line by line, waiters answered at the
//! exit, attached clients that get the container's output as frames and may feed its stdin,
//! and exec clients whose connection carries their session's frames.

use super::event_loop::Monitor;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use strata_monitor::frame::{Decoder, Kind};
use strata_monitor::protocol::{ExecRequest, Request, Response, Status};

/// What a connection carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Requests and answers, one JSON line each.
    Control,
    /// The container's frames; `stdin`: it feeds the container's stdin.
    Attached { stdin: bool },
    /// Its exec session's frames (the session: the runner's pid).
    Exec { session: i32 },
}

/// A connected client.
pub struct Client {
    /// Its number (an exec session's owner).
    pub id: u64,
    stream: UnixStream,
    buf: Vec<u8>,
    /// Waiting for the exit (a `wait` request not answered yet).
    waiting: bool,
    mode: Mode,
    frames: Decoder,
}

impl Client {
    /// A new connection, numbered `id`.
    pub fn new(stream: UnixStream, id: u64) -> Self {
        Client {
            id,
            stream,
            buf: Vec::new(),
            waiting: false,
            mode: Mode::Control,
            frames: Decoder::default(),
        }
    }

    /// Its descriptor, for poll.
    pub fn fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// Whether it feeds the container's stdin (its departure ends the input).
    pub fn owns_stdin(&self) -> bool {
        self.mode == (Mode::Attached { stdin: true })
    }

    /// The exec session it owns, if any.
    pub fn session(&self) -> Option<i32> {
        match self.mode {
            Mode::Exec { session } => Some(session),
            _ => None,
        }
    }

    /// Sends a frame of the container's output if attached; false if the client is gone.
    pub fn send_frame(&mut self, f: &[u8]) -> bool {
        if !matches!(self.mode, Mode::Attached { .. }) {
            return true;
        }
        self.send_raw(f)
    }

    /// Sends frames of its exec session; false if the client is gone.
    pub fn send_raw(&mut self, f: &[u8]) -> bool {
        write_blocking(&mut self.stream, f).is_ok()
    }

    /// At the container's exit: the waiter's answer, the attached stream's last frame.
    pub fn at_exit(&mut self, answer: &Response, exit_frame: &[u8]) {
        if self.waiting {
            let _ = send(&mut self.stream, answer);
            self.waiting = false;
        }
        if matches!(self.mode, Mode::Attached { .. }) {
            let _ = write_blocking(&mut self.stream, exit_frame);
        }
    }
}

fn write_blocking(s: &mut UnixStream, data: &[u8]) -> io::Result<()> {
    s.set_nonblocking(false)?;
    let r = s.write_all(data);
    let _ = s.set_nonblocking(true);
    r
}

fn send(s: &mut UnixStream, r: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    write_blocking(s, &line)
}

impl Monitor {
    /// Reads from client `i` and acts on what it sent; false when it is gone.
    pub fn serve(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let n = match self.clients[i].stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        };
        if self.clients[i].mode != Mode::Control {
            return self.frames_in(i, &buf[..n]);
        }
        self.clients[i].buf.extend_from_slice(&buf[..n]);
        if self.clients[i].buf.len() > 64 * 1024 {
            return false; // not a client of ours
        }
        while let Some(nl) = self.clients[i].buf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.clients[i].buf.drain(..=nl).collect();
            let answer = match serde_json::from_slice::<Request>(&line) {
                Ok(Request::Wait) if self.exit.is_none() => {
                    self.clients[i].waiting = true;
                    continue;
                }
                Ok(Request::Attach { stdin }) => {
                    let r = if self.exit.is_some() {
                        Response::err(format!("container {} has exited", self.container.id))
                    } else {
                        self.clients[i].mode = Mode::Attached {
                            stdin: stdin && self.io.stdin.is_open(),
                        };
                        self.state()
                    };
                    return self.switch_to_frames(i, &r);
                }
                Ok(Request::Exec(r)) if !r.detach => {
                    let answer = self.start_session(i, &r);
                    if answer.ok {
                        return self.switch_to_frames(i, &answer);
                    }
                    answer
                }
                Ok(Request::Exec(r)) => self.exec_detached(i, &r),
                Ok(req) => self.handle(req),
                Err(e) => Response::err(format!("monitor: bad request: {e}")),
            };
            if send(&mut self.clients[i].stream, &answer).is_err() {
                return false;
            }
        }
        true
    }

    /// Sends the answer that puts client `i` in frame mode; what it sent after its request
    /// is already frames. False if the client is gone.
    fn switch_to_frames(&mut self, i: usize, answer: &Response) -> bool {
        if send(&mut self.clients[i].stream, answer).is_err() {
            return false;
        }
        let rest = std::mem::take(&mut self.clients[i].buf);
        rest.is_empty() || self.frames_in(i, &rest)
    }

    /// Frames from an attached or exec client: stdin data and its end.
    fn frames_in(&mut self, i: usize, data: &[u8]) -> bool {
        self.clients[i].frames.push(data);
        loop {
            let frame = match self.clients[i].frames.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return true,
                Err(_) => return false,
            };
            let input = match self.clients[i].mode {
                Mode::Attached { stdin: true } => Some(&mut self.io.stdin),
                Mode::Exec { session } => self
                    .sessions
                    .iter_mut()
                    .find(|s| s.pid == session)
                    .map(|s| &mut s.input),
                _ => None,
            };
            let Some(input) = input else { continue };
            match frame {
                (Kind::Stdin, d) => input.queue(&d),
                (Kind::StdinEof, _) => {
                    input.end();
                    if self.clients[i].owns_stdin() {
                        self.clients[i].mode = Mode::Attached { stdin: false };
                    }
                }
                _ => {}
            }
        }
    }

    /// Starts an exec session for client `i`; the answer names it (`pid`).
    fn start_session(&mut self, i: usize, r: &ExecRequest) -> Response {
        if let Some(e) = self.exec_refused(r) {
            return e;
        }
        let client = self.clients[i].id;
        match super::exec::start(&self.container, &self.dir, r, client) {
            Ok(s) => {
                let pid = s.pid;
                self.sessions.push(s);
                self.clients[i].mode = Mode::Exec { session: pid };
                Response {
                    ok: true,
                    pid: Some(pid),
                    ..Default::default()
                }
            }
            Err(e) => Response::err(e),
        }
    }

    /// A detached exec: answered once its process runs.
    fn exec_detached(&mut self, i: usize, r: &ExecRequest) -> Response {
        if let Some(e) = self.exec_refused(r) {
            return e;
        }
        let started = super::exec::start(&self.container, &self.dir, r, self.clients[i].id)
            .and_then(|s| s.finish_detached());
        match started {
            Ok(()) => Response::ok(),
            Err(e) => Response::err(e),
        }
    }

    /// Why an exec cannot start now, if it cannot.
    fn exec_refused(&self, r: &ExecRequest) -> Option<Response> {
        if self.status != Status::Running {
            return Some(Response::err(format!(
                "container {} is not running",
                self.container.id
            )));
        }
        r.args
            .is_empty()
            .then(|| Response::err("exec: no command given"))
    }

    /// `reopen-log`: the log file opened again at its path (the old one was moved away).
    fn reopen_log(&mut self) -> Response {
        let id = &self.container.id;
        if self.exit.is_some() || self.status != Status::Running {
            return Response::err(format!("container {id} is not running"));
        }
        let Some(log) = self.log.as_mut() else {
            return Response::err(format!("container {id} has no log"));
        };
        match log.reopen() {
            Ok(()) => Response::ok(),
            Err(e) => Response::err(format!("reopen the log of container {id}: {e}")),
        }
    }

    fn handle(&mut self, req: Request) -> Response {
        let id = self.container.id.clone();
        match req {
            Request::State | Request::Wait | Request::Attach { .. } | Request::Exec(_) => {
                self.state()
            }
            Request::Start => match self.status {
                Status::Created => match self.container.start() {
                    Ok(()) => {
                        self.status = Status::Running;
                        self.state()
                    }
                    Err(e) => Response::err(e),
                },
                Status::Running => Response::err(format!("container {id} is already running")),
                Status::Exited => Response::err(format!("container {id} has exited")),
            },
            Request::ReopenLog => self.reopen_log(),
            Request::Kill { signal, all } => {
                if self.exit.is_some() {
                    return Response::err(format!("container {id} is not running"));
                }
                if !(1..=64).contains(&signal) {
                    return Response::err(format!("invalid signal {signal}"));
                }
                if all {
                    return match self.container.kill_all(signal) {
                        Ok(()) => Response::ok(),
                        Err(e) => Response::err(e),
                    };
                }
                // SAFETY: the init is our child (or re-parented to us) and not reaped yet.
                match strata_os::cvt(unsafe { libc::kill(self.pid, signal) }) {
                    Ok(_) => Response::ok(),
                    Err(e) => Response::err(format!("signal {signal} to pid {}: {e}", self.pid)),
                }
            }
            Request::Resize {
                rows,
                cols,
                session,
            } => {
                let master = match session {
                    None => self.io.stdout.as_ref().filter(|_| self.io.terminal),
                    Some(pid) => self
                        .sessions
                        .iter()
                        .find(|s| s.pid == pid && s.tty)
                        .and_then(|s| s.stdout.as_ref()),
                };
                let Some(master) = master else {
                    return Response::err(match session {
                        None => format!("container {id} has no terminal"),
                        Some(pid) => format!("exec session {pid} has no terminal"),
                    });
                };
                let ws = libc::winsize {
                    ws_row: rows,
                    ws_col: cols,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; the master is ours.
                match strata_os::cvt(unsafe {
                    libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws)
                }) {
                    Ok(_) => Response::ok(),
                    Err(e) => Response::err(format!("resize the terminal: {e}")),
                }
            }
        }
    }
}
