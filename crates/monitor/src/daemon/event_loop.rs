//! The monitor's life after create: one poll loop over the signalfd, the container's output,
//! the control socket and its clients; then the exit record and the clean-up.

use super::container::Container;
use super::signals;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;
use strata_monitor::cri_log::{Stream, Writer};
use strata_monitor::protocol::{Request, Response, Status};
use strata_monitor::record::{self, ExitRecord};

/// A connected control client.
struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Waiting for the exit (a `wait` request not answered yet).
    waiting: bool,
}

/// Everything the loop watches.
pub struct Monitor {
    pub container: Container,
    pub dir: PathBuf,
    pub pid: i32,
    pub status: Status,
    pub exit: Option<ExitRecord>,
    pub signals: OwnedFd,
    pub listener: UnixListener,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub log: Option<Writer>,
    clients: Vec<Client>,
}

/// Bytes read from the container's output at a time.
const CHUNK: usize = 32 * 1024;

impl Monitor {
    /// A monitor for a created (or started) container.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        container: Container,
        dir: PathBuf,
        pid: i32,
        started: bool,
        signals: OwnedFd,
        listener: UnixListener,
        stdio: (Option<OwnedFd>, Option<OwnedFd>, Option<OwnedFd>),
        log: Option<Writer>,
    ) -> Self {
        Monitor {
            container,
            dir,
            pid,
            status: if started {
                Status::Running
            } else {
                Status::Created
            },
            exit: None,
            signals,
            listener,
            stdin: stdio.0,
            stdout: stdio.1,
            stderr: stdio.2,
            log,
            clients: Vec::new(),
        }
    }

    /// Runs until the container has exited and every waiter has its answer.
    pub fn run(&mut self) {
        while self.exit.is_none() {
            let mut fds = vec![
                pollfd(self.signals.as_raw_fd()),
                pollfd(self.listener.as_raw_fd()),
                pollfd(self.stdout.as_ref().map_or(-1, |f| f.as_raw_fd())),
                pollfd(self.stderr.as_ref().map_or(-1, |f| f.as_raw_fd())),
            ];
            fds.extend(self.clients.iter().map(|c| pollfd(c.stream.as_raw_fd())));
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                continue; // EINTR
            }
            let ready = |i: usize| fds[i].revents != 0;
            if ready(2) {
                self.pump(Stream::Stdout, false);
            }
            if ready(3) {
                self.pump(Stream::Stderr, false);
            }
            if ready(0) {
                for sig in signals::read_pending(&self.signals) {
                    if sig == libc::SIGCHLD {
                        self.reap();
                    } else if self.exit.is_none() {
                        // SAFETY: the init is our child (or re-parented to us), not yet
                        // reaped, so its pid cannot name another process.
                        unsafe { libc::kill(self.pid, sig) };
                    }
                }
            }
            if ready(1) {
                self.accept();
            }
            let ready_clients: Vec<usize> = (0..self.clients.len())
                .filter(|i| fds.get(4 + i).is_some_and(|f| f.revents != 0))
                .collect();
            for i in ready_clients.into_iter().rev() {
                if !self.serve(i) {
                    self.clients.swap_remove(i);
                }
            }
        }
    }

    /// Copies what the container wrote on one stream to the log; `drain` reads until
    /// nothing is left (at exit). A closed stream is dropped.
    fn pump(&mut self, stream: Stream, drain: bool) {
        let fd = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let Some(f) = fd.as_ref() else { return };
        let mut buf = [0u8; CHUNK];
        loop {
            match strata_os::fd::read(f.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    *fd = None;
                    return;
                }
                Ok(n) => {
                    if let Some(w) = self.log.as_mut() {
                        if let Err(e) =
                            w.write_chunk(stream, strata_os::clock::now_nanos(), &buf[..n])
                        {
                            eprintln!("strata-monitor: write log: {e}");
                        }
                    }
                    if !drain {
                        return;
                    }
                }
                // EAGAIN: nothing more now; EIO: a pty whose other side closed.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    *fd = None;
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Reaps every ended child; records the init's exit.
    fn reap(&mut self) {
        loop {
            match strata_os::process::waitpid(-1, libc::WNOHANG) {
                Ok((0, _)) | Err(_) => return,
                Ok((p, st)) if p == self.pid => self.exited(st),
                Ok(_) => {} // a helper child, or an orphan re-parented to us
            }
        }
    }

    /// The init has exited with wait status `st`: drain its output, let the runtime clean up,
    /// write the exit record and answer the waiters.
    fn exited(&mut self, st: libc::c_int) {
        self.pump(Stream::Stdout, true);
        self.pump(Stream::Stderr, true);
        self.stdin = None;
        self.status = Status::Exited;
        let (oom, deleted) = self.container.finish();
        if let Err(e) = deleted {
            eprintln!("strata-monitor: {e}");
        }
        let rec = ExitRecord {
            exit_code: strata_os::process::exit_code(st),
            signal: libc::WIFSIGNALED(st).then(|| libc::WTERMSIG(st)),
            exited_at: strata_os::clock::rfc3339_now(),
            oom_killed: oom,
            pid: self.pid,
        };
        if let Err(e) = record::write(&self.dir, record::EXIT, &rec) {
            eprintln!("strata-monitor: write exit record: {e}");
        }
        self.exit = Some(rec);
        let answer = self.state();
        for c in self.clients.iter_mut().filter(|c| c.waiting) {
            let _ = send(&mut c.stream, &answer);
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client {
                stream,
                buf: Vec::new(),
                waiting: false,
            });
        }
    }

    /// Reads from client `i` and answers its complete requests; false when it is gone.
    fn serve(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 4096];
        match self.clients[i].stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => self.clients[i].buf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
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
                Ok(req) => self.handle(req),
                Err(e) => Response::err(format!("monitor: bad request: {e}")),
            };
            if send(&mut self.clients[i].stream, &answer).is_err() {
                return false;
            }
        }
        true
    }

    fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::State | Request::Wait => self.state(),
            Request::Start => match self.status {
                Status::Created => match self.container.start() {
                    Ok(()) => {
                        self.status = Status::Running;
                        self.state()
                    }
                    Err(e) => Response::err(e),
                },
                Status::Running => Response::err(format!(
                    "container {} is already running",
                    self.container.id
                )),
                Status::Exited => {
                    Response::err(format!("container {} has exited", self.container.id))
                }
            },
            Request::Kill { signal, all } => {
                if self.exit.is_some() {
                    return Response::err(format!(
                        "container {} is not running",
                        self.container.id
                    ));
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
        }
    }

    fn state(&self) -> Response {
        Response {
            ok: true,
            status: Some(self.status),
            pid: Some(self.pid),
            exit: self.exit.clone(),
            ..Default::default()
        }
    }
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn send(s: &mut UnixStream, r: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(io::Error::other)?;
    line.push(b'\n');
    s.set_nonblocking(false)?;
    let res = s.write_all(&line);
    let _ = s.set_nonblocking(true);
    res
}
