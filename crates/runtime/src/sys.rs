//! Thin, checked wrappers over the Linux system calls the runtime uses, so the rest of the code
//! reads as a list of steps. Every wrapper returns `io::Result` with errno preserved.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Converts a `-1`-on-error libc return into `io::Result`.
pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Converts a `-1`-on-error raw syscall return into `io::Result`.
pub fn cvt_long(r: libc::c_long) -> io::Result<libc::c_long> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A `CString` from a Rust string; interior NULs become an `InvalidInput` error.
pub fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "string contains NUL"))
}

/// Wraps a freshly returned file descriptor.
pub fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `open(2)` of an absolute or cwd-relative path.
pub fn open(path: &str, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let p = cstr(path)?;
    // SAFETY: `p` is a valid NUL-terminated string for the duration of the call.
    owned(unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, mode) })
}

/// `openat(2)` relative to `dir`.
pub fn openat(
    dir: RawFd,
    path: &str,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let p = cstr(path)?;
    // SAFETY: `p` is a valid NUL-terminated string; `dir` is a descriptor or AT_FDCWD.
    owned(unsafe { libc::openat(dir, p.as_ptr(), flags | libc::O_CLOEXEC, mode) })
}

/// `openat2(2)` with `resolve` flags (RESOLVE_IN_ROOT etc.).
pub fn openat2(dir: RawFd, path: &str, flags: u64, mode: u64, resolve: u64) -> io::Result<OwnedFd> {
    let p = cstr(path)?;
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

/// `mount(2)`. `None` arguments pass NULL.
pub fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> io::Result<()> {
    let src = src.map(cstr).transpose()?;
    let target = cstr(target)?;
    let fstype = fstype.map(cstr).transpose()?;
    let data = data.filter(|d| !d.is_empty()).map(cstr).transpose()?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is NULL or a valid NUL-terminated string living across the call.
    cvt(unsafe {
        libc::mount(
            ptr(&src),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data) as *const libc::c_void,
        )
    })
    .map(drop)
}

/// `umount2(2)`.
pub fn umount2(target: &str, flags: libc::c_int) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: `t` is a valid NUL-terminated string.
    cvt(unsafe { libc::umount2(t.as_ptr(), flags) }).map(drop)
}

/// `setns(2)`.
pub fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we hold.
    cvt(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// `unshare(2)`.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

/// The path under which a process can reach its own descriptor `fd` (for fd-based mounts).
pub fn fd_path(fd: RawFd) -> String {
    format!("/proc/self/fd/{fd}")
}

/// `fork(2)`-like raw `clone` with namespace flags; returns 0 in the child, the pid in the parent.
///
/// The runtime is single-threaded when it calls this, so the child may keep using the heap.
pub fn clone_fork(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: with a NULL stack the child continues on a copy-on-write copy of the parent's
    // stack, exactly like fork(2). The process is single-threaded here, so no lock held by
    // another thread can be inherited in a locked state.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    Ok(cvt_long(r)? as libc::pid_t)
}

/// `waitpid(2)` retrying on EINTR; returns the raw wait status.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<(libc::pid_t, libc::c_int)> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok((r, status));
    }
}

/// Converts a wait status into a shell-style exit code (128+signal for a signal death).
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
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

/// Writes a small value to a (proc, sys or cgroup) file, without creating it.
pub fn write_file(path: &str, value: &str) -> io::Result<()> {
    let fd = open(path, libc::O_WRONLY, 0)?;
    write_all(fd.as_raw_fd(), value.as_bytes())
}

/// Writes a small value to `name` relative to the directory `dir`.
pub fn write_at(dir: RawFd, name: &str, value: &str) -> io::Result<()> {
    let fd = openat(dir, name, libc::O_WRONLY, 0)?;
    write_all(fd.as_raw_fd(), value.as_bytes())
}

/// Sets or clears FD_CLOEXEC.
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

/// The statfs magic of the file system holding `fd`.
pub fn fstatfs_type(fd: RawFd) -> io::Result<i64> {
    // SAFETY: zeroed statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    cvt(unsafe { libc::fstatfs(fd, &mut st) })?;
    Ok(st.f_type as i64)
}

/// `kill(2)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// A pipe with both ends close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element out-array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected `AF_UNIX` stream socket pair, close-on-exec.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element out-array.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `execve(2)`; returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point to strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// The state letter (field 3) and start time (field 22) of a process, from one read of
/// /proc/PID/stat. The start time tells a pid apart from a later process that reused it.
/// `None` if the process is gone.
pub fn process_stat(pid: libc::pid_t) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The start time of a process (field 22 of /proc/PID/stat); `None` if it is gone.
pub fn process_start_time(pid: libc::pid_t) -> Option<u64> {
    process_stat(pid).map(|(_, t)| t)
}

/// `chdir("/")`.
pub fn chdir_root() -> crate::error::Result<()> {
    let slash = c"/";
    // SAFETY: valid C string.
    cvt(unsafe { libc::chdir(slash.as_ptr()) })
        .map(drop)
        .map_err(|e| crate::error::Error::io("chdir /", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_self_and_of_a_gone_pid() {
        // SAFETY: getpid never fails.
        let me = unsafe { libc::getpid() };
        let (state, start) = process_stat(me).unwrap();
        assert!(matches!(state, 'R' | 'S'), "{state}");
        assert!(start > 0);
        assert_eq!(process_start_time(me), Some(start));
        assert_eq!(process_stat(i32::MAX - 7), None);
    }

    #[test]
    fn exit_codes_are_shell_style() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
