//! Starting a monitor: what the engine (or any caller) runs to create a container. The
//! monitor detaches at once (the process started here exits, the monitor carries on in a new
//! session) and reports on a sync pipe when the container is created, or started with
//! `start`, or why it could not be.

use crate::record::MonitorPid;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The descriptor number the sync pipe has in the monitor.
pub const SYNC_FD: i32 = 3;
/// The descriptor number a caller's lock has in the monitor.
pub const LOCK_FD: i32 = 4;

/// What a monitor is asked to do.
#[derive(Clone, Debug, Default)]
pub struct LaunchOptions {
    /// The strata-monitor binary.
    pub monitor: PathBuf,
    /// The container id (the runtime's).
    pub id: String,
    /// Its OCI bundle.
    pub bundle: PathBuf,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    /// The monitor's state directory (socket, records; must exist).
    pub dir: PathBuf,
    /// The container's log (CRI format); none discards the output.
    pub log: Option<PathBuf>,
    /// Rotate the log past this size (0: never).
    pub log_max_size: u64,
    /// Rotated files kept.
    pub log_max_files: u32,
    /// Keep the container's stdin open (a pipe the monitor holds) instead of /dev/null.
    pub stdin: bool,
    /// Give the container a pty (the OCI config must say `terminal: true`).
    pub terminal: bool,
    /// Start the container's process right after creating it.
    pub start: bool,
    /// The runtime's `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// A VM container: this shim (strata-vm-shim) stands for its init instead of the runtime.
    pub vm_shim: Option<PathBuf>,
    /// Run this command (argv) after the container exited and its exit was recorded.
    pub exit_command: Vec<OsString>,
    /// A lock (an flock'ed descriptor) the monitor holds with its caller until it has
    /// reported, so the caller's death does not release it half-way.
    pub lock_fd: Option<i32>,
}

/// The monitor's report on its sync pipe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMessage {
    /// The container's init pid (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The monitor (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorPid>,
    /// Why the container could not be created or started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A container created by its monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// The container's init pid.
    pub pid: i32,
    /// Its monitor.
    pub monitor: MonitorPid,
}

impl LaunchOptions {
    /// The monitor's command line.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut kv = |k: &str, v: OsString| {
            a.push(k.into());
            a.push(v);
        };
        kv("--id", self.id.clone().into());
        kv("--bundle", self.bundle.clone().into());
        kv("--runtime-root", self.runtime_root.clone().into());
        kv("--dir", self.dir.clone().into());
        kv("--sync-fd", SYNC_FD.to_string().into());
        if self.lock_fd.is_some() {
            kv("--lock-fd", LOCK_FD.to_string().into());
        }
        if let Some(shim) = &self.vm_shim {
            kv("--vm-shim", shim.clone().into());
        }
        if let Some(l) = &self.log {
            kv("--log", l.clone().into());
            kv("--log-max-size", self.log_max_size.to_string().into());
            kv("--log-max-files", self.log_max_files.to_string().into());
        }
        for (on, flag) in [
            (self.stdin, "--stdin"),
            (self.terminal, "--terminal"),
            (self.start, "--start"),
            (self.systemd_cgroup, "--systemd-cgroup"),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        if !self.exit_command.is_empty() {
            a.push("--".into());
            a.extend(self.exit_command.iter().cloned());
        }
        a
    }
}

/// Starts a monitor for `o` and waits until it reports: the container's pid and the
/// monitor's, or the monitor's one-line error.
pub fn launch(o: &LaunchOptions) -> io::Result<Launched> {
    let (r, w) = strata_os::fd::pipe()?;
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new(&o.monitor);
    cmd.args(o.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let lock = o.lock_fd;
    // SAFETY: the closure runs in the forked child before exec and only calls dup3/fcntl
    // (through dup_onto), which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            strata_os::fd::dup_onto(wfd, SYNC_FD)?;
            match lock {
                Some(l) => strata_os::fd::dup_onto(l, LOCK_FD),
                None => Ok(()),
            }
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("start {}: {e}", o.monitor.display())))?;
    drop(w);
    let mut answer = Vec::new();
    let read = std::fs::File::from(r).read_to_end(&mut answer);
    let _ = child.wait();
    read?;
    let msg: SyncMessage = serde_json::from_slice(&answer).map_err(|_| {
        io::Error::other(format!(
            "monitor for {} exited without reporting (see {})",
            o.id,
            o.dir.join(crate::record::MONITOR_LOG).display()
        ))
    })?;
    match (msg.pid, msg.monitor, msg.error) {
        (_, _, Some(e)) => Err(io::Error::other(e)),
        (Some(pid), Some(monitor), None) => Ok(Launched { pid, monitor }),
        _ => Err(io::Error::other("monitor sent an incomplete report")),
    }
}
