//! `pod create`, `start`, `stop`, `rm`, and the infra container that holds a pod's namespaces.

use super::{infra_config, members, pod_status, Pod, PodConfig, DEFAULT_SHARE};
use crate::container::{remove, start, state::ContainerState, stop, Container, Status};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids;
use serde_json::{json, Value};

/// Creates a pod and its (not yet started) infra container.
pub fn create(e: &Engine, name: Option<&str>, mut config: PodConfig) -> Result<Pod> {
    if let Some(n) = name {
        ids::check_name("pod", n)?;
    }
    if config.share.is_empty() {
        config.share = DEFAULT_SHARE.iter().map(|s| s.to_string()).collect();
    }
    if let Some(parent) = &config.cgroup_parent {
        super::check_cgroup_parent(parent, config.systemd_cgroup)?;
    }
    match config.isolation.as_deref() {
        None | Some("container") => {}
        Some("vm") => {
            use crate::container::config::NetworkMode;
            if matches!(
                config.network,
                NetworkMode::Host | NetworkMode::Container(_)
            ) {
                return Err(Error::Invalid(
                    "isolation vm: a VM pod has its own kernel and network stack: it cannot share the host's or a container's network (use a network, or none) [layer: vm]".into(),
                ));
            }
            if let Some(ns) = config.host_namespaces.first() {
                return Err(Error::Invalid(format!(
                    "isolation vm: a VM pod has its own kernel: it cannot use the host's {ns} namespace [layer: vm]"
                )));
            }
        }
        Some(other) => {
            return Err(Error::Invalid(format!(
                "isolation {other:?}: use container or vm"
            )))
        }
    }
    if config.isolation.as_deref() != Some("vm")
        && (config.memory.is_some() || config.cpus.is_some())
    {
        return Err(Error::Invalid(
            "pod --memory and --cpus size a VM pod's VM (--isolation vm); a plain pod's containers take their own limits".into(),
        ));
    }
    if config.memory.is_some_and(|m| m < 6 << 20) || config.cpus.is_some_and(|c| c <= 0.0) {
        return Err(Error::Invalid(
            "pod --memory is at least 6 MiB and --cpus more than 0".into(),
        ));
    }
    for s in &config.share {
        if !matches!(s.as_str(), "net" | "ipc" | "uts" | "pid") {
            return Err(Error::Invalid(format!(
                "--share {s}: a pod shares net, ipc, uts and pid"
            )));
        }
    }
    let mut p = Pod {
        id: ids::new_id(),
        name: String::new(),
        created: strata_os::clock::now_nanos(),
        config,
        infra: String::new(),
    };
    ids::with_free_name(name, |n| {
        p.name = n.to_string();
        e.db.insert_pod(&p)
    })?;
    let infra = Container {
        id: ids::new_id(),
        name: format!("{}-infra", ids::short(&p.id)),
        created: strata_os::clock::now_nanos(),
        pod: Some(p.id.clone()),
        config: infra_config(&p),
        state: ContainerState::default(),
    };
    let made =
        e.db.insert_container(&infra)
            .and_then(|_| crate::container::rootfs::prepare(e, &infra.id, ""));
    if let Err(err) = made {
        let _ = e.db.delete_container(&infra.id);
        let _ = e.db.delete_pod(&p.id);
        return Err(err);
    }
    e.db.set_pod_infra(&p.id, &infra.id)?;
    p.infra = infra.id;
    let _ = e.db.event("pod", "create", &p.id, &p.name, &[]);
    Ok(p)
}

/// Starts the pod's infra if it is not running; returns it, running.
pub fn ensure_infra(e: &Engine, p: &Pod) -> Result<Container> {
    let _l = crate::lock::lock(&e.paths, &p.infra)?;
    let mut infra = stop::load(e, &p.infra)?;
    if !infra.state.status.is_live() {
        start::start_locked(e, &mut infra, true)?;
        let _ = e.db.event("pod", "start", &p.id, &p.name, &[]);
    }
    Ok(infra)
}

/// Starts the pod: its infra, then its containers.
pub fn start(e: &Engine, key: &str) -> Result<Pod> {
    let p = e.db.find_pod(key)?;
    ensure_infra(e, &p)?;
    for c in members(e, &p)?.into_iter().filter(|c| !c.config.infra) {
        start::start(e, &c.id).map_err(|err| err.context(format!("pod {}", p.name)))?;
    }
    Ok(p)
}

/// Stops the pod: its containers, then its infra.
pub fn stop(e: &Engine, key: &str, timeout: Option<u32>) -> Result<Pod> {
    let p = e.db.find_pod(key)?;
    for c in members(e, &p)?.into_iter().filter(|c| !c.config.infra) {
        stop::stop(e, &c.id, timeout)?;
    }
    stop::stop(e, &p.infra, Some(timeout.unwrap_or(10).min(2)))?;
    let _ = e.db.event("pod", "stop", &p.id, &p.name, &[]);
    Ok(p)
}

/// Removes a pod (`force`: with its running containers) and its infra.
pub fn remove(e: &Engine, key: &str, force: bool) -> Result<Pod> {
    let p = e.db.find_pod(key)?;
    let ms = members(e, &p)?;
    let running: Vec<&str> = ms
        .iter()
        .filter(|c| c.state.status.is_live() && !c.config.infra)
        .map(|c| c.name.as_str())
        .collect();
    if !force && !running.is_empty() {
        return Err(Error::Conflict(format!(
            "pod {} has running containers ({}): stop it first, or remove it with --force",
            p.name,
            running.join(", ")
        )));
    }
    for c in ms.iter().filter(|c| !c.config.infra) {
        remove::remove(e, &c.id, true, true)?;
    }
    if ms.iter().any(|c| c.id == p.infra) {
        remove::remove(e, &p.infra, true, true)?;
    }
    // A cgroup parent given to the pod is its caller's (kubelet removes its pod cgroup).
    if p.config.cgroup_parent.is_none() {
        super::remove_cgroup(&p.id)?;
    }
    e.db.delete_pod(&p.id)?;
    let _ = e.db.event("pod", "remove", &p.id, &p.name, &[]);
    Ok(p)
}

/// A pod as `pod inspect` (and `pod ps --format json`) shows it.
pub fn inspect(e: &Engine, p: &Pod) -> Result<Value> {
    let ms = members(e, p)?;
    let infra = ms.iter().find(|c| c.id == p.infra);
    Ok(json!({
        "Id": p.id,
        "Name": p.name,
        "Created": strata_os::clock::rfc3339_nanos(p.created),
        "State": pod_status(&ms),
        "Hostname": p.hostname(),
        "Labels": p.config.labels,
        "SharedNamespaces": p.config.share,
        "InfraContainerID": p.infra,
        "Isolation": p.config.isolation.as_deref().unwrap_or("container"),
        "InfraPid": infra.map_or(0, |c| c.state.pid),
        "IP": infra.and_then(|c| c.state.net.ip.clone()).unwrap_or_default(),
        "Ports": p.config.ports,
        "NumContainers": ms.len(),
        "Containers": ms.iter().map(|c| json!({"Id": c.id, "Name": c.name, "State": c.state.status.as_str(), "Infra": c.config.infra})).collect::<Vec<_>>(),
    }))
}

/// Whether a container is its pod's infra and still running (the pod's members depend on it).
pub fn is_running_infra(c: &Container) -> bool {
    c.config.infra && c.state.status == Status::Running
}
