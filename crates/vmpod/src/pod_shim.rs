//! The shim's two roles in a VM pod (Kata's sandbox): the pod's infra holds the pod's VM,
//! booted with a SCSI controller and no container of its own, until the pod stops; each of
//! the pod's containers has a shim of its own too, which boots nothing: it attaches its image's
//! layers and its block devices to the pod's VM and runs its container there, through the
//! infra shim's proxy, standing for that container's init on the host as a VM container's
//! shim does.

use crate::agent::Agent;
use crate::assets::Assets;
use crate::shim::{follow, wait_signal, Args, Booted, Io, EXIT_REASON};
use crate::{io_err, Error, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a pod's container waits for the pod VM's answers (TCG is slow).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits up to `timeout` for one of `set`'s signals.
fn timed_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: a valid set and timeout; the signals are blocked in every thread.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// The infra of a VM pod: holds the booted VM until a signal ends the pod; 0 for a stop
/// (SIGTERM, SIGINT) once started, as a pause process; 137 with the VM's exit reason
/// recorded when the VM fails under the pod.
pub(crate) fn sandbox(a: &Args, set: &libc::sigset_t, b: Booted) -> Result<i32> {
    let Booted {
        mut vm,
        agent,
        _share,
    } = b;
    let mut started = false;
    loop {
        match timed_signal(set, Duration::from_millis(250)) {
            // The start: the infra has no process of its own in the guest.
            Some(libc::SIGUSR1) => started = true,
            Some(sig) => {
                let _ = agent.shutdown();
                if vm.wait(Duration::from_secs(10)).is_err() {
                    drop(vm);
                }
                let stop = started && (sig == libc::SIGTERM || sig == libc::SIGINT);
                return Ok(if stop { 0 } else { 128 + sig });
            }
            None if vm.has_exited() => {
                let msg = format!(
                    "vm pod {}: {}",
                    a.id,
                    vm.fault("the VM ended under the pod")
                );
                let _ = std::fs::write(a.dir.join(EXIT_REASON), &msg);
                eprintln!("{msg}");
                return Ok(137);
            }
            None => {}
        }
    }
}

/// What a container of a VM pod brings to its pod's VM.
pub(crate) struct Member<'a> {
    /// Its spec.
    pub spec: &'a serde_json::Value,
    /// Its devices (`--device`).
    pub devices: &'a [crate::devices::Device],
    /// Its image's layers.
    pub assets: &'a Assets,
    /// The VM directory of its pod's infra, whose VM it runs in.
    pub sandbox: &'a Path,
}

/// A container of a VM pod, in the VM of the infra whose VM directory is `sandbox`.
pub(crate) fn member(a: &Args, (set, io): (&libc::sigset_t, &Io), c: Member) -> Result<i32> {
    let Member {
        spec,
        devices,
        assets,
        sandbox,
    } = c;
    // Its volumes go into the pod VM's share, in the mounts of the pod VM's shim (joined
    // while this process has one thread).
    let state_file = sandbox.join("vm.state");
    let mut state: serde_json::Value = std::fs::read(&state_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            Error(format!(
                "vm container {}: no VM state in {}",
                a.id,
                state_file.display()
            ))
        })?;
    let shim = state["shimPid"].as_i64().unwrap_or(0) as i32;
    // The pid is the pod VM's shim's only while that shim runs: checked before joining.
    let infra = sandbox
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{shim}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    if infra.is_empty() || !cmdline.contains("strata-vm-shim") || !cmdline.contains(&infra) {
        return Err(Error(format!(
            "vm container {}: its pod's VM ({}) is not running: start the pod",
            a.id,
            sandbox.display()
        )));
    }
    crate::shared::join_mounts_of(shim)
        .map_err(|e| Error(format!("vm container {}: {e}", a.id)))?;
    let (spec, mine) =
        crate::shared::bind_volumes(spec, &a.bundle, &sandbox.join(crate::shared::DIR), &a.id)?;
    let spec = &spec;
    let _release = Release(mine);
    let sock = sandbox.join(crate::proxy::SOCKET);
    let agent = Agent::connect(&sock, ANSWER_TIMEOUT).map_err(|e| {
        Error(format!(
            "vm container {}: its pod's VM ({}) does not answer: {e}",
            a.id,
            sandbox.display()
        ))
    })?;
    let agent = Arc::new(agent);
    let serials = agent
        .attach_layers(&assets.layers)
        .map_err(|e| Error(format!("vm container {}: {e}", a.id)))?;
    // Its block devices are disks of the pod's VM while this connection lasts (this shim's
    // life), and the guest is told where each device is.
    let disks = crate::devices::disks(devices);
    let attached = match disks.is_empty() {
        true => Vec::new(),
        false => agent
            .attach_devices(&disks)
            .map_err(|e| Error(format!("vm container {}: {e}", a.id)))?,
    };
    let spec = &crate::devices::annotate(
        spec.clone(),
        devices,
        &crate::devices::scsi_sources(&attached),
    )
    .map_err(|e| Error(format!("vm container {}: {e}", a.id)))?;
    // Its VM is the pod's: `describe` and `inspect` read the pod VM's state, and its
    // execs take the pod VM's proxy.
    state["podVmDir"] = sandbox.to_string_lossy().into_owned().into();
    let link = a.dir.join(crate::proxy::SOCKET);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&sock, &link).map_err(io_err(format!(
        "vm container {}: {}",
        a.id,
        link.display()
    )))?;
    std::fs::write(a.dir.join("vm.state"), state.to_string())
        .map_err(io_err(format!("vm container {}: vm.state", a.id)))?;
    // Created: the start is SIGUSR1; a signal before it ends the container unstarted.
    let sig = wait_signal(set);
    if sig != libc::SIGUSR1 {
        return Ok(128 + sig);
    }
    let run = io.run(a, &agent, spec, &serials)?;
    let reason = sandbox.join(EXIT_REASON);
    let code = follow(a, (&agent, io), run, |e| {
        // The infra's shim records why the pod's VM ended, after a moment of its own.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(r) = std::fs::read_to_string(&reason) {
                return format!("its pod's VM ended: {}", r.trim());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        format!("its pod's VM went away: {e}")
    });
    Ok(code)
}

/// Releases a container's volumes in the pod VM's share when dropped.
struct Release(std::path::PathBuf);

impl Drop for Release {
    fn drop(&mut self) {
        if let Err(e) = crate::shared::release(&self.0) {
            eprintln!("strata-vm-shim: {e}");
        }
    }
}
