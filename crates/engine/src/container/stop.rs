//! Ending containers: `kill`, `stop` (the stop signal, then SIGKILL after the timeout),
//! `wait`, and what the monitor's exit command does once a container has exited (its
//! clean-up, its restart policy, `--rm`).

use super::config::RestartPolicy;
use super::state::Status;
use super::{start, status, Container};
use crate::engine::Engine;
use crate::error::{Error, Result};
use std::time::Duration;
use strata_monitor::protocol::{call, Request};

/// Parses a signal name or number (`TERM`, `SIGTERM`, `15`).
pub fn parse_signal(s: &str) -> Result<i32> {
    strata_runtime::container::signals::parse(s).map_err(|_| {
        Error::Invalid(format!(
            "invalid signal {s:?}: use a name like SIGTERM or a number"
        ))
    })
}

/// The container's stop signal: `--stop-signal`, else the image's, else SIGTERM.
pub fn stop_signal(e: &Engine, c: &Container) -> i32 {
    let from_image = || {
        start::image_config(e, c)
            .ok()
            .map(|i| i.stop_signal)
            .filter(|s| !s.is_empty())
    };
    c.config
        .stop_signal
        .clone()
        .or_else(from_image)
        .and_then(|s| parse_signal(&s).ok())
        .unwrap_or(libc::SIGTERM)
}

/// Loads a container by name or id and brings it up to date.
pub fn load(e: &Engine, key: &str) -> Result<Container> {
    let mut c = e.db.find_container(key)?;
    status::refresh(e, &mut c)?;
    Ok(c)
}

/// The `start` event of a container.
pub fn record_start_event(e: &Engine, c: &Container) {
    let _ = e.db.event(
        "container",
        "start",
        &c.id,
        &c.name,
        &[("image", c.config.image.clone())],
    );
}

/// The `die` (and `oom`) events of a container that was just seen to have exited.
pub fn record_exit_events(e: &Engine, c: &Container) {
    if c.state.oom_killed {
        let _ = e.db.event("container", "oom", &c.id, &c.name, &[]);
    }
    let code = c.state.exit_code.unwrap_or(255).to_string();
    let _ = e.db.event(
        "container",
        "die",
        &c.id,
        &c.name,
        &[("exitCode", code), ("image", c.config.image.clone())],
    );
}

/// Signals a running container through its monitor, or through the runtime when its
/// monitor is gone (an orphaned container).
pub fn signal(e: &Engine, c: &Container, sig: i32, all: bool) -> Result<()> {
    if c.state.monitor.is_none() {
        let root = strata_runtime::state::Root::new(e.paths.runtime_root());
        return strata_runtime::container::ops::kill(&root, &c.id, sig, all)
            .map_err(|err| Error::Runtime(format!("container {}: {err}", c.name)));
    }
    let r = call(
        &e.paths.monitor(&c.id),
        &Request::Kill { signal: sig, all },
        Some(Duration::from_secs(10)),
    )
    .map_err(|err| Error::Runtime(format!("container {}: monitor: {err}", c.name)))?;
    if !r.ok {
        return Err(Error::Runtime(format!(
            "container {}: {}",
            c.name,
            r.error.unwrap_or_default()
        )));
    }
    Ok(())
}

/// Waits up to `limit` for an orphaned container's process to end.
fn wait_orphan(e: &Engine, c: &Container, limit: Duration) -> bool {
    let t0 = std::time::Instant::now();
    while status::runtime_alive(e, c) {
        if t0.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Sends `sig` to a running container (`all`: to each of its processes).
pub fn kill(e: &Engine, key: &str, sig: i32, all: bool) -> Result<Container> {
    let c = load(e, key)?;
    if !c.state.status.is_live() {
        return Err(Error::Conflict(format!(
            "container {} is not running",
            c.name
        )));
    }
    signal(e, &c, sig, all)?;
    let _ = e.db.event(
        "container",
        "kill",
        &c.id,
        &c.name,
        &[("signal", sig.to_string())],
    );
    Ok(c)
}

/// Waits up to `limit` (forever if none) for a running container to exit; its exit code.
pub fn wait_exit(e: &Engine, c: &Container, limit: Option<Duration>) -> Result<Option<i32>> {
    if !c.state.status.is_live() {
        return Ok(c.state.exit_code);
    }
    if c.state.monitor.is_none() {
        if !wait_orphan(e, c, limit.unwrap_or(Duration::MAX)) {
            return Ok(None);
        }
        let mut c = c.clone();
        status::refresh(e, &mut c)?;
        return Ok(c.state.exit_code);
    }
    match call(&e.paths.monitor(&c.id), &Request::Wait, limit) {
        Ok(r) => Ok(r.exit.map(|x| x.exit_code)),
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        // The monitor is gone (it exited just now): its record tells.
        Err(_) => {
            let mut c = c.clone();
            status::refresh(e, &mut c)?;
            Ok(c.state.exit_code)
        }
    }
}

/// `stop`: the stop signal, then SIGKILL after `timeout` seconds (default: the container's
/// `--stop-timeout`, else 10); then its clean-up. Stopping a stopped container is a no-op.
pub fn stop(e: &Engine, key: &str, timeout: Option<u32>) -> Result<Container> {
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    let mut c = load(e, &id)?;
    if c.state.status.is_live() {
        c.state.stopped_by_user = true;
        e.db.save_state(&c.id, &c.state)?;
        let t = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let sig = stop_signal(e, &c);
        if t > 0 {
            let _ = signal(e, &c, sig, false);
        }
        if t == 0 || wait_exit(e, &c, Some(Duration::from_secs(t as u64)))?.is_none() {
            let _ = signal(e, &c, libc::SIGKILL, true);
            wait_exit(e, &c, Some(Duration::from_secs(30)))?;
        }
        status::refresh(e, &mut c)?;
        let _ = e.db.event("container", "stop", &c.id, &c.name, &[]);
    }
    start::cleanup(e, &mut c)?;
    Ok(c)
}

/// Whether the restart policy restarts a container that exited with `code`.
pub fn should_restart(c: &Container) -> bool {
    let code = c.state.exit_code.unwrap_or(0);
    match &c.config.restart {
        RestartPolicy::No => false,
        RestartPolicy::Always => !c.state.stopped_by_user,
        RestartPolicy::UnlessStopped => !c.state.stopped_by_user,
        RestartPolicy::OnFailure(max) => code != 0 && (*max == 0 || c.state.restart_count < *max),
    }
}

/// Delay before the n-th restart: docker's, doubling from 100 ms, at most a minute.
pub fn restart_delay(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(10)).min(60_000))
}

/// The monitor's exit command: once a container exited, records it, gives back its
/// network and root filesystem, then restarts it (its policy) or removes it (`--rm`).
pub fn after_exit(e: &Engine, id: &str) -> Result<()> {
    let _l = crate::lock::lock(&e.paths, id)?;
    let Some(mut c) = e.db.container(id)? else {
        return Ok(()); // already removed (`run --rm` did it)
    };
    status::refresh(e, &mut c)?;
    if c.state.status != Status::Exited {
        return Ok(()); // restarted meanwhile, or not ours to clean
    }
    start::cleanup(e, &mut c)?;
    if c.config.auto_remove {
        drop(_l);
        return super::remove::remove(e, id, true, true).map(drop);
    }
    if should_restart(&c) {
        let delay = restart_delay(c.state.restart_count);
        c.state.status = Status::Restarting;
        e.db.save_state(&c.id, &c.state)?;
        std::thread::sleep(delay);
        c.state.status = Status::Exited;
        c.state.restart_count += 1;
        e.db.save_state(&c.id, &c.state)?;
        let _ = e.db.event("container", "restart", &c.id, &c.name, &[]);
        start::start_locked(e, &mut c, true)?;
    }
    Ok(())
}
