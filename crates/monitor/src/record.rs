//! The files a monitor leaves in its state directory, written atomically (a temporary file
//! renamed into place) so a reader sees either nothing or a whole record.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

/// The control socket's file name.
pub const SOCKET: &str = "monitor.sock";
/// The monitor's pid record.
pub const PID: &str = "monitor.pid";
/// The container's exit record.
pub const EXIT: &str = "exit.json";
/// The monitor's own diagnostics.
pub const MONITOR_LOG: &str = "monitor.log";
/// The runtime's log (runc-style JSON lines).
pub const RUNTIME_LOG: &str = "runtime.log";
/// Where a terminal container's pty master arrives.
pub const CONSOLE_SOCKET: &str = "console.sock";

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// Shell-style exit code: the process's status, or 128+signal if a signal killed it.
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// When the monitor reaped it (RFC 3339, UTC).
    pub exited_at: String,
    /// Whether the kernel's OOM killer killed a process of its cgroup.
    #[serde(default)]
    pub oom_killed: bool,
    /// The container's init pid (an exec session's: the session's id).
    pub pid: i32,
    /// Why an exec's command did not run (the runtime's error); its exit code is then 125,
    /// 126 or 127 as docker gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExitRecord {
    /// The record of process `pid`, reaped now with wait status `st`.
    pub fn reaped(pid: i32, st: libc::c_int) -> Self {
        ExitRecord {
            exit_code: strata_os::process::exit_code(st),
            signal: libc::WIFSIGNALED(st).then(|| libc::WTERMSIG(st)),
            exited_at: strata_os::clock::rfc3339_now(),
            oom_killed: false,
            pid,
            error: None,
        }
    }
}

/// Which process monitors a container: its pid and its start time (field 22 of
/// /proc/PID/stat), so a reused pid is never mistaken for the monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorPid {
    /// The monitor's pid.
    pub pid: i32,
    /// Its start time in clock ticks since boot.
    pub start: u64,
}

impl MonitorPid {
    /// Whether this monitor still runs.
    pub fn alive(&self) -> bool {
        strata_os::process::is_alive(self.pid, self.start)
    }
}

/// Writes `value` as JSON to `dir/name` atomically.
pub fn write<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Reads the JSON record `dir/name`; `Ok(None)` if it does not exist.
pub fn read<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_absent_is_none() {
        let t = tempfile::tempdir().unwrap();
        let r = ExitRecord {
            exit_code: 137,
            signal: Some(9),
            exited_at: "2026-12-05T16:30:06.000000000Z".into(),
            oom_killed: true,
            pid: 42,
            error: None,
        };
        write(t.path(), EXIT, &r).unwrap();
        assert_eq!(read::<ExitRecord>(t.path(), EXIT).unwrap(), Some(r));
        assert_eq!(read::<MonitorPid>(t.path(), PID).unwrap(), None);
        assert!(!t.path().join(".exit.json.tmp").exists());
    }
}
