//! Smaller commands on a container: `pause`/`unpause` (the cgroup freezer, through the
//! runtime library), `rename`, and resource updates (the runtime's `update`).

use super::state::Status;
use super::{stop, Container};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids;

/// Freezes (`on`) or thaws a container.
pub fn pause(e: &Engine, key: &str, on: bool) -> Result<Container> {
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    let mut c = stop::load(e, &id)?;
    match (on, c.state.status) {
        (true, Status::Running) | (false, Status::Paused) => {}
        (true, _) => {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name
            )))
        }
        (false, _) => {
            return Err(Error::Conflict(format!(
                "container {} is not paused",
                c.name
            )))
        }
    }
    let root = strata_runtime::state::Root::new(e.paths.runtime_root());
    strata_runtime::container::ops::pause(&root, &c.id, on)
        .map_err(|err| Error::Runtime(format!("container {}: {err} [layer: cgroup]", c.name)))?;
    c.state.status = if on { Status::Paused } else { Status::Running };
    e.db.save_state(&c.id, &c.state)?;
    let _ = e.db.event(
        "container",
        if on { "pause" } else { "unpause" },
        &c.id,
        &c.name,
        &[],
    );
    Ok(c)
}

/// Renames a container.
pub fn rename(e: &Engine, key: &str, new: &str) -> Result<Container> {
    ids::check_name("container", new)?;
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    e.db.rename_container(&id, new)?;
    let c = stop::load(e, &id)?;
    // Its peers on its network find it by its new name.
    if c.state.status.is_live() {
        crate::network::hosts::announce(e, &c)?;
    }
    let _ = e.db.event("container", "rename", &c.id, &c.name, &[]);
    Ok(c)
}

/// Changes a container's resource limits (the CRI's UpdateContainerResources): applied to
/// its cgroups through the runtime's `update` if it runs, and recorded for its next starts.
pub fn update_resources(
    e: &Engine,
    c: &mut Container,
    res: super::config::Resources,
) -> Result<()> {
    if c.state.status.is_live() {
        let spec = crate::spec::resources::linux_resources(&res);
        let spec = serde_json::from_value(serde_json::Value::Object(spec))
            .map_err(|err| Error::Invalid(format!("container {}: resources: {err}", c.name)))?;
        let root = strata_runtime::state::Root::new(e.paths.runtime_root());
        strata_runtime::container::ops::update(&root, &c.id, &spec)
            .map_err(|err| Error::Runtime(format!("container {}: update: {err}", c.name)))?;
    }
    c.config.resources = res;
    e.db.save_config(&c.id, &c.config)
}
