//! Processes: clone, wait, exit codes, signals, namespaces, exec, and the facts
//! `/proc/PID/stat` gives (state letter, start time) that tell a live pid from a reused one.

use crate::cvt::{cvt, cvt_long, path_cstr};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

/// `fork(2)`-like raw `clone` with namespace flags; returns 0 in the child, the pid in the
/// parent.
///
/// # Safety
/// The caller must be single-threaded: the child continues on a copy of the caller's
/// memory, where a lock held by another thread would stay locked forever.
pub unsafe fn clone_fork(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: with a NULL stack the child continues on a copy-on-write copy of the parent's
    // stack, exactly like fork(2); the caller guarantees it is single-threaded.
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

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup2 directory given by fd.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3(2)`'s argument, `struct clone_args` up to `cgroup` (its second version).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// [`clone_fork`] whose child starts in the cgroup2 directory open as `cgroup` (an `O_PATH`
/// descriptor is enough), through `clone3` with `CLONE_INTO_CGROUP`: it is never moved there
/// afterwards. Fails (with no child) where the kernel cannot (before 5.7: `ENOSYS`/`E2BIG`).
///
/// # Safety
/// As [`clone_fork`]: the caller must be single-threaded.
pub unsafe fn clone_fork_into_cgroup(flags: libc::c_int, cgroup: RawFd) -> io::Result<libc::pid_t> {
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup as u64,
    };
    // SAFETY: `args` is a valid clone_args of the size passed; with no stack the child
    // continues on a copy-on-write copy of ours, as with fork(2); the caller guarantees we
    // are single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    Ok(cvt_long(r)? as libc::pid_t)
}

/// `waitpid(2)` retrying on EINTR; returns the pid and the raw wait status.
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

/// `kill(2)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// `setns(2)`.
pub fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor the caller holds.
    cvt(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// `unshare(2)`.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

/// `chdir(2)`.
pub fn chdir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let p = path_cstr(path.as_ref())?;
    // SAFETY: `p` is a valid C string.
    cvt(unsafe { libc::chdir(p.as_ptr()) }).map(drop)
}

/// `execve(2)`; returns only on failure, with the error.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point to strings that outlive the call.
    unsafe { libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr()) };
    io::Error::last_os_error()
}

/// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`):
/// a container's init whose creator exits is re-parented here and reaped here.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// A handler that does nothing, for [`default_at_exec`].
extern "C" fn ignore_until_exec(_: libc::c_int) {}

/// Makes an ignored `sig` take its default action again in the program this process executes
/// next, without changing what it does until then. Rust's runtime ignores SIGPIPE at start-up,
/// and an ignored signal stays ignored across `execve`; a caught one is reset to `SIG_DFL`
/// there. So `sig`, if ignored, gets a handler that does nothing: until `execve` it still
/// changes nothing (a write to a closed pipe fails with `EPIPE`), and no system call is left
/// to make between a seccomp filter and `execve`. A signal not ignored is left as it is.
pub fn default_at_exec(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid out-buffer; a NULL new action only queries.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a valid out-pointer.
    cvt(unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) })?;
    if old.sa_sigaction != libc::SIG_IGN {
        return Ok(());
    }
    // SAFETY: a zeroed sigaction (empty mask) is valid; the handler is a plain function that
    // touches nothing, so it is async-signal-safe.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = ignore_until_exec as extern "C" fn(libc::c_int) as libc::sighandler_t;
    new.sa_flags = libc::SA_RESTART;
    // SAFETY: `new` is fully initialised; the old action is not asked for.
    cvt(unsafe { libc::sigaction(sig, &new, std::ptr::null_mut()) }).map(drop)
}

/// The state letter (field 3) and start time (field 22, clock ticks since boot) of a
/// process, from one read of /proc/PID/stat. `None` if the process is gone.
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

/// Whether `pid` is the process that started at `start` (see [`process_start_time`]) and
/// has not exited (a zombie counts as exited).
pub fn is_alive(pid: libc::pid_t, start: u64) -> bool {
    match process_stat(pid) {
        Some((state, t)) => t == start && state != 'Z' && state != 'X',
        None => false,
    }
}

/// The parent pid of a process (field 4 of /proc/PID/stat); `None` if it is gone.
pub fn parent_pid(pid: libc::pid_t) -> Option<libc::pid_t> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every descendant of `pid` (children first, then theirs), from one scan of /proc.
pub fn descendants(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let mut parents: Vec<(libc::pid_t, libc::pid_t)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            if let Some(p) = e.file_name().to_str().and_then(|n| n.parse().ok()) {
                if let Some(pp) = parent_pid(p) {
                    parents.push((p, pp));
                }
            }
        }
    }
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(child, _) in parents.iter().filter(|(_, pp)| *pp == p) {
            out.push(child);
            frontier.push(child);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child of `clone_fork_into_cgroup` starts in the cgroup2 directory it was given.
    #[test]
    fn a_child_is_cloned_into_its_cgroup2_directory() {
        // SAFETY: geteuid never fails.
        if unsafe { libc::geteuid() } != 0 {
            assert!(std::env::var_os("CI").is_none(), "needs root");
            return;
        }
        let v2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.subtree_control").exists())
            .expect("a cgroup2 hierarchy");
        let name = format!("strata-os-clone3-{}", std::process::id());
        let dir = v2.join(&name);
        std::fs::create_dir(&dir).unwrap();
        let fd = crate::fd::open(&dir, libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        // SAFETY: the child only calls pause and _exit (async-signal-safe) before it ends,
        // so the test harness's other threads do not matter.
        let pid = unsafe { clone_fork_into_cgroup(0, std::os::fd::AsRawFd::as_raw_fd(&fd)) };
        let pid = match pid {
            Ok(0) => {
                // SAFETY: see above.
                unsafe {
                    libc::pause();
                    libc::_exit(0)
                }
            }
            r => r,
        };
        let own = pid
            .as_ref()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")));
        if let Ok(&p) = pid.as_ref() {
            let _ = kill(p, libc::SIGKILL);
            let _ = waitpid(p, 0);
        }
        std::fs::remove_dir(&dir).unwrap();
        let own = own.expect("clone3 with CLONE_INTO_CGROUP").unwrap();
        assert!(own.contains(&format!("0::/{name}\n")), "{own}");
    }

    #[test]
    fn descendants_are_found_through_the_tree() {
        let mut c = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let me = c.id() as libc::pid_t;
        let t0 = std::time::Instant::now();
        let mut d = descendants(me);
        while d.is_empty() && t0.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            d = descendants(me);
        }
        assert_eq!(d.len(), 1, "sh's one child: {d:?}");
        assert_eq!(parent_pid(d[0]), Some(me));
        // SAFETY: getpid never fails.
        assert!(descendants(unsafe { libc::getpid() }).contains(&me));
        let _ = kill(d[0], libc::SIGKILL);
        c.wait().unwrap();
    }

    #[test]
    fn stat_of_self_and_of_a_gone_pid() {
        // SAFETY: getpid never fails.
        let me = unsafe { libc::getpid() };
        let (state, start) = process_stat(me).unwrap();
        assert!(matches!(state, 'R' | 'S'), "{state}");
        assert!(start > 0);
        assert_eq!(process_start_time(me), Some(start));
        assert!(is_alive(me, start));
        assert!(
            !is_alive(me, start + 1),
            "another start time is another process"
        );
        assert_eq!(process_stat(i32::MAX - 7), None);
    }

    #[test]
    fn exit_codes_are_shell_style() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }

    /// The ignored-signal mask (SigIgn) of a program executed with `sig` ignored, with or
    /// without `default_at_exec(sig)` before the exec.
    fn sig_ign_after_exec(sig: libc::c_int, reset: bool) -> u64 {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("grep");
        cmd.args(["SigIgn", "/proc/self/status"]);
        // SAFETY: the closure runs in the forked child before exec and only calls sigaction
        // (async-signal-safe).
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(sig, libc::SIG_IGN);
                if reset {
                    default_at_exec(sig)?;
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let hex = text.trim().strip_prefix("SigIgn:").unwrap().trim();
        u64::from_str_radix(hex, 16).unwrap()
    }

    #[test]
    fn an_ignored_signal_is_default_again_after_exec() {
        let bit = 1u64 << (libc::SIGUSR2 - 1);
        assert_ne!(sig_ign_after_exec(libc::SIGUSR2, false) & bit, 0, "control");
        assert_eq!(sig_ign_after_exec(libc::SIGUSR2, true) & bit, 0);
    }
}
