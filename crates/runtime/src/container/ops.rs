//! Commands on an existing container: start, state, kill, delete, pause, resume, update, ps,
//! list, and `run` (create + start + wait + delete).

use super::create::{create, CreateOpts};
use super::forward::{block_forwarded_signals, wait_forwarding_signals};
use crate::cgroups::{Layout, Manager};
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{self, Root, Saved, Status};
use oci_spec::runtime::LinuxResources;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use strata_os::{fd, process};

fn bad(s: &Saved, status: Status, what: &str) -> Error {
    Error::BadState {
        id: s.id.clone(),
        status: status.to_string(),
        what: what.into(),
    }
}

/// `start`: releases a created container's init.
pub fn start(root: &Root, id: &str) -> Result<()> {
    let saved = root.load(id)?;
    let status = saved.status(root);
    if status != Status::Created {
        return Err(bad(
            &saved,
            status,
            "cannot start a container that is not created",
        ));
    }
    let fifo = state::state_file(root, id, state::EXEC_FIFO);
    // The init reads the fifo; with no reader (the init died) opening for writing fails.
    let fd = match fd::open(&fifo, libc::O_WRONLY | libc::O_NONBLOCK, 0) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(Error::Other(format!(
                "container {id}: init exited before start"
            )))
        }
        Err(e) => return Err(Error::io(format!("container {id}: open exec fifo"), e)),
    };
    fd::write_all(fd.as_raw_fd(), b"0").ctx(|| format!("container {id}: write exec fifo"))?;
    if saved.poststart_hooks {
        wait_no_reader(fd.as_raw_fd());
    }
    drop(fd);
    let _ = std::fs::remove_file(&fifo);
    if let Some(spec) = saved
        .poststart_hooks
        .then(|| root.saved_spec(id).ok())
        .flatten()
    {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()) {
            let st = serde_json::to_string(&saved.oci_state(Status::Running)).unwrap_or_default();
            hooks::run_warn("poststart", h, &st);
        }
    }
    Ok(())
}

/// Waits until the exec fifo has no reader: the init keeps its read end, close-on-exec, until
/// it executes the user's process (or dies), so poststart hooks run after that execve.
fn wait_no_reader(fd: libc::c_int) {
    loop {
        // No events asked: poll returns on POLLERR, which a fifo's writer gets without readers.
        let mut p = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, -1) };
        if n > 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// `state`: the OCI state JSON.
pub fn state(root: &Root, id: &str) -> Result<String> {
    let saved = root.load(id)?;
    let st = saved.oci_state(saved.status(root));
    serde_json::to_string_pretty(&st).map_err(|e| Error::Other(e.to_string()))
}

/// `kill`: signals the init, or every process of the container with `all` (always so when the
/// container shares a pid namespace, where the init's death would not end the others).
pub fn kill(root: &Root, id: &str, sig: libc::c_int, all: bool) -> Result<()> {
    let saved = root.load(id)?;
    let status = saved.status(root);
    if status == Status::Stopped {
        return Err(bad(&saved, status, "container not running"));
    }
    if all || !saved.own_pidns {
        for pid in Manager::pids(&saved.cgroup_paths) {
            let _ = process::kill(pid, sig);
        }
        if status == Status::Paused && sig == libc::SIGKILL {
            let _ = Manager::freeze(&saved.cgroup_paths, false);
        }
        return Ok(());
    }
    process::kill(saved.pid, sig)
        .ctx(|| format!("container {id}: signal {sig} to pid {}", saved.pid))
}

/// Waits until `pid` is gone or a zombie (it is not our child), up to `limit`.
fn wait_gone(saved: &Saved, limit: Duration) -> bool {
    let t0 = Instant::now();
    while saved.init_alive() {
        if t0.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// `delete`: removes a stopped (or, with `force`, any) container: kills what is left, runs the
/// poststop hooks, removes the cgroups and the state directory.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    let saved = match root.load(id) {
        Ok(s) => s,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let status = saved.status(root);
    match status {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        _ => {
            return Err(bad(
                &saved,
                status,
                "cannot delete a container that is not stopped (use --force)",
            ))
        }
    }
    if status != Status::Stopped {
        if status == Status::Paused {
            let _ = Manager::freeze(&saved.cgroup_paths, false);
        }
        if saved.own_pidns {
            let _ = process::kill(saved.pid, libc::SIGKILL);
        }
        for pid in Manager::pids(&saved.cgroup_paths) {
            let _ = process::kill(pid, libc::SIGKILL);
        }
        if !wait_gone(&saved, Duration::from_secs(10)) {
            return Err(Error::Other(format!(
                "container {id}: init {} did not die",
                saved.pid
            )));
        }
    } else if !saved.own_pidns {
        for pid in Manager::pids(&saved.cgroup_paths) {
            let _ = process::kill(pid, libc::SIGKILL);
        }
    }
    if let Some(unit) = &saved.systemd_unit {
        if let Some(bus) = crate::cgroups::systemd::bus() {
            if let Err(e) = crate::cgroups::systemd::stop_unit(&bus, unit) {
                crate::logging::warn(&e.to_string());
            }
        }
    }
    Manager::destroy(&saved.cgroup_paths)?;
    if let Some(base) = saved.rootfs_base_mount {
        crate::rootfs::detach_above(&saved.rootfs, base)?;
    }
    if let Some(spec) = saved
        .poststop_hooks
        .then(|| root.saved_spec(id).ok())
        .flatten()
    {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()) {
            let st = serde_json::to_string(&saved.oci_state(Status::Stopped)).unwrap_or_default();
            hooks::run_warn("poststop", h, &st);
        }
    }
    root.remove(id)
}

/// `pause` / `resume`.
pub fn pause(root: &Root, id: &str, on: bool) -> Result<()> {
    let saved = root.load(id)?;
    let status = saved.status(root);
    match (on, status) {
        (true, Status::Running) | (false, Status::Paused) => {
            Manager::freeze(&saved.cgroup_paths, on)
        }
        (true, _) => Err(bad(
            &saved,
            status,
            "cannot pause a container that is not running",
        )),
        (false, _) => Err(bad(
            &saved,
            status,
            "cannot resume a container that is not paused",
        )),
    }
}

/// `update`: applies new resources live.
pub fn update(root: &Root, id: &str, res: &LinuxResources) -> Result<()> {
    let saved = root.load(id)?;
    let status = saved.status(root);
    if status == Status::Stopped {
        return Err(bad(&saved, status, "cannot update a stopped container"));
    }
    let mut res = res.clone();
    crate::spec::allow_spec_devices(&mut res, &root.saved_spec(id)?);
    let mgr = Manager {
        dirs: saved.cgroup_paths.clone(),
    };
    mgr.apply(&Layout::detect(), &res, false)
}

/// `ps`: the pids in the container.
pub fn pids(root: &Root, id: &str) -> Result<Vec<libc::pid_t>> {
    let saved = root.load(id)?;
    Ok(Manager::pids(&saved.cgroup_paths))
}

/// `list`: every container with its state.
pub fn list(root: &Root) -> Result<Vec<state::OciState>> {
    let mut v = Vec::new();
    for id in root.ids()? {
        if let Ok(s) = root.load(&id) {
            v.push(s.oci_state(s.status(root)));
        }
    }
    Ok(v)
}

/// `run`: create, start, and unless detached wait for the init and delete the container.
/// Returns the exit code.
pub fn run(root: &Root, o: &CreateOpts, detach: bool, keep: bool) -> Result<i32> {
    // Block forwarded signals before the init exists so none is lost; the init unblocks them.
    block_forwarded_signals();
    let c = create(root, o)?;
    if let Err(e) = start(root, &o.id) {
        let _ = delete(root, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = wait_forwarding_signals(c.pid);
    if Manager::oom_kills(&c.saved.cgroup_paths) > 0 {
        crate::logging::warn(&format!(
            "container {}: killed by the OOM killer (memory limit reached)",
            o.id
        ));
    }
    if !keep {
        delete(root, &o.id, true)?;
    }
    Ok(code)
}
