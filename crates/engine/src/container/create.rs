//! `create`: a container's row, its writable layer and bundle directory; nothing runs yet.
//! Everything the user got wrong is found here, before anything is made.

use super::config::{ContainerConfig, MountKind, NetworkMode};
use super::state::{ContainerState, Status};
use super::{rootfs, Container};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::ids;
use crate::spec::{self, image_config::ImageConfig};
use strata_image::store::ImageRecord;

/// Checks the options that can be checked without making anything.
pub fn validate(c: &ContainerConfig, img: &ImageConfig) -> Result<()> {
    spec::argv(c, img)?;
    check_isolation(c)?;
    for m in &c.mounts {
        if !m.target.starts_with('/') {
            return Err(Error::Invalid(format!(
                "mount target {:?} is not an absolute path in the container",
                m.target
            )));
        }
        if m.kind == MountKind::Bind {
            if !m.source.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "bind mount source {:?} is not an absolute path",
                    m.source
                )));
            }
            if !std::path::Path::new(&m.source).exists() {
                return Err(Error::Invalid(format!(
                    "bind mount source path does not exist: {} (create it first)",
                    m.source
                )));
            }
        }
    }
    if let Some(s) = c.seccomp.as_ref().filter(|s| *s != "unconfined") {
        load_seccomp(s)?;
    }
    if let Some(p) = &c.apparmor_profile {
        spec::apparmor::check(p)?;
    }
    spec::security::capabilities(c.privileged, &c.cap_add, &c.cap_drop).map_err(Error::Invalid)?;
    if let Some(m) = c.resources.memory {
        if m < 6 << 20 {
            return Err(Error::Invalid(format!(
                "memory limit {} is too small: the minimum is 6 MiB",
                super::status::human_bytes(m.max(0) as u64)
            )));
        }
    }
    Ok(())
}

/// `--isolation`: `container` (the default) or `vm`, and what a VM container does not do yet.
fn check_isolation(c: &ContainerConfig) -> Result<()> {
    match c.isolation.as_deref() {
        None | Some("container") => return Ok(()),
        Some("vm") => {}
        Some(other) => {
            return Err(Error::Invalid(format!(
                "isolation {other:?}: use container or vm"
            )))
        }
    }
    if c.pid_host || c.ipc_host {
        return Err(Error::Invalid(
            "isolation vm: a VM container has its own kernel: it cannot use the host's PID or IPC namespace [layer: vm]".into(),
        ));
    }
    if matches!(c.network, NetworkMode::Host | NetworkMode::Container(_)) {
        return Err(Error::Invalid(
            "isolation vm: a VM container has its own kernel and network stack: it cannot share the host's or another container's network (use a network, or none) [layer: vm]".into(),
        ));
    }
    Ok(())
}

/// Reads a seccomp profile file (docker's JSON format is the OCI one).
pub fn load_seccomp(path: &str) -> Result<serde_json::Value> {
    let b = std::fs::read(path).ctx(|| format!("seccomp profile {path}"))?;
    let v: serde_json::Value = serde_json::from_slice(&b)
        .map_err(|e| Error::Invalid(format!("seccomp profile {path} does not parse: {e}")))?;
    if !v.get("defaultAction").is_some_and(|a| a.is_string()) {
        return Err(Error::Invalid(format!(
            "seccomp profile {path}: defaultAction is missing"
        )));
    }
    Ok(v)
}

/// Creates a container from `image`; `name` none picks one.
pub fn create(
    e: &Engine,
    name: Option<&str>,
    mut config: ContainerConfig,
    image: &ImageRecord,
    img: &ImageConfig,
) -> Result<Container> {
    if let Some(n) = name {
        ids::check_name("container", n)?;
    }
    validate(&config, img)?;
    if let Some(parent) = &config.cgroup_parent {
        crate::pod::check_cgroup_parent(parent, config.systemd_cgroup)?;
    }
    config.image_id = image.id.to_string();
    if let Some(key) = config.pod.clone() {
        let p = e.db.find_pod(&key)?;
        crate::pod::check_member_config(&p, &config)?;
        // A VM pod's containers all run in its VM (Kata's pods); a VM of its own is
        // not a pod's.
        if p.in_vm() {
            config.isolation = Some("vm".into());
            check_isolation(&config)?;
        } else if config.in_vm() {
            return Err(Error::Invalid(format!(
                "isolation vm: pod {} is not a VM pod: a container in a pod runs in the pod's VM (create the pod with --isolation vm) [layer: vm]",
                p.name
            )));
        }
        config.pod = Some(p.id.clone());
        // Under the pod's cgroup, by its driver.
        config.cgroup_parent = p.config.cgroup_parent.clone();
        config.systemd_cgroup = p.config.systemd_cgroup;
        if p.shares("net") {
            config.network = super::config::NetworkMode::Pod;
        }
    }
    // The image's VOLUMEs not covered by a mount of the user's get anonymous volumes (a
    // VM container's stay in its writable layer: volumes do not reach guests yet).
    let in_vm = config.in_vm();
    for path in img.volumes.keys().filter(|_| !in_vm) {
        if !config
            .mounts
            .iter()
            .any(|m| m.target.trim_end_matches('/') == path.trim_end_matches('/'))
        {
            config.mounts.push(super::config::MountSpec {
                kind: super::config::MountKind::Volume,
                source: format!("anon-{}", ids::new_id()),
                target: path.clone(),
                readonly: false,
                options: vec![],
            });
        }
    }
    let mut c = Container {
        id: ids::new_id(),
        name: String::new(),
        created: strata_os::clock::now_nanos(),
        pod: config.pod.clone(),
        config,
        state: ContainerState {
            status: Status::Created,
            ..Default::default()
        },
    };
    // The row first: whatever is made after it is found (and removed) through it.
    ids::with_free_name(name, |n| {
        c.name = n.to_string();
        e.db.insert_container(&c)
    })?;
    if let Err(err) = rootfs::prepare(e, &c.id, &c.config.image_id) {
        let _ = rootfs::remove(e, &c.id);
        let _ = std::fs::remove_dir_all(e.paths.bundle(&c.id));
        let _ = e.db.delete_container(&c.id);
        return Err(err);
    }
    let _ = e.db.event(
        "container",
        "create",
        &c.id,
        &c.name,
        &[("image", c.config.image.clone())],
    );
    Ok(c)
}
