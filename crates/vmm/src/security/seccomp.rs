//! seccomp-BPF filters per thread kind (seccompiler). A thread that makes a syscall outside
//! its list kills the whole VMM process (SIGSYS), so a guest that gets code execution in a
//! device emulator cannot open sockets, files or processes.

use crate::error::{Error, Result};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use std::collections::BTreeMap;

/// The kinds of threads the VMM runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadKind {
    /// A vCPU thread: KVM_RUN and the device emulation it does synchronously.
    Vcpu,
    /// The main thread after set-up: waits for vCPU outcomes, kicks, writes, exits.
    Main,
    /// The API server thread: accepts on its unix socket, reads and writes requests.
    Api,
    /// A device I/O thread (virtio-net RX): polls and reads its host fd, raises interrupts.
    Device,
    /// The vsock muxer: accepts and connects unix sockets, polls, reads, writes.
    VsockMuxer,
}

/// Syscalls every kind needs (memory, futexes, signals, thread exit, logging).
const COMMON: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_futex,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sigaltstack,
    libc::SYS_sched_yield,
    libc::SYS_clock_gettime,
    libc::SYS_nanosleep,
    libc::SYS_clock_nanosleep,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_close,
    libc::SYS_getrandom,
    libc::SYS_fcntl,
];

fn syscalls(kind: ThreadKind) -> Vec<i64> {
    let mut v = COMMON.to_vec();
    match kind {
        ThreadKind::Vcpu => v.extend_from_slice(&[
            libc::SYS_ioctl,
            libc::SYS_pread64,
            libc::SYS_pwrite64,
            libc::SYS_fsync,
            libc::SYS_fdatasync,
            libc::SYS_sendmsg,
            libc::SYS_recvmsg,
            libc::SYS_sendto,
        ]),
        ThreadKind::Main => v.extend_from_slice(&[
            libc::SYS_ioctl,
            libc::SYS_sendto,
            libc::SYS_unlink,
            libc::SYS_unlinkat,
            libc::SYS_tgkill,
            libc::SYS_getpid,
            libc::SYS_gettid,
        ]),
        ThreadKind::Device => v.extend_from_slice(&[libc::SYS_poll, libc::SYS_ppoll]),
        ThreadKind::VsockMuxer => v.extend_from_slice(&[
            libc::SYS_poll,
            libc::SYS_ppoll,
            libc::SYS_accept4,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_ioctl,
            libc::SYS_sendto,
            libc::SYS_recvfrom,
            libc::SYS_unlink,
            libc::SYS_unlinkat,
        ]),
        ThreadKind::Api => v.extend_from_slice(&[
            libc::SYS_accept4,
            libc::SYS_setsockopt,
            libc::SYS_ioctl,
            libc::SYS_tgkill,
            libc::SYS_getpid,
            libc::SYS_openat,
            libc::SYS_fstat,
            libc::SYS_newfstatat,
            libc::SYS_statx,
            libc::SYS_lseek,
            libc::SYS_pwrite64,
            libc::SYS_ftruncate,
            libc::SYS_fsync,
            libc::SYS_poll,
            libc::SYS_recvfrom,
            libc::SYS_sendto,
        ]),
    }
    v
}

/// Compiles the filter for `kind`.
pub fn filter(kind: ThreadKind) -> Result<BpfProgram> {
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
        syscalls(kind).into_iter().map(|s| (s, vec![])).collect();
    let f = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| Error::Config(format!("seccomp {kind:?}: {e}")))?;
    f.try_into()
        .map_err(|e| Error::Config(format!("seccomp {kind:?}: {e:?}")))
}

/// Installs `prog` on the calling thread.
pub fn apply(prog: &BpfProgram) -> Result<()> {
    seccompiler::apply_filter(prog).map_err(|e| Error::Config(format!("seccomp: apply: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forks a child that installs `kind`'s filter and runs `f`; returns the wait status.
    fn in_child(kind: ThreadKind, f: fn()) -> i32 {
        let prog = filter(kind).unwrap();
        // SAFETY: the child only calls async-signal-safe syscalls (prctl/seccomp through
        // apply, then raw syscalls in `f`, then _exit) and never returns into the harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            if apply(&prog).is_err() {
                // SAFETY: terminating the forked child without running destructors.
                unsafe { libc::_exit(90) };
            }
            f();
            // SAFETY: as above.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child we just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status
    }

    #[test]
    fn vcpu_filter_kills_on_socket() {
        let st = in_child(ThreadKind::Vcpu, || {
            // SAFETY: a plain syscall with constant arguments.
            unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
        });
        assert!(
            libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS,
            "status {st:#x}"
        );
    }

    #[test]
    fn vcpu_filter_kills_on_execve_and_open() {
        let st = in_child(ThreadKind::Vcpu, || {
            // SAFETY: openat on a constant, NUL-terminated path.
            unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c"/etc/passwd".as_ptr(), 0) };
        });
        assert!(
            libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS,
            "status {st:#x}"
        );
    }

    #[test]
    fn allowed_syscalls_pass() {
        let st = in_child(ThreadKind::Vcpu, || {
            let mut b = [0u8; 8];
            // SAFETY: getrandom into a stack buffer of the given length.
            unsafe { libc::syscall(libc::SYS_getrandom, b.as_mut_ptr(), 8, 0) };
        });
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "status {st:#x}"
        );
        let st = in_child(ThreadKind::Main, || {
            // SAFETY: a plain syscall.
            unsafe { libc::syscall(libc::SYS_gettid) };
        });
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "status {st:#x}"
        );
    }
}
