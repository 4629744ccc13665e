//! `rm`: a container and everything made for it, in the reverse order of its making; the row
//! goes last, so a removal cut short is finished by the next `rm`.

use super::state::Status;
use super::{rootfs, start, Container};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use std::time::Duration;
use strata_monitor::protocol::{call, Request};

/// Removes a container (`force`: even a running one, killed first; `volumes`: its anonymous
/// volumes too). Returns what it was.
pub fn remove(e: &Engine, key: &str, force: bool, volumes: bool) -> Result<Container> {
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    let mut c = match e.db.container(&id)? {
        Some(c) => c,
        None => return Err(Error::NotFound(format!("no such container: {key}"))),
    };
    super::status::refresh(e, &mut c)?;
    if c.config.infra && !force {
        if let Some(p) = c.pod.as_deref().and_then(|p| e.db.find_pod(p).ok()) {
            return Err(Error::Conflict(format!(
                "container {} is the infra of pod {}: remove the pod (strata pod rm)",
                c.name, p.name
            )));
        }
    }
    let waiting_monitor = c.state.monitor.as_ref().is_some_and(|m| m.alive());
    if (c.state.status.is_live() || waiting_monitor) && c.state.status != Status::Removing {
        if !force && c.state.status.is_live() {
            return Err(Error::Conflict(format!(
                "container {} is running: stop it first, or remove it with --force",
                c.name
            )));
        }
        let dir = e.paths.monitor(&c.id);
        let _ = call(
            &dir,
            &Request::Kill {
                signal: libc::SIGKILL,
                all: true,
            },
            Some(Duration::from_secs(5)),
        );
        let _ = call(&dir, &Request::Wait, Some(Duration::from_secs(30)));
        super::status::refresh(e, &mut c)?;
        if c.state.status.is_live() {
            // A monitor that does not answer: nothing of this run may stay behind.
            if let Some(m) = c.state.monitor.as_ref().filter(|m| m.alive()) {
                // SAFETY: the monitor recorded for this container (same pid and start time).
                unsafe { libc::kill(m.pid, libc::SIGKILL) };
            }
            c.state.status = Status::Exited;
        }
    }
    c.state.status = Status::Removing;
    e.db.save_state(&c.id, &c.state)?;
    start::cleanup(e, &mut c)?;
    // The runtime's state, if the monitor did not delete it (it was killed).
    let _ = strata_runtime::container::ops::delete(
        &strata_runtime::state::Root::new(e.paths.runtime_root()),
        &c.id,
        true,
    );
    rootfs::unmount(e, &c.id)?;
    let bundle = e.paths.bundle(&c.id);
    if strata_os::mount::is_mountpoint(&e.paths.rootfs(&c.id)) {
        return Err(Error::Runtime(format!(
            "container {}: its root filesystem is still mounted",
            c.name
        )));
    }
    rootfs::remove(e, &c.id)?;
    remove_tree(&bundle)?;
    remove_tree(&e.paths.monitor(&c.id))?;
    e.db.delete_container(&c.id)?;
    if volumes {
        let anonymous = c.config.mounts.iter().filter(|m| {
            m.kind == super::config::MountKind::Volume && m.source.starts_with("anon-")
        });
        for m in anonymous {
            let _ = crate::volume::remove(e, &m.source);
        }
    }
    let _ = e.db.event("container", "remove", &c.id, &c.name, &[]);
    crate::lock::forget(&e.paths, &c.id);
    Ok(c)
}

fn remove_tree(p: &std::path::Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err).ctx(|| format!("remove {}", p.display())),
    }
}
