//! The container's stdio: pipes the monitor reads (stdout, stderr) and writes (stdin), or a
//! pty whose master arrives on the console socket after create.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Both sides of the container's stdio.
pub struct Stdio {
    /// What the creating child puts on its descriptors 0, 1 and 2 (the container's init
    /// inherits them).
    pub child: [OwnedFd; 3],
    /// The monitor's end of stdin (with `--stdin`, no terminal).
    pub stdin: Option<OwnedFd>,
    /// The monitor's end of stdout (the pty master with a terminal).
    pub stdout: Option<OwnedFd>,
    /// The monitor's end of stderr (none with a terminal: the pty merges the streams).
    pub stderr: Option<OwnedFd>,
    /// Where the runtime sends the pty master (with a terminal).
    pub console: Option<UnixListener>,
    /// The console socket's path as the runtime (or a VM container's shim) reaches it:
    /// through a descriptor of the monitor's directory, short whatever the directory's
    /// length (a socket's path holds 108 bytes).
    pub console_path: Option<PathBuf>,
    /// That directory's descriptor.
    _console_dir: Option<OwnedFd>,
}

fn dev_null(flags: libc::c_int) -> io::Result<OwnedFd> {
    strata_os::fd::open("/dev/null", flags, 0)
}

impl Stdio {
    /// Pipes (or, with `terminal`, a console socket in `dir`) for a new container.
    pub fn new(dir: &Path, stdin: bool, terminal: bool) -> io::Result<Stdio> {
        if terminal {
            let d =
                strata_os::fd::open(dir, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)?;
            let name = strata_monitor::record::CONSOLE_SOCKET;
            let path = strata_os::fd::fd_path(d.as_raw_fd()).join(name);
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path)?;
            // SAFETY: getpid has no preconditions.
            let me = unsafe { libc::getpid() };
            let reachable = PathBuf::from(format!("/proc/{me}/fd/{}/{name}", d.as_raw_fd()));
            return Ok(Stdio {
                child: [
                    dev_null(libc::O_RDONLY)?,
                    dev_null(libc::O_WRONLY)?,
                    dev_null(libc::O_WRONLY)?,
                ],
                stdin: None,
                stdout: None,
                stderr: None,
                console: Some(l),
                console_path: Some(reachable),
                _console_dir: Some(d),
            });
        }
        let (in_r, in_w) = if stdin {
            let (r, w) = strata_os::fd::pipe()?;
            (r, Some(w))
        } else {
            (dev_null(libc::O_RDONLY)?, None)
        };
        let (out_r, out_w) = strata_os::fd::pipe()?;
        let (err_r, err_w) = strata_os::fd::pipe()?;
        for fd in [&out_r, &err_r] {
            strata_os::fd::set_nonblocking(fd.as_raw_fd(), true)?;
        }
        Ok(Stdio {
            child: [in_r, out_w, err_w],
            stdin: in_w,
            stdout: Some(out_r),
            stderr: Some(err_r),
            console: None,
            console_path: None,
            _console_dir: None,
        })
    }

    /// In the creating child: the container's stdio onto 0, 1 and 2.
    pub fn install_in_child(&self) -> io::Result<()> {
        for (i, fd) in self.child.iter().enumerate() {
            strata_os::fd::dup_onto(fd.as_raw_fd(), i as RawFd)?;
        }
        Ok(())
    }

    /// After create: drops the child's ends, and with a terminal takes the pty master the
    /// runtime sent (waiting up to `limit`).
    pub fn after_create(&mut self, limit: Duration) -> io::Result<()> {
        let null = dev_null(libc::O_RDONLY)?;
        // The child's ends are closed by replacing them (the array keeps its shape).
        self.child = [null.try_clone()?, null.try_clone()?, null];
        let Some(l) = self.console.take() else {
            return Ok(());
        };
        l.set_nonblocking(true)?;
        let t0 = Instant::now();
        let conn = loop {
            match l.accept() {
                Ok((c, _)) => break c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && t0.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => return Err(e),
            }
        };
        conn.set_nonblocking(false)?;
        let master = strata_os::fdpass::recv_fd(conn.as_raw_fd())?;
        strata_os::fd::set_nonblocking(master.as_raw_fd(), true)?;
        self.stdin = Some(master.try_clone()?);
        self.stdout = Some(master);
        Ok(())
    }
}
