//! Bringing a container's recorded state up to date with what really runs: its monitor
//! alive or not, its exit record. Every command that shows or changes a container looks
//! through here first, so a CLI killed at any moment never leaves a state the next one
//! believes wrongly.

use super::state::Status;
use super::Container;
use crate::engine::Engine;
use crate::error::Result;
use strata_monitor::protocol::{call, Request, Status as MonStatus};
use strata_monitor::record::{self, ExitRecord};
use strata_monitor::MonitorPid;

/// What a container's monitor directory says.
pub enum Observed {
    /// The monitor is alive.
    Alive,
    /// The container exited with this record.
    Exited(ExitRecord),
    /// The monitor is gone without an exit record (killed, or the machine rebooted).
    Lost,
    /// The monitor is gone but the container's process still runs (its monitor was killed):
    /// it is running, and its exit will not be recorded.
    Orphaned,
    /// A monitor the record does not know of (a CLI was killed right after starting it):
    /// its pid, the container's pid, and whether the container's process was started.
    Adopted(MonitorPid, i32, bool),
    /// Nothing to observe (not started).
    Idle,
}

/// Whether the container's process is alive (not gone, not a zombie).
fn pid_alive(pid: i32) -> bool {
    pid > 0 && matches!(strata_os::process::process_stat(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// The exit record of a container whose process is gone, waited for while its monitor lives.
fn wait_record(dir: &std::path::Path, m: &MonitorPid) -> Observed {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(2) {
        if let Some(rec) = exit_record(dir) {
            return Observed::Exited(rec);
        }
        if !m.alive() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    exit_record(dir).map_or(Observed::Lost, Observed::Exited)
}

/// Whether the container's process outlived its monitor (the runtime's state says so).
pub fn runtime_alive(e: &Engine, c: &Container) -> bool {
    strata_runtime::state::Root::new(e.paths.runtime_root())
        .load(&c.id)
        .is_ok_and(|s| s.init_alive())
}

fn lost_or_orphaned(e: &Engine, c: &Container) -> Observed {
    if runtime_alive(e, c) {
        Observed::Orphaned
    } else {
        Observed::Lost
    }
}

fn exit_record(dir: &std::path::Path) -> Option<ExitRecord> {
    record::read::<ExitRecord>(dir, record::EXIT).ok().flatten()
}

/// Looks at the monitor of `c`'s current run.
pub fn observe(e: &Engine, c: &Container) -> Observed {
    let dir = e.paths.monitor(&c.id);
    match c.state.status {
        s if s.is_live() => {
            if let Some(rec) = exit_record(&dir) {
                return Observed::Exited(rec);
            }
            match &c.state.monitor {
                // The monitor records an exit within moments of the container's: if its
                // process is gone, wait for the record rather than call it running.
                Some(m) if m.alive() && !pid_alive(c.state.pid) => wait_record(&dir, m),
                Some(m) if m.alive() => Observed::Alive,
                // Alive-check and exit record race: the monitor writes the record before
                // it exits.
                _ => exit_record(&dir).map_or_else(|| lost_or_orphaned(e, c), Observed::Exited),
            }
        }
        Status::Created => {
            // A monitor started for it whose launch the record may not show.
            let mon: Option<MonitorPid> = record::read(&dir, record::PID).ok().flatten();
            match mon {
                Some(m) if m.alive() => {
                    match call(
                        &dir,
                        &Request::State,
                        Some(std::time::Duration::from_secs(5)),
                    ) {
                        Ok(r) if r.exit.is_some() => Observed::Exited(r.exit.expect("checked")),
                        Ok(r) => Observed::Adopted(
                            m,
                            r.pid.unwrap_or(0),
                            r.status == Some(MonStatus::Running),
                        ),
                        Err(_) => exit_record(&dir).map_or(Observed::Idle, Observed::Exited),
                    }
                }
                Some(_) => exit_record(&dir).map_or(Observed::Idle, Observed::Exited),
                None => Observed::Idle,
            }
        }
        _ => Observed::Idle,
    }
}

/// Applies what was observed to `c` (in memory); returns whether its state changed.
pub fn apply(c: &mut Container, o: Observed) -> bool {
    match o {
        Observed::Alive | Observed::Idle => false,
        Observed::Adopted(m, pid, started) => {
            let changed = c.state.monitor.as_ref() != Some(&m) || c.state.pid != pid || started;
            c.state.monitor = Some(m);
            c.state.pid = pid;
            if started {
                c.state.status = Status::Running;
                c.state
                    .started_at
                    .get_or_insert_with(strata_os::clock::rfc3339_now);
            }
            changed
        }
        Observed::Exited(rec) => {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.exit_code = Some(rec.exit_code);
            c.state.oom_killed = rec.oom_killed;
            c.state.finished_at = Some(rec.exited_at);
            if rec.oom_killed {
                c.state.error = Some(oom_cause(c, rec.exit_code));
            }
            true
        }
        Observed::Orphaned => {
            let cause = "its monitor died: it still runs, but its output is no longer logged and its exit will not be recorded [layer: engine]";
            let changed = c.state.monitor.is_some() || c.state.error.as_deref() != Some(cause);
            c.state.monitor = None;
            c.state.error = Some(cause.into());
            changed
        }
        Observed::Lost => {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.exit_code = Some(255);
            c.state.finished_at = Some(strata_os::clock::rfc3339_now());
            c.state.error = Some("its monitor died without recording an exit (killed, or the host restarted) [layer: engine]".into());
            true
        }
    }
}

/// The cause line of an OOM kill.
pub fn oom_cause(c: &Container, code: i32) -> String {
    let limit = c
        .config
        .resources
        .memory
        .map(|m| format!(" (cgroup memory limit {} reached)", human_bytes(m as u64)))
        .unwrap_or_default();
    format!("exited {code}: killed by the kernel's OOM killer{limit} [layer: cgroup]")
}

/// Bytes as docker prints limits (`32 MiB`).
pub fn human_bytes(b: u64) -> String {
    const U: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", U[i])
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Refreshes `c` from its monitor, saving the change and recording its events (`start` for
/// an adopted run, `oom` and `die` for an exit); returns whether it has just ended (and so
/// owes its clean-up, see `start::cleanup`).
pub fn refresh(e: &Engine, c: &mut Container) -> Result<bool> {
    let before = c.state.status;
    let o = observe(e, c);
    if !apply(c, o) {
        return Ok(false);
    }
    let now = c.state.status;
    if now == Status::Exited && before != Status::Exited && c.config.in_vm() {
        if let Some(reason) = crate::vm::exit_reason(e, c) {
            c.state.error = Some(reason);
        }
    }
    if now == Status::Exited && before != Status::Exited {
        // Several processes may see one exit at once (an attached `run` and the monitor's
        // exit command): the one that records it tells its events, once.
        if e.db.save_exit(&c.id, &c.state)? {
            if before == Status::Created && c.state.started_at.is_none() {
                super::stop::record_start_event(e, c);
            }
            super::stop::record_exit_events(e, c);
        }
        return Ok(true);
    }
    e.db.save_state(&c.id, &c.state)?;
    if before == Status::Created && now == Status::Running {
        super::stop::record_start_event(e, c);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(32 << 20), "32 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10), "10 B");
    }
}
