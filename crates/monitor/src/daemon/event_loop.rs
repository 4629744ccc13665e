//! The monitor's life after create: one poll loop over the signalfd, the container's output
//! and input, the control socket and its clients; then the exit record and the clean-up.

use super::clients::Client;
use super::container::Container;
use super::exec::Session;
use super::input::Input;
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
    /// Its stdin (the write end of a pipe, or the pty master).
    pub stdin: Input,
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
    pub log: Option<Writer>,
    pub clients: Vec<Client>,
    /// The number the next client gets.
    next_client: u64,
    /// Running exec sessions.
    pub sessions: Vec<Session>,
    /// Whether set-up or a session paged in code that idling does not need (see
    /// `strata_os::memory`): given back once nobody is connected.
    trim_due: bool,
}

/// Bytes read from the container's output at a time.
const CHUNK: usize = 32 * 1024;
/// The poll entries before the clients': signals, listener, stdout, stderr, stdin.
const FIXED: usize = 5;

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
            log: w.log,
            clients: Vec::new(),
            next_client: 1,
            sessions: Vec::new(),
            trim_due: true,
        }
    }

    /// Runs until the container has exited and every waiter has its answer.
    pub fn run(&mut self) {
        while self.exit.is_none() {
            let stdin_waiting = self.io.stdin.waiting();
            // A pty master serves as stdout and stdin: poll it once, for both.
            let (out_events, stdin_fd) = if self.io.terminal {
                let w = if stdin_waiting { libc::POLLOUT } else { 0 };
                (libc::POLLIN | w, -1)
            } else {
                (libc::POLLIN, self.io.stdin.poll_fd())
            };
            let mut fds = vec![
                pollfd(self.signals.as_raw_fd(), libc::POLLIN),
                pollfd(self.listener.as_raw_fd(), libc::POLLIN),
                pollfd(raw(&self.io.stdout), out_events),
                pollfd(raw(&self.io.stderr), libc::POLLIN),
                pollfd(stdin_fd, libc::POLLOUT),
            ];
            fds.extend(self.clients.iter().map(|c| pollfd(c.fd(), libc::POLLIN)));
            let sessions_at = fds.len();
            for s in &self.sessions {
                let (out_events, stdin_fd) = if s.tty {
                    let w = if s.input.waiting() { libc::POLLOUT } else { 0 };
                    (libc::POLLIN | w, -1)
                } else {
                    (libc::POLLIN, s.input.poll_fd())
                };
                fds.push(pollfd(raw(&s.stdout), out_events));
                fds.push(pollfd(raw(&s.stderr), libc::POLLIN));
                fds.push(pollfd(stdin_fd, libc::POLLOUT));
            }
            if self.trim_due && self.clients.is_empty() && self.sessions.is_empty() {
                // The code of creating the container and of serving clients is read back
                // from the binary if it is needed again.
                let _ = strata_os::memory::release_clean_code();
                self.trim_due = false;
            }
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
                self.io.stdin.flush();
            }
            for k in 0..self.sessions.len() {
                let at = sessions_at + 3 * k;
                if ready(at, libc::POLLIN) {
                    self.session_output(k, false);
                }
                if ready(at + 1, libc::POLLIN) {
                    self.session_output(k, true);
                }
                if ready(at + 2, libc::POLLOUT) || fds[at].revents & libc::POLLOUT != 0 {
                    self.sessions[k].input.flush();
                }
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
            let ready_clients: Vec<usize> = (0..self.clients.len())
                .filter(|i| fds.get(FIXED + i).is_some_and(|f| f.revents != 0))
                .collect();
            for i in ready_clients.into_iter().rev() {
                if !self.serve(i) {
                    self.client_gone(i);
                }
            }
            if ready(1, libc::POLLIN) {
                self.accept();
            }
        }
    }

    /// Client `i` has gone: the container's stdin ends if it fed it; its exec session loses
    /// its streams (a terminal's hang-up reaches the process), its runner reaped as any child.
    fn client_gone(&mut self, i: usize) {
        self.trim_due = true;
        let c = self.clients.swap_remove(i);
        if c.owns_stdin() {
            self.io.stdin.end();
        }
        if let Some(pid) = c.session() {
            self.sessions.retain(|s| s.pid != pid);
        }
    }

    /// Relays what exec session `k` wrote on one stream to its client.
    fn session_output(&mut self, k: usize, stderr: bool) {
        let Some(f) = self.sessions[k].read_output(stderr) else {
            return;
        };
        let owner = self.sessions[k].client;
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == owner) {
            c.send_raw(&f);
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
                Ok((p, st)) => self.session_ended(p, st),
            }
        }
    }

    /// The init has exited with wait status `st`: drain its output, let the runtime clean up,
    /// write the exit record, answer the waiters and end the attached streams.
    fn exited(&mut self, st: libc::c_int) {
        self.pump(Stream::Stdout, true);
        self.pump(Stream::Stderr, true);
        self.io.stdin.close();
        self.status = Status::Exited;
        let rec = ExitRecord {
            oom_killed: self.container.oom_killed(),
            ..ExitRecord::reaped(self.pid, st)
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
        // The delete ended every process left in the container, so the exec sessions' runners
        // end now too: their exits are their clients' last frames.
        for s in std::mem::take(&mut self.sessions) {
            if let Ok((_, st)) = strata_os::process::waitpid(s.pid, 0) {
                let owner = s.client;
                let frames = s.finish(st);
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == owner) {
                    c.send_raw(&frames);
                }
            }
        }
    }

    /// A child other than the init has ended: an exec session's runner (its last frames go
    /// to its client), a helper, or an orphan re-parented to us.
    fn session_ended(&mut self, pid: i32, st: libc::c_int) {
        let Some(k) = self.sessions.iter().position(|s| s.pid == pid) else {
            return;
        };
        let s = self.sessions.swap_remove(k);
        let owner = s.client;
        let frames = s.finish(st);
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == owner) {
            c.send_raw(&frames);
        }
    }

    pub fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client::new(stream, self.next_client));
            self.next_client += 1;
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
