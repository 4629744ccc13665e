//! File descriptors: opening (plain, relative, `openat2`), reading and writing small files,
//! pipes (and named pipes) and socket pairs. Every descriptor is opened close-on-exec.

use crate::cvt::{cvt, cvt_long, owned, path_cstr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// `open(2)` of an absolute or cwd-relative path (always `O_CLOEXEC`).
pub fn open<P: AsRef<Path>>(
    path: P,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    openat(libc::AT_FDCWD, path, flags, mode)
}

/// `openat(2)` relative to `dir` (a descriptor or `AT_FDCWD`; always `O_CLOEXEC`).
pub fn openat<P: AsRef<Path>>(
    dir: RawFd,
    path: P,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let p = path_cstr(path.as_ref())?;
    // SAFETY: `p` is a valid NUL-terminated string; `dir` is a descriptor or AT_FDCWD.
    owned(unsafe {
        libc::openat(
            dir,
            p.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })
}

/// `openat2(2)` with `resolve` flags (`RESOLVE_IN_ROOT` etc.; always `O_CLOEXEC`). See
/// [`crate::confined`] for the resolver built on it.
pub fn openat2<P: AsRef<Path>>(
    dir: RawFd,
    path: P,
    flags: u64,
    mode: u64,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let p = path_cstr(path.as_ref())?;
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: flags | libc::O_CLOEXEC as u64,
        mode,
        resolve,
    };
    // SAFETY: `how` and `p` live across the call; the size passed matches the struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            p.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    owned(cvt_long(r)? as libc::c_int)
}

/// The path under which this process reaches its descriptor `fd` (`/proc/self/fd/N`), for
/// the calls that only take paths (fd-based mounts, `readlink`).
pub fn fd_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

/// Writes all of `buf` to `fd`, retrying on EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[r as usize..];
    }
    Ok(())
}

/// Reads into `buf` once, retrying on EINTR; returns the byte count (0 at end of file).
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r as usize);
    }
}

/// Writes from `buf` once, retrying on EINTR; returns the byte count.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(r as usize);
    }
}

/// Writes a small value to an existing (proc, sys or cgroup) file, without creating it.
pub fn write_file<P: AsRef<Path>>(path: P, value: &str) -> io::Result<()> {
    let fd = open(path, libc::O_WRONLY, 0)?;
    write_all(fd.as_raw_fd(), value.as_bytes())
}

/// Writes a small value to the existing file `name` relative to the directory `dir`.
pub fn write_at<P: AsRef<Path>>(dir: RawFd, name: P, value: &str) -> io::Result<()> {
    let fd = openat(dir, name, libc::O_WRONLY, 0)?;
    write_all(fd.as_raw_fd(), value.as_bytes())
}

/// Sets or clears `FD_CLOEXEC`.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer descriptor; failure is reported through errno.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    if new != flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) })?;
    }
    Ok(())
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer descriptor; failure is reported through errno.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// The statfs magic of the file system holding `fd`.
pub fn fstatfs_type(fd: RawFd) -> io::Result<i64> {
    // SAFETY: zeroed statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    cvt(unsafe { libc::fstatfs(fd, &mut st) })?;
    Ok(st.f_type as i64)
}

/// A pipe with both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element out-array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected `AF_UNIX` socket pair of `kind` (`SOCK_STREAM`, `SOCK_SEQPACKET`),
/// close-on-exec.
pub fn socketpair_of(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element out-array.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected `AF_UNIX` stream socket pair, close-on-exec.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair_of(libc::SOCK_STREAM)
}

/// `dup3(2)` of `fd` onto `target` (without close-on-exec: for stdio set-up).
pub fn dup_onto(fd: RawFd, target: RawFd) -> io::Result<()> {
    if fd == target {
        return set_cloexec(fd, false);
    }
    // SAFETY: dup3 on two integer descriptors; failure is reported through errno.
    cvt(unsafe { libc::dup3(fd, target, 0) }).map(drop)
}

/// Closes every descriptor from `first` up (`close_range(2)`): for a forked child that
/// must hold nothing of its parent's beyond its stdio.
pub fn close_from(first: RawFd) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors of this process; callers own them all.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    } as libc::c_int)
    .map(drop)
}

/// `mkfifo(2)`: a named pipe at `path` with `mode` (less the umask); `EEXIST` if something
/// is there already.
pub fn mkfifo<P: AsRef<Path>>(path: P, mode: libc::mode_t) -> io::Result<()> {
    let p = path_cstr(path.as_ref())?;
    // SAFETY: `p` is a valid NUL-terminated string for the duration of the call.
    cvt(unsafe { libc::mkfifo(p.as_ptr(), mode) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_round_trip_and_cloexec() {
        let (r, w) = pipe().unwrap();
        write_all(w.as_raw_fd(), b"hello").unwrap();
        let mut b = [0u8; 8];
        assert_eq!(read(r.as_raw_fd(), &mut b).unwrap(), 5);
        // SAFETY: F_GETFD on a descriptor we own.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fl & libc::FD_CLOEXEC, 0);
        set_cloexec(r.as_raw_fd(), false).unwrap();
        // SAFETY: as above.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(fl & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn files_by_path_and_relative() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "").unwrap();
        write_file(t.path().join("f"), "one").unwrap();
        assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "one");
        let d = open(t.path(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        write_at(d.as_raw_fd(), "f", "two").unwrap();
        assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "two");
        assert!(
            write_file(t.path().join("missing"), "x").is_err(),
            "never creates"
        );
        let real = std::fs::read_link(fd_path(d.as_raw_fd())).unwrap();
        assert_eq!(real, t.path());
    }

    #[test]
    fn fifo_is_made_once() {
        use std::os::unix::fs::FileTypeExt;
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("exec.fifo");
        mkfifo(&f, 0o600).unwrap();
        assert!(std::fs::metadata(&f).unwrap().file_type().is_fifo());
        let e = mkfifo(&f, 0o600).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    }
}
