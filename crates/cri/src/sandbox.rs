//! Pod sandboxes on the engine's pods: RunPodSandbox makes a pod and starts its infra (the
//! process that holds the pod's network, IPC and UTS namespaces, and with a shared process
//! namespace its PID namespace), Stop and Remove are idempotent, Status and List read the
//! engine's records brought up to date from the monitors.

use crate::config::Config;
use crate::meta;
use crate::status::{engine as engine_err, invalid};
use k8s_cri::v1::{
    LinuxPodSandboxStatus, Namespace, NamespaceMode, NamespaceOption, PodSandbox, PodSandboxConfig,
    PodSandboxFilter, PodSandboxNetworkStatus, PodSandboxState, PodSandboxStatus, Protocol,
};
use std::collections::HashMap;
use strata_engine::container::config::{NetworkMode, PortMapping};
use strata_engine::container::{status, Container};
use strata_engine::pod::{lifecycle, Pod, PodConfig};
use strata_engine::{Engine, Error};
use tonic::Status;

/// RunPodSandbox: the pod, its infra started; its id.
pub fn run(e: &Engine, cfg: &Config, c: PodSandboxConfig, handler: &str) -> Result<String, Status> {
    let m = c
        .metadata
        .clone()
        .ok_or_else(|| invalid("RunPodSandbox: the config has no metadata"))?;
    if m.name.is_empty() || m.namespace.is_empty() || m.uid.is_empty() {
        return Err(invalid(
            "RunPodSandbox: metadata needs a name, a namespace and a uid",
        ));
    }
    if !cfg.runtime_handlers.iter().any(|h| h == handler) {
        return Err(invalid(format!(
            "RunPodSandbox {}: no runtime handler {handler:?} on this node (configured: {:?})",
            m.name, cfg.runtime_handlers
        )));
    }
    let name = meta::pod_name(&m);
    let what = format!("RunPodSandbox {name}");
    let cluster = cluster_network(e, cfg)
        .map_err(|s| Status::new(s.code(), format!("{what}: {}", s.message())))?;
    let pc = pod_config(cfg, &c, &m, handler, cluster).map_err(|e| engine_err(&what, e))?;
    let p = lifecycle::create(e, Some(&name), pc).map_err(|e| engine_err(&what, e))?;
    if let Err(err) = lifecycle::ensure_infra(e, &p) {
        // Nothing half-made stays: the pod goes with its infra.
        let _ = lifecycle::remove(e, &p.id, true);
        return Err(engine_err(&what, err));
    }
    Ok(p.id)
}

/// The cluster network pods join when `cni_conf_dir` is set (imported into the engine, or
/// brought up to date); none when it is not.
fn cluster_network(e: &Engine, cfg: &Config) -> Result<Option<String>, Status> {
    if cfg.cni_conf_dir.as_os_str().is_empty() || !cfg.network.is_empty() {
        return Ok(None);
    }
    let dir = cfg.cni_conf_dir.display();
    let (name, list) = crate::cni_config::find(&cfg.cni_conf_dir)
        .map_err(|e| Status::unavailable(format!("{e} [layer: network]")))?
        .ok_or_else(|| {
            Status::failed_precondition(format!(
                "no CNI network configuration in {dir} yet (the cluster's network add-on writes it) [layer: network]"
            ))
        })?;
    strata_engine::network::manage::import(e, &name, list)
        .map_err(|err| engine_err(&format!("cni config in {dir}"), err))?;
    Ok(Some(name))
}

/// The engine's pod configuration for a CRI one; `cluster`, the cluster network's name.
fn pod_config(
    cfg: &Config,
    c: &PodSandboxConfig,
    m: &k8s_cri::v1::PodSandboxMetadata,
    handler: &str,
    cluster: Option<String>,
) -> Result<PodConfig, Error> {
    let ns = c
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone())
        .unwrap_or_default();
    let mut share = vec!["net".to_string(), "ipc".into(), "uts".into()];
    let mut host_namespaces = Vec::new();
    let mut pid_mode = "container";
    match NamespaceMode::try_from(ns.pid).unwrap_or(NamespaceMode::Container) {
        NamespaceMode::Pod => {
            share.push("pid".into());
            pid_mode = "pod";
        }
        NamespaceMode::Container => {}
        NamespaceMode::Node => {
            host_namespaces.push("pid".to_string());
            pid_mode = "node";
        }
        NamespaceMode::Target => {
            return Err(Error::Invalid(
                "pid namespace mode TARGET is a container's, not a pod's".into(),
            ))
        }
    }
    if NamespaceMode::try_from(ns.ipc).unwrap_or(NamespaceMode::Pod) == NamespaceMode::Node {
        host_namespaces.push("ipc".to_string());
    }
    let network = if NamespaceMode::try_from(ns.network).unwrap_or(NamespaceMode::Pod)
        == NamespaceMode::Node
    {
        NetworkMode::Host
    } else if let Some(name) = cluster {
        NetworkMode::Bridge(name)
    } else if cfg.network.is_empty() {
        NetworkMode::Default
    } else {
        NetworkMode::Bridge(cfg.network.clone())
    };
    let mut ports = Vec::new();
    for p in c.port_mappings.iter().filter(|p| p.host_port > 0) {
        let protocol = match Protocol::try_from(p.protocol) {
            Ok(Protocol::Tcp) => "tcp",
            Ok(Protocol::Udp) => "udp",
            _ => {
                return Err(Error::Invalid(format!(
                    "port mapping {}: only TCP and UDP are published",
                    p.container_port
                )))
            }
        };
        let port = |v: i32, what: &str| {
            u16::try_from(v)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| Error::Invalid(format!("{what} port {v}: not in 1-65535")))
        };
        ports.push(PortMapping {
            host_ip: p.host_ip.clone(),
            host_port: port(p.host_port, "host")?,
            container_port: port(p.container_port, "container")?,
            protocol: protocol.into(),
        });
    }
    let vm = handler == crate::config::VM_HANDLER;
    let (memory, cpus) = if vm { vm_size(c) } else { (None, None) };
    let mut annotations = meta::pod_annotations(m, &c.annotations);
    annotations.insert(meta::LOG_DIRECTORY.into(), c.log_directory.clone());
    annotations.insert(meta::HANDLER.into(), handler.into());
    annotations.insert(meta::PID_MODE.into(), pid_mode.into());
    Ok(PodConfig {
        hostname: Some(if c.hostname.is_empty() {
            m.name.clone()
        } else {
            c.hostname.clone()
        }),
        ports,
        network,
        share,
        host_namespaces,
        labels: c.labels.clone().into_iter().collect(),
        dns: c
            .dns_config
            .as_ref()
            .map(|d| d.servers.clone())
            .unwrap_or_default(),
        dns_search: c
            .dns_config
            .as_ref()
            .map(|d| d.searches.clone())
            .unwrap_or_default(),
        dns_options: c
            .dns_config
            .as_ref()
            .map(|d| d.options.clone())
            .unwrap_or_default(),
        sysctls: c
            .linux
            .as_ref()
            .map(|l| l.sysctls.clone().into_iter().collect())
            .unwrap_or_default(),
        annotations,
        isolation: vm.then(|| "vm".to_string()),
        memory,
        cpus,
        // kubelet's pod cgroup (a path, or with the systemd driver a slice), which it makes
        // and removes; the pod's containers go under it as scopes or directories. A slice
        // given as a path (`/test.slice`) is its last component, as containerd takes it.
        cgroup_parent: c
            .linux
            .as_ref()
            .map(|l| match cfg.cgroup_driver == "systemd" {
                true => l
                    .cgroup_parent
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                false => l.cgroup_parent.clone(),
            })
            .filter(|p| !p.is_empty()),
        systemd_cgroup: cfg.cgroup_driver == "systemd",
        ..Default::default()
    })
}

/// A VM pod's size from the sandbox's resources (the sum of its containers' limits, as
/// kubelet sends it) and its RuntimeClass overhead: memory in bytes, CPUs; none when they
/// say nothing.
fn vm_size(c: &PodSandboxConfig) -> (Option<i64>, Option<f64>) {
    let Some(l) = c.linux.as_ref() else {
        return (None, None);
    };
    let (mut memory, mut cpus) = (0i64, 0f64);
    for r in [l.resources.as_ref(), l.overhead.as_ref()]
        .into_iter()
        .flatten()
    {
        memory += r.memory_limit_in_bytes.max(0);
        if r.cpu_quota > 0 && r.cpu_period > 0 {
            cpus += r.cpu_quota as f64 / r.cpu_period as f64;
        }
    }
    ((memory > 0).then_some(memory), (cpus > 0.0).then_some(cpus))
}

/// Finds a CRI pod by id; `None` if there is none.
pub fn find(e: &Engine, id: &str) -> Result<Option<Pod>, Status> {
    if id.is_empty() {
        return Err(invalid("no pod sandbox id given"));
    }
    match e.db.find_pod(id) {
        Ok(p) if meta::is_cri(&p.config.annotations, "sandbox") => Ok(Some(p)),
        Ok(_) | Err(Error::NotFound(_)) => Ok(None),
        Err(err) => Err(engine_err(&format!("pod sandbox {id}"), err)),
    }
}

/// Finds a CRI pod by id, NotFound if there is none.
pub fn get(e: &Engine, id: &str) -> Result<Pod, Status> {
    find(e, id)?
        .ok_or_else(|| Status::not_found(format!("pod sandbox {id}: not found [layer: engine]")))
}

/// StopPodSandbox: its containers and its infra stopped (SIGKILL: kubelet stopped them
/// gracefully first); done already or an unknown id is not an error.
pub fn stop(e: &Engine, id: &str) -> Result<(), Status> {
    let Some(p) = find(e, id)? else {
        return Ok(());
    };
    lifecycle::stop(e, &p.id, Some(0))
        .map(|_| ())
        .map_err(|err| engine_err(&format!("StopPodSandbox {id}"), err))
}

/// RemovePodSandbox: the pod, its containers and its infra; an unknown id is not an error.
pub fn remove(e: &Engine, id: &str) -> Result<(), Status> {
    let Some(p) = find(e, id)? else {
        return Ok(());
    };
    match lifecycle::remove(e, &p.id, true) {
        Ok(_) | Err(Error::NotFound(_)) => Ok(()),
        Err(err) => Err(engine_err(&format!("RemovePodSandbox {id}"), err)),
    }
}

/// The pod's infra, brought up to date (none if it is gone).
fn infra(e: &Engine, p: &Pod) -> Option<Container> {
    let mut c = e.db.container(&p.infra).ok().flatten()?;
    let _ = status::refresh(e, &mut c);
    Some(c)
}

fn state_of(infra: Option<&Container>) -> PodSandboxState {
    match infra {
        Some(c) if c.state.status.is_live() => PodSandboxState::SandboxReady,
        _ => PodSandboxState::SandboxNotready,
    }
}

/// PodSandboxStatus.
pub fn status(
    e: &Engine,
    id: &str,
    verbose: bool,
) -> Result<(PodSandboxStatus, HashMap<String, String>), Status> {
    let p = get(e, id)?;
    let infra = infra(e, &p);
    let a = &p.config.annotations;
    let ip = infra
        .as_ref()
        .filter(|c| c.state.status.is_live())
        .and_then(|c| c.state.net.ip.as_deref())
        .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
        .unwrap_or_default();
    let host_net = p.config.network == NetworkMode::Host;
    let s = PodSandboxStatus {
        id: p.id.clone(),
        metadata: Some(meta::pod_metadata(a)),
        state: state_of(infra.as_ref()) as i32,
        created_at: p.created,
        network: Some(PodSandboxNetworkStatus {
            ip,
            additional_ips: vec![],
        }),
        linux: Some(LinuxPodSandboxStatus {
            namespaces: Some(Namespace {
                options: Some(NamespaceOption {
                    network: if host_net {
                        NamespaceMode::Node
                    } else {
                        NamespaceMode::Pod
                    } as i32,
                    pid: if p.uses_host("pid") {
                        NamespaceMode::Node
                    } else if p.shares("pid") {
                        NamespaceMode::Pod
                    } else {
                        NamespaceMode::Container
                    } as i32,
                    ipc: if p.uses_host("ipc") {
                        NamespaceMode::Node
                    } else {
                        NamespaceMode::Pod
                    } as i32,
                    ..Default::default()
                }),
            }),
        }),
        labels: meta::labels(&p.config.labels),
        annotations: meta::public(a),
        runtime_handler: meta::get(a, meta::HANDLER),
    };
    let mut info = HashMap::new();
    if verbose {
        let v = lifecycle::inspect(e, &p)
            .map_err(|err| engine_err(&format!("PodSandboxStatus {id}"), err))?;
        info.insert("info".to_string(), v.to_string());
    }
    Ok((s, info))
}

/// ListPodSandbox with its filter.
pub fn list(e: &Engine, f: Option<PodSandboxFilter>) -> Result<Vec<PodSandbox>, Status> {
    let f = f.unwrap_or_default();
    let pods =
        e.db.pods()
            .map_err(|err| engine_err("ListPodSandbox", err))?;
    let mut out = Vec::new();
    for p in pods {
        let a = &p.config.annotations;
        if !meta::is_cri(a, "sandbox")
            || !p.id.starts_with(&f.id)
            || !meta::selects(&f.label_selector, &p.config.labels)
        {
            continue;
        }
        let state = state_of(infra(e, &p).as_ref());
        if f.state.as_ref().is_some_and(|s| s.state != state as i32) {
            continue;
        }
        out.push(PodSandbox {
            id: p.id.clone(),
            metadata: Some(meta::pod_metadata(a)),
            state: state as i32,
            created_at: p.created,
            labels: meta::labels(&p.config.labels),
            annotations: meta::public(a),
            runtime_handler: meta::get(a, meta::HANDLER),
        });
    }
    Ok(out)
}
