//! The monitor's life after create: one poll loop over the signalfd, the container's output
//! and input, the control socket and its clients; then the exit record and the clean-up.

use super::clients::Client;
use super::container::Container;
use super::signals;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;
use strata_monitor::cri_log::{Stream, Writer};
use strata_monitor::frame::{self, Kind};
use strata_monitor::protocol::{Response, Status};
use strata_monitor::record::{self, ExitRecord};

/// The container's streams as the monitor holds them.
pub struct Streams {
    /// The write end of its stdin (or the pty master).
    pub stdin: Option<OwnedFd>,
    /// The read end of its stdout (or the pty master).
    pub stdout: Option<OwnedFd>,
    /// The read end of its stderr.
    pub stderr: Option<OwnedFd>,
    /// Whether stdout is a terminal (its master also takes resizes).
    pub terminal: bool,
}

/// The descriptors a monitor watches, made before its container.
pub struct Watched {
    /// SIGCHLD and the forwarded signals.
    pub signals: OwnedFd,
    /// The control socket.
    pub listener: UnixListener,
    /// The container's streams.
    pub io: Streams,
    /// Its log.
    pub log: Option<Writer>,
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
    pub io: Streams,
    /// Input for the container's stdin not written yet (it reads slower than it gets).
    pub stdin_pending: Vec<u8>,
    /// Close stdin once the pending input is written.
    pub stdin_eof: bool,
    pub log: Option<Writer>,
    pub clients: Vec<Client>,
}

/// Bytes read from the container's output at a time.
const CHUNK: usize = 32 * 1024;
/// Input buffered for a container that does not read its stdin, at most.
const MAX_PENDING: usize = 1 << 20;

fn pollfd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn raw(fd: &Option<OwnedFd>) -> i32 {
    fd.as_ref().map_or(-1, |f| f.as_raw_fd())
}

impl Monitor {
    /// A monitor for a created (or started) container, watching `w`.
    pub fn new(container: Container, dir: PathBuf, pid: i32, started: bool, w: Watched) -> Self {
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
            signals: w.signals,
            listener: w.listener,
            io: w.io,
            stdin_pending: Vec::new(),
            stdin_eof: false,
            log: w.log,
            clients: Vec::new(),
        }
    }

    /// Runs until the container has exited and every waiter has its answer.
    pub fn run(&mut self) {
        while self.exit.is_none() {
            let stdin_events = if self.stdin_pending.is_empty() {
                0
            } else {
                libc::POLLOUT
            };
            // A pty master serves as stdout and stdin: poll it once, for both.
            let stdin_fd = if self.io.terminal {
                -1
            } else {
                raw(&self.io.stdin)
            };
            let out_events = if self.io.terminal {
                libc::POLLIN | stdin_events
            } else {
                libc::POLLIN
            };
            let mut fds = vec![
                pollfd(self.signals.as_raw_fd(), libc::POLLIN),
                pollfd(self.listener.as_raw_fd(), libc::POLLIN),
                pollfd(raw(&self.io.stdout), out_events),
                pollfd(raw(&self.io.stderr), libc::POLLIN),
                pollfd(if stdin_events != 0 { stdin_fd } else { -1 }, libc::POLLOUT),
            ];
            fds.extend(self.clients.iter().map(|c| pollfd(c.fd(), libc::POLLIN)));
            // SAFETY: `fds` is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                continue; // EINTR
            }
            let ready = |i: usize, ev: libc::c_short| {
                fds[i].revents & (ev | libc::POLLHUP | libc::POLLERR) != 0
            };
            if ready(2, libc::POLLIN) {
                self.pump(Stream::Stdout, false);
            }
            if ready(3, libc::POLLIN) {
                self.pump(Stream::Stderr, false);
            }
            if ready(4, libc::POLLOUT) || (self.io.terminal && fds[2].revents & libc::POLLOUT != 0)
            {
                self.flush_stdin();
            }
            if ready(0, libc::POLLIN) {
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
            if ready(1, libc::POLLIN) {
                self.accept();
            }
            let ready_clients: Vec<usize> = (0..self.clients.len())
                .filter(|i| fds.get(5 + i).is_some_and(|f| f.revents != 0))
                .collect();
            for i in ready_clients.into_iter().rev() {
                if !self.serve(i) {
                    let c = self.clients.swap_remove(i);
                    if c.owns_stdin() {
                        self.stdin_eof = true;
                        self.flush_stdin();
                    }
                }
            }
        }
    }

    /// After the exit: answers every request already sent, on connections accepted or still
    /// waiting in the listener's backlog (a `wait` sent just before the exit gets its
    /// answer rather than a reset connection).
    pub fn last_answers(&mut self) {
        self.accept();
        for i in (0..self.clients.len()).rev() {
            let _ = self.serve(i);
        }
        self.clients.clear();
    }

    /// Queues input for the container's stdin.
    pub fn queue_stdin(&mut self, data: &[u8]) {
        if self.io.stdin.is_none() || self.stdin_pending.len() + data.len() > MAX_PENDING {
            return;
        }
        self.stdin_pending.extend_from_slice(data);
        self.flush_stdin();
    }

    /// Writes what it can of the pending input; closes stdin after the end of input.
    pub fn flush_stdin(&mut self) {
        let Some(fd) = self.io.stdin.as_ref() else {
            self.stdin_pending.clear();
            return;
        };
        while !self.stdin_pending.is_empty() {
            // SAFETY: writing from a live buffer of the given length to a descriptor we own.
            let n = unsafe {
                libc::write(
                    fd.as_raw_fd(),
                    self.stdin_pending.as_ptr() as *const libc::c_void,
                    self.stdin_pending.len(),
                )
            };
            if n <= 0 {
                let e = std::io::Error::last_os_error();
                if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                if n < 0 && e.kind() != std::io::ErrorKind::WouldBlock {
                    self.stdin_pending.clear(); // the container closed its stdin
                }
                break;
            }
            self.stdin_pending.drain(..n as usize);
        }
        if self.stdin_eof && self.stdin_pending.is_empty() && !self.io.terminal {
            self.io.stdin = None;
        }
    }

    /// Copies what the container wrote on one stream to the log and the attached clients;
    /// `drain` reads until nothing is left (at exit). A closed stream is dropped.
    fn pump(&mut self, stream: Stream, drain: bool) {
        let mut buf = [0u8; CHUNK];
        loop {
            let fd = match stream {
                Stream::Stdout => &mut self.io.stdout,
                Stream::Stderr => &mut self.io.stderr,
            };
            let Some(f) = fd.as_ref() else { return };
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
                    let kind = match stream {
                        Stream::Stdout => Kind::Stdout,
                        Stream::Stderr => Kind::Stderr,
                    };
                    let f = frame::encode(kind, &buf[..n]);
                    self.clients.retain_mut(|c| c.send_frame(&f));
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
    /// write the exit record, answer the waiters and end the attached streams.
    fn exited(&mut self, st: libc::c_int) {
        self.pump(Stream::Stdout, true);
        self.pump(Stream::Stderr, true);
        self.io.stdin = None;
        self.status = Status::Exited;
        let oom = self.container.oom_killed();
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
        self.exit = Some(rec.clone());
        let answer = self.state();
        let exit_frame = frame::exit(&rec);
        for c in self.clients.iter_mut() {
            c.at_exit(&answer, &exit_frame);
        }
        if let Err(e) = self.container.delete() {
            eprintln!("strata-monitor: {e}");
        }
    }

    pub fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client::new(stream));
        }
    }

    /// The container's state as a response.
    pub fn state(&self) -> Response {
        Response {
            ok: true,
            status: Some(self.status),
            pid: Some(self.pid),
            exit: self.exit.clone(),
            ..Default::default()
        }
    }
}
