//! The monitor's control clients: requests answered line by line, waiters answered at the
//! exit, and attached clients that get the container's output as frames and may feed its
//! stdin.

use super::event_loop::Monitor;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use strata_monitor::frame::{Decoder, Kind};
use strata_monitor::protocol::{Request, Response, Status};

/// A connected client.
pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Waiting for the exit (a `wait` request not answered yet).
    waiting: bool,
    /// Attached: frames from now on; `Some(true)` if it feeds stdin.
    attached: Option<bool>,
    frames: Decoder,
}

impl Client {
    /// A new connection.
    pub fn new(stream: UnixStream) -> Self {
        Client {
            stream,
            buf: Vec::new(),
            waiting: false,
            attached: None,
            frames: Decoder::default(),
        }
    }

    /// Its descriptor, for poll.
    pub fn fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// Whether it feeds the container's stdin (its departure ends the input).
    pub fn owns_stdin(&self) -> bool {
        self.attached == Some(true)
    }

    /// Sends an output frame if attached; false if the client is gone.
    pub fn send_frame(&mut self, f: &[u8]) -> bool {
        if self.attached.is_none() {
            return true;
        }
        write_blocking(&mut self.stream, f).is_ok()
    }

    /// At the container's exit: the waiter's answer, the attached stream's last frame.
    pub fn at_exit(&mut self, answer: &Response, exit_frame: &[u8]) {
        if self.waiting {
            let _ = send(&mut self.stream, answer);
            self.waiting = false;
        }
        if self.attached.is_some() {
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
        if self.clients[i].attached.is_some() {
            return self.attached_input(i, &buf[..n]);
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
                        self.clients[i].attached = Some(stdin && self.io.stdin.is_some());
                        self.state()
                    };
                    if send(&mut self.clients[i].stream, &r).is_err() {
                        return false;
                    }
                    // Whatever followed the request is already frames.
                    let rest = std::mem::take(&mut self.clients[i].buf);
                    return rest.is_empty() || self.attached_input(i, &rest);
                }
                Ok(req) => self.handle(req),
                Err(e) => Response::err(format!("monitor: bad request: {e}")),
            };
            if send(&mut self.clients[i].stream, &answer).is_err() {
                return false;
            }
        }
        true
    }

    /// Frames from an attached client: stdin data and its end.
    fn attached_input(&mut self, i: usize, data: &[u8]) -> bool {
        self.clients[i].frames.push(data);
        loop {
            match self.clients[i].frames.next_frame() {
                Ok(Some((Kind::Stdin, d))) if self.clients[i].owns_stdin() => self.queue_stdin(&d),
                Ok(Some((Kind::StdinEof, _))) if self.clients[i].owns_stdin() => {
                    self.stdin_eof = true;
                    self.flush_stdin();
                    self.clients[i].attached = Some(false);
                }
                Ok(Some(_)) => {}
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    fn handle(&mut self, req: Request) -> Response {
        let id = self.container.id.clone();
        match req {
            Request::State | Request::Wait | Request::Attach { .. } => self.state(),
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
            Request::Resize { rows, cols } => {
                let Some(master) = self.io.stdout.as_ref().filter(|_| self.io.terminal) else {
                    return Response::err(format!("container {id} has no terminal"));
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
