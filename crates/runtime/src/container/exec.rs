//! `exec`: a new process inside a running container's namespaces and cgroups.

use crate::cgroups::manager::clone_into_v2;
use crate::cgroups::Manager;
use crate::error::{Context, Error, Result};
use crate::namespaces::{self, flag};
use crate::process;
use crate::rootfs::pivot;
use crate::spec;
use crate::state::{Root, Status};
use crate::sync::{Channel, Tag};
use oci_spec::runtime::{LinuxNamespaceType as T, Process, Spec};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use strata_os::{fd, process as os_process};

/// Options of `exec`.
#[derive(Debug, Default)]
pub struct ExecOpts {
    /// Container id.
    pub id: String,
    /// The process (from --process or built from the command line).
    pub process: Process,
    /// Return once the process runs, instead of waiting for it.
    pub detach: bool,
    /// Socket receiving the pty master when the process has a terminal.
    pub console_socket: Option<PathBuf>,
    /// Where to write the process's pid.
    pub pid_file: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// Allow exec into a paused container.
    pub ignore_paused: bool,
}

/// The exit status docker gives an exec the runtime could not run, from the runtime's
/// error: 127 for a program not found, 126 for one that cannot be executed, else 125.
pub fn failure_status(runtime_error: &str) -> i32 {
    let lower = runtime_error.to_ascii_lowercase();
    if lower.contains("no such file") || lower.contains("not found") {
        127
    } else if lower.contains("permission denied") || lower.contains("exec format") {
        126
    } else {
        125
    }
}

/// Runs the process; returns its exit code (or 0 once started with `detach`).
pub fn exec(root: &Root, o: &ExecOpts) -> Result<i32> {
    let saved = root.load(&o.id)?;
    let status = saved.status(root);
    match status {
        Status::Running | Status::Created => {}
        Status::Paused if o.ignore_paused => {}
        _ => {
            return Err(Error::BadState {
                id: o.id.clone(),
                status: status.to_string(),
                what: "cannot exec".into(),
            })
        }
    }
    let spec = root.saved_spec(&o.id)?;
    let terminal = o.process.terminal().unwrap_or(false);
    if terminal && o.console_socket.is_none() {
        return Err(Error::Spec(
            "exec with a terminal needs --console-socket".into(),
        ));
    }
    let types: Vec<T> = spec::namespaces(&spec).iter().map(|(t, _)| *t).collect();
    let joins = namespaces::open_of_pid(saved.pid, &types)?;
    // Without a mount namespace of its own the container's root is the init's chroot.
    let chroot = if types.contains(&T::Mount) {
        None
    } else {
        let r = format!("/proc/{}/root", saved.pid);
        Some(fd::open(&r, libc::O_RDONLY | libc::O_DIRECTORY, 0).ctx(|| r.clone())?)
    };
    for j in joins.iter().filter(|j| j.typ == T::Pid) {
        os_process::setns(j.fd.as_raw_fd(), libc::CLONE_NEWPID)
            .ctx(|| "join pid namespace".into())?;
    }
    let (psock, csock) = fd::socketpair().ctx(|| "sync socketpair".into())?;
    // SAFETY: the runtime is single-threaded; the child execs the process or exits.
    let (pid, in_v2) =
        unsafe { clone_into_v2(0, &saved.cgroup_paths) }.ctx(|| "fork exec process".into())?;
    if pid == 0 {
        drop(psock);
        let ch = Channel::new(csock);
        let e = match child(&ch, &joins, chroot.as_ref(), &spec, o, &saved.cgroup_paths) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let _ = ch.send(Tag::Error, e.to_string().as_bytes());
        // SAFETY: _exit in the forked child.
        unsafe { libc::_exit(126) }
    }
    drop(csock);
    let ch = Channel::new(psock);
    let r = (|| {
        let mgr = Manager {
            dirs: saved.cgroup_paths.clone(),
        };
        // The v1 cgroups the process joins itself (faster: see Manager::join_v1_self).
        mgr.add(pid, false, !in_v2)?;
        ch.send(Tag::Go, b"")
            .ctx(|| "sync with exec process".into())?;
        loop {
            match ch.recv().ctx(|| "read from exec process".into())? {
                None => return Ok(()),
                Some((Tag::Fd, label)) => {
                    let fd = ch.recv_fd().ctx(|| "receive fd from exec process".into())?;
                    // A seccomp listener fd of an exec'd process is closed: the container's
                    // agent holds the init's.
                    if label == b"console" {
                        let sock = o.console_socket.as_deref().unwrap_or(Path::new(""));
                        process::console::send_to_socket(sock, &fd)?;
                    }
                }
                Some((Tag::Error, m)) => {
                    return Err(Error::Other(String::from_utf8_lossy(&m).into_owned()))
                }
                Some(_) => return Err(Error::Other("unexpected message from exec process".into())),
            }
        }
    })();
    if let Err(e) = r {
        let _ = os_process::kill(pid, libc::SIGKILL);
        let _ = os_process::waitpid(pid, 0);
        return Err(e);
    }
    if let Some(p) = &o.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    Ok(super::forward::wait_forwarding_signals(pid))
}

enum Never {}

fn child(
    ch: &Channel,
    joins: &[namespaces::Join],
    chroot: Option<&std::os::fd::OwnedFd>,
    spec: &Spec,
    o: &ExecOpts,
    cgroups: &[crate::cgroups::CgroupDir],
) -> Result<Never> {
    match ch.recv().ctx(|| "wait for parent".into())? {
        Some((Tag::Go, _)) => {}
        _ => return Err(Error::Other("parent went away".into())),
    }
    // Still in the host's namespaces, where the cgroup paths are.
    Manager::join_v1_self(cgroups)?;
    process::reset_signals()?;
    for j in joins.iter().filter(|j| j.typ != T::Pid) {
        os_process::setns(j.fd.as_raw_fd(), flag(j.typ))
            .ctx(|| format!("join {} namespace", namespaces::proc_name(j.typ)))?;
        if j.typ == T::User {
            // SAFETY: plain syscalls; root in the joined user namespace.
            unsafe {
                libc::setresgid(0, 0, 0);
                libc::setresuid(0, 0, 0);
            }
        }
    }
    if let Some(r) = chroot {
        pivot::chroot_fd(r.as_raw_fd())?;
    }
    pivot::chdir_root()?;
    if o.process.terminal().unwrap_or(false) {
        let (master, slave) = process::console::open_pty()?;
        if let Some(sz) = o.process.console_size() {
            process::console::set_size(master.as_raw_fd(), sz.height() as u16, sz.width() as u16);
        }
        ch.send_fd("console", master.as_raw_fd())
            .ctx(|| "send console".into())?;
        drop(master);
        process::console::become_tty(&slave, false)?;
    }
    let linux = spec.linux().as_ref();
    let plan = process::prepare(&process::Ctx {
        process: &o.process,
        seccomp: linux.and_then(|l| l.seccomp().as_ref()),
        setgroups: process::setgroups_allowed(),
        preserve_fds: o.preserve_fds,
        channel: Some(ch),
        personality32: false,
    })?;
    // The channel is close-on-exec: the parent sees end-of-file once exec succeeded.
    Err(process::exec(plan))
}
