//! Containers of CRI pods on the engine's containers: create (the image must be in the
//! store: kubelet pulls first), start, stop (the stop signal, SIGKILL after the timeout),
//! remove (idempotent), list with filters and status with the exit reason.

use crate::container_config::convert;
use crate::meta;
use crate::sandbox;
use crate::status::{engine as engine_err, image as image_err, invalid};
use k8s_cri::v1::{
    Container as CriContainer, ContainerConfig as CriConfig, ContainerFilter, ContainerState,
    ContainerStatus, ImageSpec, Mount,
};
use std::collections::HashMap;
use strata_engine::container::config::MountKind;
use strata_engine::container::{
    create, remove as engine_remove, start as engine_start, stop as engine_stop,
};
use strata_engine::container::{Container, Status as EngineStatus};
use strata_engine::spec::image_config::ImageConfig;
use strata_engine::{Engine, Error};
use tonic::Status;

/// CreateContainer: the container, created (not started) in its pod; its id.
pub fn create(e: &Engine, pod_id: &str, c: CriConfig) -> Result<String, Status> {
    let p = sandbox::get(e, pod_id)?;
    let m = c
        .metadata
        .clone()
        .filter(|m| !m.name.is_empty())
        .ok_or_else(|| invalid("CreateContainer: the config has no metadata name"))?;
    let image = c
        .image
        .as_ref()
        .map(|i| i.image.clone())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid(format!("CreateContainer {}: no image", m.name)))?;
    let name = meta::container_name(&m, &meta::pod_metadata(&p.config.annotations));
    let what = format!("CreateContainer {name}");
    let store = e.store().map_err(|err| engine_err(&what, err))?;
    let img =
        strata_image::ops::lookup(&store, &image, &e.opts.default_registry).map_err(|err| {
            Status::not_found(format!(
                "{what}: image {image}: {err} (pull it first) [layer: image]"
            ))
        })?;
    let doc = strata_image::ops::config(&store, &img).map_err(|err| image_err(&what, err))?;
    let ic = ImageConfig::from_document(&doc);
    let config = convert(&c, &p, &image).map_err(|err| engine_err(&what, err))?;
    let made =
        create::create(e, Some(&name), config, &img, &ic).map_err(|err| engine_err(&what, err))?;
    Ok(made.id)
}

/// Finds a CRI container by id.
pub fn get(e: &Engine, id: &str) -> Result<Container, Status> {
    if id.is_empty() {
        return Err(invalid("no container id given"));
    }
    match engine_stop::load(e, id) {
        Ok(c) if meta::is_cri(&c.config.annotations, "container") => Ok(c),
        Ok(_) | Err(Error::NotFound(_)) => Err(Status::not_found(format!(
            "container {id}: not found [layer: engine]"
        ))),
        Err(err) => Err(engine_err(&format!("container {id}"), err)),
    }
}

/// StartContainer.
pub fn start(e: &Engine, id: &str) -> Result<(), Status> {
    let c = get(e, id)?;
    if c.state.status != EngineStatus::Created {
        return Err(Status::failed_precondition(format!(
            "StartContainer {id}: the container is {}, not created [layer: engine]",
            c.state.status.as_str()
        )));
    }
    engine_start::start(e, &c.id)
        .map(|_| ())
        .map_err(|err| engine_err(&format!("StartContainer {id}"), err))
}

/// StopContainer: the stop signal, then SIGKILL after `timeout` seconds; stopping a
/// stopped or unknown container is not an error.
pub fn stop(e: &Engine, id: &str, timeout: i64) -> Result<(), Status> {
    // An unknown id is not an error either: the CRI's stops are idempotent.
    let c = match get(e, id) {
        Ok(c) => c,
        Err(s) if s.code() == tonic::Code::NotFound => return Ok(()),
        Err(s) => return Err(s),
    };
    if !c.state.status.is_live() {
        return Ok(());
    }
    let t = u32::try_from(timeout.max(0)).unwrap_or(u32::MAX);
    engine_stop::stop(e, &c.id, Some(t))
        .map(|_| ())
        .map_err(|err| engine_err(&format!("StopContainer {id}"), err))
}

/// RemoveContainer (a running one is killed first); an unknown id is not an error.
pub fn remove(e: &Engine, id: &str) -> Result<(), Status> {
    let c = match get(e, id) {
        Ok(c) => c,
        Err(s) if s.code() == tonic::Code::NotFound => return Ok(()),
        Err(s) => return Err(s),
    };
    match engine_remove::remove(e, &c.id, true, true) {
        Ok(_) | Err(Error::NotFound(_)) => Ok(()),
        Err(err) => Err(engine_err(&format!("RemoveContainer {id}"), err)),
    }
}

/// ReopenContainerLog: the container's monitor closes its log and opens it again at the
/// same path (kubelet has renamed the old file). FailedPrecondition if it does not run.
pub fn reopen_log(e: &Engine, id: &str) -> Result<(), Status> {
    let c = get(e, id)?;
    let what = format!("ReopenContainerLog {id}");
    if c.state.status != EngineStatus::Running || c.state.monitor.is_none() {
        return Err(Status::failed_precondition(format!(
            "{what}: the container is {}, not running [layer: engine]",
            c.state.status.as_str()
        )));
    }
    let r = strata_monitor::protocol::call(
        &e.paths.monitor(&c.id),
        &strata_monitor::protocol::Request::ReopenLog,
        Some(std::time::Duration::from_secs(10)),
    )
    .map_err(|err| {
        Status::unavailable(format!(
            "{what}: the container's monitor: {err} [layer: monitor]"
        ))
    })?;
    if r.ok {
        return Ok(());
    }
    Err(Status::failed_precondition(format!(
        "{what}: {} [layer: monitor]",
        r.error.unwrap_or_default()
    )))
}

/// The CRI state of an engine status.
pub fn state_of(s: EngineStatus) -> ContainerState {
    match s {
        EngineStatus::Created => ContainerState::ContainerCreated,
        EngineStatus::Running | EngineStatus::Paused | EngineStatus::Restarting => {
            ContainerState::ContainerRunning
        }
        EngineStatus::Exited | EngineStatus::Dead => ContainerState::ContainerExited,
        EngineStatus::Removing => ContainerState::ContainerUnknown,
    }
}

fn image_spec(c: &Container) -> ImageSpec {
    ImageSpec {
        image: meta::get(&c.config.annotations, meta::IMAGE),
        ..Default::default()
    }
}

/// ListContainers with its filter (a pod's infra is not a container of the CRI's).
pub fn list(e: &Engine, f: Option<ContainerFilter>) -> Result<Vec<CriContainer>, Status> {
    let f = f.unwrap_or_default();
    let all =
        e.db.containers()
            .map_err(|err| engine_err("ListContainers", err))?;
    let mut out = Vec::new();
    for mut c in all {
        if !meta::is_cri(&c.config.annotations, "container")
            || !c.id.starts_with(&f.id)
            || !c
                .pod
                .as_deref()
                .unwrap_or("")
                .starts_with(&f.pod_sandbox_id)
            || !meta::selects(&f.label_selector, &c.config.labels)
        {
            continue;
        }
        let _ = strata_engine::container::status::refresh(e, &mut c);
        let state = state_of(c.state.status);
        if f.state.as_ref().is_some_and(|s| s.state != state as i32) {
            continue;
        }
        out.push(CriContainer {
            id: c.id.clone(),
            pod_sandbox_id: c.pod.clone().unwrap_or_default(),
            metadata: Some(meta::container_metadata(&c.config.annotations)),
            image: Some(image_spec(&c)),
            image_ref: c.config.image_id.clone(),
            image_id: c.config.image_id.clone(),
            state: state as i32,
            created_at: c.created,
            labels: meta::labels(&c.config.labels),
            annotations: meta::public(&c.config.annotations),
        });
    }
    Ok(out)
}

/// ContainerStatus (with `verbose`, the engine's inspect document as `info`).
pub fn status(
    e: &Engine,
    id: &str,
    verbose: bool,
) -> Result<(ContainerStatus, HashMap<String, String>), Status> {
    let c = get(e, id)?;
    let s = &c.state;
    let state = state_of(s.status);
    let time = |t: &Option<String>| {
        t.as_deref()
            .and_then(strata_os::clock::parse_rfc3339)
            .unwrap_or(0)
    };
    let exited = state == ContainerState::ContainerExited;
    let exit_code = if exited { s.exit_code.unwrap_or(0) } else { 0 };
    let reason = match () {
        _ if !exited => "",
        _ if s.oom_killed => "OOMKilled",
        _ if s.error.is_some() && s.exit_code.is_none() => "ContainerCannotRun",
        _ if exit_code == 0 => "Completed",
        _ => "Error",
    };
    let st = ContainerStatus {
        id: c.id.clone(),
        metadata: Some(meta::container_metadata(&c.config.annotations)),
        state: state as i32,
        created_at: c.created,
        started_at: if state == ContainerState::ContainerCreated {
            0
        } else {
            time(&s.started_at)
        },
        finished_at: if exited { time(&s.finished_at) } else { 0 },
        exit_code,
        image: Some(image_spec(&c)),
        image_ref: c.config.image_id.clone(),
        image_id: c.config.image_id.clone(),
        reason: reason.into(),
        message: s.error.clone().unwrap_or_default(),
        labels: meta::labels(&c.config.labels),
        annotations: meta::public(&c.config.annotations),
        mounts: c
            .config
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Bind)
            .map(|m| Mount {
                container_path: m.target.clone(),
                host_path: m.source.clone(),
                readonly: m.readonly,
                propagation: crate::container_config::propagation_of(&m.options) as i32,
                selinux_relabel: m.options.iter().any(|o| o == "z" || o == "Z"),
                ..Default::default()
            })
            .collect(),
        log_path: c
            .config
            .log_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        resources: crate::resources::to_cri(&c.config.resources),
        ..Default::default()
    };
    let mut info = HashMap::new();
    if verbose {
        let doc = strata_engine::container::inspect::inspect(e, &c);
        info.insert("info".to_string(), doc.to_string());
    }
    Ok((st, info))
}
