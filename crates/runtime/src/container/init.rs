//! The container's init: the forked child of `create`. It finishes the namespaces, builds the
//! root filesystem, prepares the process, reports ready, waits on the exec fifo for `start`,
//! and executes the user program. It never returns.

use crate::cgroups::CgroupDir;
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::namespaces::Plan;
use crate::process;
use crate::rootfs;
use crate::spec::Bundle;
use crate::sync::{Channel, Tag};
use oci_spec::runtime::{LinuxNamespaceType as T, LinuxPersonalityDomain};
use std::os::fd::{AsRawFd, RawFd};
use strata_os::cvt::cstr;
use strata_os::{cvt, fd, process as os_process};

/// What the init inherits from `create`.
pub struct Args<'a> {
    /// The bundle.
    pub bundle: &'a Bundle,
    /// Namespace plan.
    pub plan: &'a Plan,
    /// Channel to the parent.
    pub channel: Channel,
    /// O_PATH fd of the exec fifo.
    pub fifo_fd: RawFd,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// The container's cgroups (for the cgroup mount).
    pub cgroups: &'a [CgroupDir],
    /// Whether the init joins the v1 ones itself (the parent does otherwise).
    pub join_v1_cgroups: bool,
    /// User namespaces of idmapped mounts, index-aligned with the spec's mounts.
    pub idmaps: &'a [Option<std::os::fd::OwnedFd>],
}

/// Runs the init; exits the process on failure after reporting the error to the parent.
pub fn run(a: Args) -> ! {
    let e = match body(&a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = a.channel.send(Tag::Error, e.to_string().as_bytes());
    // SAFETY: _exit never returns and runs no destructors (this is a forked child).
    unsafe { libc::_exit(1) }
}

enum Never {}

fn body(a: &Args) -> Result<Never> {
    // Signals blocked by the parent (run) must not stay blocked in the container, nor SIGPIPE
    // ignored.
    process::reset_signals()?;
    let spec = &a.bundle.spec;
    let ch = &a.channel;
    let state_json = match ch.recv().ctx(|| "wait for parent".into())? {
        Some((Tag::Go, p)) => String::from_utf8_lossy(&p).into_owned(),
        _ => return Err(Error::Other("parent went away".into())),
    };
    if a.join_v1_cgroups {
        // Before any namespace is joined: the cgroup paths are the host's.
        crate::cgroups::Manager::join_v1_self(a.cgroups)?;
    }
    let userns = a.plan.creates(T::User);
    if userns {
        // SAFETY: plain syscalls; we are root in our new user namespace once the maps exist.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    a.plan.join_all(true)?;
    if a.plan.unshare_flags & libc::CLONE_NEWTIME != 0 {
        os_process::unshare(libc::CLONE_NEWTIME).ctx(|| "unshare time namespace".into())?;
    }
    for (clock, secs, ns) in &a.bundle.extras.time_offsets {
        fd::write_file("/proc/self/timens_offsets", &format!("{clock} {secs} {ns}"))
            .ctx(|| format!("time offset {clock}"))?;
    }
    if !a.no_new_keyring {
        join_session_keyring(&a.bundle.dir);
    }
    if a.plan.has(T::Uts) {
        if let Some(h) = spec.hostname().as_deref() {
            // SAFETY: pointer and length describe `h`.
            cvt(unsafe { libc::sethostname(h.as_ptr() as *const libc::c_char, h.len()) })
                .ctx(|| format!("sethostname {h:?}"))?;
        }
        if let Some(d) = spec.domainname().as_deref() {
            // SAFETY: pointer and length describe `d`.
            cvt(unsafe { libc::setdomainname(d.as_ptr() as *const libc::c_char, d.len()) })
                .ctx(|| format!("setdomainname {d:?}"))?;
        }
    }
    // Our own fd directory on the host's procfs, to open the fifo after pivot_root.
    let proc_fd = fd::open("/proc/self/fd", libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .ctx(|| "open /proc/self/fd".into())?;
    let rootfs = a.bundle.rootfs.as_path();
    // On a pure v2 host with a cgroup namespace, the cgroup2 mount needs the namespace (and so
    // the cgroup) first; elsewhere the rootfs is built while the parent moves us.
    let pure_v2 = a.cgroups.len() == 1 && a.cgroups[0].hierarchy.is_empty();
    let mut in_cgroup = false;
    if pure_v2 && a.plan.creates(T::Cgroup) {
        wait_in_cgroup(ch, a.plan)?;
        in_cgroup = true;
    }
    let _root_fd = rootfs::prepare(
        spec,
        &rootfs::Setup {
            rootfs,
            cgroups: a.cgroups,
            cgroupns: a.plan.has(T::Cgroup),
            netns: a.plan.has(T::Network),
            userns: a.plan.has(T::User),
            idmaps: &a
                .idmaps
                .iter()
                .map(|f| f.as_ref().map(|f| f.as_raw_fd()))
                .collect::<Vec<_>>(),
            mntns: a.plan.has(T::Mount),
        },
    )?;
    if !in_cgroup {
        wait_in_cgroup(ch, a.plan)?;
    }
    let hooks = spec.hooks().as_ref();
    let has = |v: Option<&Vec<oci_spec::runtime::Hook>>| v.is_some_and(|v| !v.is_empty());
    if hooks.is_some_and(|h| has(h.prestart().as_ref()) || has(h.create_runtime().as_ref())) {
        ch.send(Tag::Hooks, b"").ctx(|| "request hooks".into())?;
        match ch.recv().ctx(|| "wait for hooks".into())? {
            Some((Tag::Go, _)) => {}
            _ => return Err(Error::Other("parent went away during hooks".into())),
        }
    }
    if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
        hooks::run("createContainer", h, &state_json)?;
    }
    if !a.plan.has(T::Mount) {
        rootfs::pivot::chroot(rootfs)?;
    } else if a.no_pivot {
        rootfs::pivot::move_root(rootfs)?;
    } else {
        rootfs::pivot::pivot_root(rootfs)?;
    }
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        process::sysctl::apply(s)?;
    }
    rootfs::finish(spec)?;
    let proc_ = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process is missing".into()))?;
    if proc_.terminal().unwrap_or(false) {
        let (master, slave) = process::console::open_pty()?;
        if let Some(sz) = proc_.console_size() {
            process::console::set_size(master.as_raw_fd(), sz.height() as u16, sz.width() as u16);
        }
        ch.send_fd("console", master.as_raw_fd())
            .ctx(|| "send console".into())?;
        drop(master);
        process::console::become_tty(&slave, true)?;
    }
    // The exec fifo is opened for reading now, while we are still root: once the user is
    // switched the process is not dumpable and could not reopen it through /proc.
    let fifo = fd::openat(
        proc_fd.as_raw_fd(),
        a.fifo_fd.to_string(),
        libc::O_RDONLY | libc::O_NONBLOCK,
        0,
    )
    .ctx(|| "open exec fifo".into())?;
    drop(proc_fd);
    let linux = spec.linux().as_ref();
    let personality32 = linux
        .and_then(|l| l.personality().as_ref())
        .is_some_and(|p| p.domain() == LinuxPersonalityDomain::PerLinux32);
    let plan = process::prepare(&process::Ctx {
        process: proc_,
        seccomp: linux.and_then(|l| l.seccomp().as_ref()),
        setgroups: process::setgroups_allowed(),
        preserve_fds: a.preserve_fds,
        channel: Some(ch),
        personality32,
    })?;
    ch.send(Tag::Ready, b"").ctx(|| "report ready".into())?;
    // Block until `start` writes to the fifo. A fifo whose writer never came is not "hung up",
    // so poll waits for the first writer's byte.
    wait_for_start(fifo.as_raw_fd())?;
    // The fifo stays open, close-on-exec, until the execve: `start` waits for that before
    // its poststart hooks.
    if let Some(h) = hooks.and_then(|h| h.start_container().as_ref()) {
        hooks::run("startContainer", h, &state_json)?;
    }
    let e = process::exec(plan);
    // The parent is gone once start returned: say it on the container's stderr.
    let msg = format!("strata-runc: {e}\n");
    let _ = fd::write_all(2, msg.as_bytes());
    // SAFETY: _exit in the forked child.
    unsafe { libc::_exit(127) }
}

/// Waits for the parent's word that we are in our cgroups, then unshares the cgroup namespace
/// if the spec asks for a new one (its root is the cgroup we are in).
fn wait_in_cgroup(ch: &Channel, plan: &Plan) -> Result<()> {
    match ch.recv().ctx(|| "wait for cgroups".into())? {
        Some((Tag::Go, _)) => {}
        _ => return Err(Error::Other("parent went away".into())),
    }
    if plan.unshare_flags & libc::CLONE_NEWCGROUP != 0 {
        os_process::unshare(libc::CLONE_NEWCGROUP).ctx(|| "unshare cgroup namespace".into())?;
    }
    Ok(())
}

fn wait_for_start(fd: RawFd) -> Result<()> {
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("wait on exec fifo", e));
        }
        if p.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            if fd::read(fd, &mut b).ctx(|| "read exec fifo".into())? == 1 {
                return Ok(());
            }
        }
        if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return Err(Error::Other("exec fifo closed without a start".into()));
        }
    }
}

/// A fresh session keyring per container, so containers do not share the host's (runc does the
/// same unless --no-new-keyring). Failure is not fatal: some hosts forbid keyctl.
fn join_session_keyring(bundle: &std::path::Path) {
    let name = format!(
        "_ses.{}",
        bundle
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    );
    let Ok(c) = cstr(&name) else { return };
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING (1) with a valid C string.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, 1, c.as_ptr()) };
    if r < 0 {
        crate::logging::debug("session keyring not created");
    }
}
