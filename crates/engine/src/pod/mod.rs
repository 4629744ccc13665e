//! Pods: containers that share their network, IPC and UTS namespaces (and with `--share pid`
//! their pid namespace), held by an infra container whose only process is strata-pause (the
//! course's "pause container holds the namespace"). Its root filesystem is empty: no pause
//! image is needed. The pod's address and published ports are the infra's, so a container of
//! the pod can restart without the pod losing its IP.

pub mod lifecycle;

use crate::container::config::{ContainerConfig, NetworkMode, PortMapping};
use crate::container::{status, Container, Status};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec::Ns;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the user asked for when creating a pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodConfig {
    /// `--hostname` (else the pod's name).
    pub hostname: Option<String>,
    /// `-p`: the pod's published ports.
    pub ports: Vec<PortMapping>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--share`: the namespaces its containers share (net, ipc, uts, pid).
    pub share: Vec<String>,
    /// The host's namespaces its infra and containers use instead (ipc, pid: the CRI's
    /// node namespace mode).
    pub host_namespaces: Vec<String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--add-host`.
    pub add_hosts: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// Annotations (the CRI keeps its pod metadata here).
    pub annotations: BTreeMap<String, String>,
    /// DNS search domains of the pod's containers.
    pub dns_search: Vec<String>,
    /// DNS options of the pod's containers.
    pub dns_options: Vec<String>,
    /// Namespaced sysctls of the pod (set in its infra's namespaces, which its containers share).
    pub sysctls: BTreeMap<String, String>,
    /// `--isolation vm`: the pod is a microVM with its own kernel, in which all its
    /// containers run (Kata's sandbox); `container` or none: namespaces on the host's kernel.
    pub isolation: Option<String>,
    /// `--memory` of a VM pod: its VM's memory for its containers (bytes; the VM gets a
    /// fixed overhead beside it).
    pub memory: Option<i64>,
    /// `--cpus` of a VM pod: its VM's vCPUs (rounded up).
    pub cpus: Option<f64>,
    /// The cgroup its containers go under, made and owned by the caller (kubelet's pod
    /// cgroup, the CRI's `cgroup_parent`): a path with the cgroupfs driver, a slice
    /// (`kubepods-besteffort-pod<uid>.slice`) with systemd's. None: the engine's own.
    pub cgroup_parent: Option<String>,
    /// Its containers' cgroups are systemd scopes (the CRI's systemd cgroup driver).
    pub systemd_cgroup: bool,
}

/// A pod as the engine records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made (nanoseconds since the epoch).
    pub created: i64,
    /// What the user asked for.
    pub config: PodConfig,
    /// Its infra container's id.
    pub infra: String,
}

/// The namespaces pods share by default.
pub const DEFAULT_SHARE: &[&str] = &["net", "ipc", "uts"];

impl Pod {
    /// Whether its containers share the namespace `kind` (net, ipc, uts, pid).
    pub fn shares(&self, kind: &str) -> bool {
        !self.uses_host(kind) && self.config.share.iter().any(|s| s == kind)
    }

    /// Whether it uses the host's namespace `kind` (ipc, pid).
    pub fn uses_host(&self, kind: &str) -> bool {
        self.config.host_namespaces.iter().any(|s| s == kind)
    }

    /// Whether the pod is a VM (its containers run in its VM).
    pub fn in_vm(&self) -> bool {
        self.config.isolation.as_deref() == Some("vm")
    }

    /// Its hostname.
    pub fn hostname(&self) -> String {
        self.config
            .hostname
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }
}

/// The cgroup that holds a pod's containers (relative to each hierarchy's root).
pub fn cgroup_parent(pod_id: &str) -> String {
    format!(
        "{}/pod-{}",
        crate::paths::cgroup_root(),
        crate::ids::short(pod_id)
    )
}

/// Checks a pod's `cgroup_parent` for its driver: a systemd slice's name (`NAME.slice`, no
/// `/`), or a cgroupfs path (no `:`, no `..`).
pub fn check_cgroup_parent(parent: &str, systemd: bool) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::Invalid(format!(
            "cgroup parent {parent:?}: {why} [layer: cgroup]"
        )))
    };
    if parent.is_empty() || parent.len() > 4096 || parent.contains('\0') {
        return bad("not a cgroup");
    }
    if systemd {
        if !parent.ends_with(".slice") || parent.contains('/') || parent.contains(':') {
            return bad("the systemd cgroup driver takes a slice's name (NAME.slice)");
        }
    } else if parent.contains(':') || parent.split('/').any(|c| c == "..") {
        return bad("the cgroupfs driver takes a path (/kubepods/pod<uid>)");
    }
    Ok(())
}

/// Removes a pod's cgroup in every hierarchy (its containers' cgroups must be gone).
pub fn remove_cgroup(pod_id: &str) -> Result<()> {
    let rel = cgroup_parent(pod_id);
    for h in strata_runtime::cgroups::layout::Layout::detect().hierarchies {
        let dir = h.mount.join(rel.trim_start_matches('/'));
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("pod cgroup {}", dir.display()), e)),
        }
    }
    Ok(())
}

/// The configuration of a pod's infra container.
pub fn infra_config(p: &Pod) -> ContainerConfig {
    ContainerConfig {
        image: String::new(),
        entrypoint: Some(vec![crate::container::rootfs::PAUSE_PATH.to_string()]),
        hostname: Some(p.hostname()),
        ports: p.config.ports.clone(),
        network: p.config.network.clone(),
        dns: p.config.dns.clone(),
        dns_search: p.config.dns_search.clone(),
        dns_options: p.config.dns_options.clone(),
        sysctls: p.config.sysctls.clone(),
        add_hosts: p.config.add_hosts.clone(),
        read_only: true,
        pod: Some(p.id.clone()),
        infra: true,
        labels: p.config.labels.clone(),
        isolation: p.config.isolation.clone(),
        cgroup_parent: p.config.cgroup_parent.clone(),
        systemd_cgroup: p.config.systemd_cgroup,
        // A VM pod's infra is its VM: these size it.
        resources: crate::container::config::Resources {
            memory: p.config.memory,
            cpus: p.config.cpus,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The status of a pod, from its containers' (podman's names).
pub fn pod_status(members: &[Container]) -> &'static str {
    let live = members.iter().filter(|c| c.state.status.is_live()).count();
    let infra_live = members
        .iter()
        .any(|c| c.config.infra && c.state.status.is_live());
    match (live, members.len()) {
        (0, _) if members.iter().all(|c| c.state.status == Status::Created) => "Created",
        (0, _) => "Exited",
        (n, m) if n == m => "Running",
        _ if infra_live
            && members
                .iter()
                .filter(|c| !c.config.infra)
                .all(|c| c.state.status.is_live()) =>
        {
            "Running"
        }
        _ => "Degraded",
    }
}

/// The pod's containers, brought up to date.
pub fn members(e: &Engine, p: &Pod) -> Result<Vec<Container>> {
    let mut v = e.db.pod_containers(&p.id)?;
    for c in v.iter_mut() {
        status::refresh(e, c)?;
    }
    Ok(v)
}

/// The namespaces a member container joins (its infra started first if it is not running).
pub struct Joined {
    /// The network namespace.
    pub net: Ns,
    /// IPC.
    pub ipc: Ns,
    /// UTS.
    pub uts: Ns,
    /// PID.
    pub pid: Ns,
    /// The infra container (its address and hostname).
    pub infra: Container,
}

/// For a container of a pod (not its infra): the infra's namespaces to join, the infra
/// started if it is not running.
pub fn join(e: &Engine, c: &Container) -> Result<Option<Joined>> {
    let Some(pod_id) = c.pod.as_deref().filter(|_| !c.config.infra) else {
        return Ok(None);
    };
    let p = e.db.find_pod(pod_id)?;
    let infra = lifecycle::ensure_infra(e, &p)?;
    let ns = |kind: &str| {
        if p.uses_host(kind) {
            Ns::Host
        } else if p.shares(kind) {
            Ns::Join(format!("/proc/{}/ns/{kind}", infra.state.pid))
        } else {
            Ns::New
        }
    };
    let pid = match &c.config.pid_target {
        Some(t) => {
            let target = crate::container::stop::load(e, t)?;
            if target.pod.as_deref() != Some(p.id.as_str())
                || !target.state.status.is_live()
                || target.state.pid <= 0
            {
                return Err(Error::Conflict(format!(
                    "container {}: its PID namespace target {t} is not a running container of pod {}",
                    c.name, p.name
                )));
            }
            Ns::Join(format!("/proc/{}/ns/pid", target.state.pid))
        }
        None => ns("pid"),
    };
    Ok(Some(Joined {
        net: ns("net"),
        ipc: ns("ipc"),
        uts: ns("uts"),
        pid,
        infra,
    }))
}

/// A new namespace of `kind` for container `c`, or the host's where `c` is the infra of a
/// pod that uses the host's.
pub fn infra_ns(e: &Engine, c: &Container, kind: &str) -> Result<Ns> {
    if let Some(pod) = c.pod.as_deref().filter(|_| c.config.infra) {
        if e.db.find_pod(pod)?.uses_host(kind) {
            return Ok(Ns::Host);
        }
    }
    Ok(Ns::New)
}

/// Refuses options a pod's container cannot have on its own.
pub fn check_member_config(p: &Pod, c: &ContainerConfig) -> Result<()> {
    if p.shares("net")
        && (!c.ports.is_empty() || !matches!(c.network, NetworkMode::Default | NetworkMode::Pod))
    {
        return Err(Error::Invalid(format!(
            "a container of pod {} uses the pod's network: publish ports with `pod create -p`, not on the container",
            p.name
        )));
    }
    if c.pid_host || c.ipc_host {
        return Err(Error::Invalid(format!(
            "a container of pod {} has its pod's PID and IPC namespaces: give the pod the host's (the CRI's node namespace mode), not the container",
            p.name
        )));
    }
    if p.shares("uts") && c.hostname.is_some() {
        return Err(Error::Invalid(format!(
            "a container of pod {} has the pod's hostname",
            p.name
        )));
    }
    Ok(())
}
