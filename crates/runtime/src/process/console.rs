//! The container's terminal: a pty from the container's own devpts whose master goes to the
//! caller through `--console-socket` (SCM_RIGHTS), as runc does.

use crate::error::{Context, Error, Result};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use strata_os::fd::{self, fd_path};
use strata_os::{cvt, fdpass, mount, owned, Confined};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// A new pty: (master, slave).
pub fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let master = fd::open("/dev/pts/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)
        .or_else(|_| fd::open("/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0))
        .ctx(|| "open /dev/ptmx".into())?;
    let t = fd::fstatfs_type(master.as_raw_fd()).ctx(|| "statfs ptmx".into())?;
    if t != DEVPTS_SUPER_MAGIC {
        return Err(Error::Other(format!(
            "/dev/ptmx is not on devpts (type {t:#x})"
        )));
    }
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to int.
    cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) })
        .ctx(|| "unlock pty".into())?;
    // SAFETY: TIOCGPTPEER returns a new fd for the slave, opened with the given flags.
    let slave = owned(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })
    .ctx(|| "open pty slave".into())?;
    Ok((master, slave))
}

/// Sets the window size.
pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ takes a pointer to winsize.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Makes `slave` the controlling terminal and stdio of the calling process (in a new session),
/// and bind-mounts it over /dev/console when that exists.
pub fn become_tty(slave: &OwnedFd, mount_console: bool) -> Result<()> {
    // SAFETY: plain syscall.
    unsafe { libc::setsid() };
    // SAFETY: TIOCSCTTY with integer argument.
    cvt(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .ctx(|| "set controlling terminal".into())?;
    for n in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        cvt(unsafe { libc::dup2(slave.as_raw_fd(), n) }).ctx(|| "dup pty to stdio".into())?;
    }
    if mount_console {
        let root = fd::open("/", libc::O_PATH | libc::O_DIRECTORY, 0).ctx(|| "open /".into())?;
        let t = Confined::new(root.as_fd())
            .create_file("/dev/console", 0o600)
            .ctx(|| "create /dev/console".into())?;
        mount::bind(&fd_path(slave.as_raw_fd()), &fd_path(t.as_raw_fd()), 0)
            .ctx(|| "bind pty over /dev/console".into())?;
    }
    Ok(())
}

/// Sends the master to the unix socket at `path`.
pub fn send_to_socket(path: &Path, master: &OwnedFd) -> Result<()> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("connect console socket {}", path.display()))?;
    fdpass::send_fd(s.as_raw_fd(), master.as_raw_fd())
        .ctx(|| format!("send pty master to console socket {}", path.display()))
}
