//! The RuntimeService trait: each RPC unwraps its request and runs the engine work of
//! `sandbox`, `container`, `exec_sync`, `resources` or `stats` on the blocking pool
//! (`events` streams). RPCs not built yet answer
//! Unimplemented, which kubelet and crictl report as such.

use crate::state::Cri;
use crate::stream::{Session, Streams};
use crate::{container, events, exec_sync, resources, sandbox, stats};
use k8s_cri::v1::runtime_service_server::RuntimeService;
use k8s_cri::v1::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The RuntimeService of a server.
#[derive(Clone)]
pub struct Runtime(pub Arc<Cri>);

type R<T> = Result<Response<T>, Status>;

impl Runtime {
    fn stream(&self) -> Result<&crate::stream::StreamServer, Status> {
        self.0
            .stream
            .get()
            .map(|s| s.as_ref())
            .ok_or_else(|| Status::unavailable("the streaming server is not running [layer: cri]"))
    }
}

/// The CRI's rules for a stream's options.
/// Whether pods can get a network: the cluster's configuration is there (with
/// `cni_conf_dir`), or the bridge plugin the engine's own networks use.
fn network_readiness(cfg: &crate::config::Config) -> Result<(), String> {
    if !cfg.cni_conf_dir.as_os_str().is_empty() && cfg.network.is_empty() {
        return match crate::cni_config::find(&cfg.cni_conf_dir)? {
            Some(_) => Ok(()),
            None => Err(format!(
                "no CNI network configuration in {}",
                cfg.cni_conf_dir.display()
            )),
        };
    }
    let path = format!(
        "{}:{}",
        cfg.cni_bin_dir.display(),
        strata_engine::network::cni::cni_path()
    );
    if path
        .split(':')
        .any(|d| std::path::Path::new(d).join("bridge").is_file())
    {
        Ok(())
    } else {
        Err(format!("no CNI bridge plugin in {path}"))
    }
}

fn check_streams(tty: bool, stdin: bool, stdout: bool, stderr: bool) -> Result<(), Status> {
    if !(stdin || stdout || stderr) {
        return Err(crate::status::invalid(
            "one of stdin, stdout and stderr must be streamed",
        ));
    }
    if tty && stderr {
        return Err(crate::status::invalid(
            "a terminal has no separate stderr: tty and stderr cannot both be set",
        ));
    }
    Ok(())
}

/// The monitor directory of a running CRI container.
fn running_monitor(e: &strata_engine::Engine, id: &str) -> Result<std::path::PathBuf, Status> {
    let c = container::get(e, id)?;
    if !c.state.status.is_live() {
        return Err(Status::failed_precondition(format!(
            "container {id} is not running [layer: engine]"
        )));
    }
    Ok(e.paths.monitor(&c.id))
}

fn unimplemented<T>(rpc: &str) -> R<T> {
    Err(Status::unimplemented(format!(
        "{rpc}: not implemented by strata's CRI server yet"
    )))
}

#[tonic::async_trait]
impl RuntimeService for Runtime {
    async fn version(&self, _: Request<VersionRequest>) -> R<VersionResponse> {
        Ok(Response::new(VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "strata".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: "v1".into(),
        }))
    }

    async fn run_pod_sandbox(&self, r: Request<RunPodSandboxRequest>) -> R<RunPodSandboxResponse> {
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| crate::status::invalid("RunPodSandbox: no config"))?;
        let cfg = self.0.config.clone();
        let id = self
            .0
            .blocking(move |e| sandbox::run(e, &cfg, config, &r.runtime_handler))
            .await?;
        Ok(Response::new(RunPodSandboxResponse { pod_sandbox_id: id }))
    }

    async fn stop_pod_sandbox(
        &self,
        r: Request<StopPodSandboxRequest>,
    ) -> R<StopPodSandboxResponse> {
        let id = r.into_inner().pod_sandbox_id;
        self.0.blocking(move |e| sandbox::stop(e, &id)).await?;
        Ok(Response::new(StopPodSandboxResponse {}))
    }

    async fn remove_pod_sandbox(
        &self,
        r: Request<RemovePodSandboxRequest>,
    ) -> R<RemovePodSandboxResponse> {
        let id = r.into_inner().pod_sandbox_id;
        self.0.blocking(move |e| sandbox::remove(e, &id)).await?;
        Ok(Response::new(RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(
        &self,
        r: Request<PodSandboxStatusRequest>,
    ) -> R<PodSandboxStatusResponse> {
        let r = r.into_inner();
        let (id, verbose) = (r.pod_sandbox_id, r.verbose);
        let (status, info, containers_statuses) = self
            .0
            .blocking(move |e| {
                let (s, info) = sandbox::status(e, &id, verbose)?;
                let containers = events::pod_container_statuses(e, &s.id);
                Ok((s, info, containers))
            })
            .await?;
        Ok(Response::new(PodSandboxStatusResponse {
            status: Some(status),
            info,
            containers_statuses,
            timestamp: strata_os::clock::now_nanos(),
        }))
    }

    async fn list_pod_sandbox(
        &self,
        r: Request<ListPodSandboxRequest>,
    ) -> R<ListPodSandboxResponse> {
        let f = r.into_inner().filter;
        let items = self.0.blocking(move |e| sandbox::list(e, f)).await?;
        Ok(Response::new(ListPodSandboxResponse { items }))
    }

    async fn create_container(
        &self,
        r: Request<CreateContainerRequest>,
    ) -> R<CreateContainerResponse> {
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| crate::status::invalid("CreateContainer: no config"))?;
        let pod = r.pod_sandbox_id;
        let id = self
            .0
            .blocking(move |e| container::create(e, &pod, config))
            .await?;
        Ok(Response::new(CreateContainerResponse { container_id: id }))
    }

    async fn start_container(
        &self,
        r: Request<StartContainerRequest>,
    ) -> R<StartContainerResponse> {
        let id = r.into_inner().container_id;
        self.0.blocking(move |e| container::start(e, &id)).await?;
        Ok(Response::new(StartContainerResponse {}))
    }

    async fn stop_container(&self, r: Request<StopContainerRequest>) -> R<StopContainerResponse> {
        let r = r.into_inner();
        let (id, timeout) = (r.container_id, r.timeout);
        self.0
            .blocking(move |e| container::stop(e, &id, timeout))
            .await?;
        Ok(Response::new(StopContainerResponse {}))
    }

    async fn remove_container(
        &self,
        r: Request<RemoveContainerRequest>,
    ) -> R<RemoveContainerResponse> {
        let id = r.into_inner().container_id;
        self.0.blocking(move |e| container::remove(e, &id)).await?;
        Ok(Response::new(RemoveContainerResponse {}))
    }

    async fn list_containers(
        &self,
        r: Request<ListContainersRequest>,
    ) -> R<ListContainersResponse> {
        let f = r.into_inner().filter;
        let containers = self.0.blocking(move |e| container::list(e, f)).await?;
        Ok(Response::new(ListContainersResponse { containers }))
    }

    async fn container_status(
        &self,
        r: Request<ContainerStatusRequest>,
    ) -> R<ContainerStatusResponse> {
        let r = r.into_inner();
        let (id, verbose) = (r.container_id, r.verbose);
        let (status, info) = self
            .0
            .blocking(move |e| container::status(e, &id, verbose))
            .await?;
        Ok(Response::new(ContainerStatusResponse {
            status: Some(status),
            info,
        }))
    }

    async fn update_container_resources(
        &self,
        r: Request<UpdateContainerResourcesRequest>,
    ) -> R<UpdateContainerResourcesResponse> {
        let r = r.into_inner();
        let (id, linux) = (r.container_id, r.linux);
        self.0
            .blocking(move |e| resources::update(e, &id, linux))
            .await?;
        Ok(Response::new(UpdateContainerResourcesResponse {}))
    }

    async fn reopen_container_log(
        &self,
        r: Request<ReopenContainerLogRequest>,
    ) -> R<ReopenContainerLogResponse> {
        let id = r.into_inner().container_id;
        self.0
            .blocking(move |e| container::reopen_log(e, &id))
            .await?;
        Ok(Response::new(ReopenContainerLogResponse {}))
    }

    async fn exec_sync(&self, r: Request<ExecSyncRequest>) -> R<ExecSyncResponse> {
        let r = r.into_inner();
        let out = self
            .0
            .blocking(move |e| exec_sync::exec_sync(e, &r.container_id, r.cmd, r.timeout))
            .await?;
        Ok(Response::new(ExecSyncResponse {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.exit_code,
        }))
    }

    async fn exec(&self, r: Request<ExecRequest>) -> R<ExecResponse> {
        let r = r.into_inner();
        if r.cmd.is_empty() {
            return Err(crate::status::invalid("Exec: no command"));
        }
        check_streams(r.tty, r.stdin, r.stdout, r.stderr)?;
        let id = r.container_id.clone();
        let dir = self.0.blocking(move |e| running_monitor(e, &id)).await?;
        let url = self.stream()?.issue(
            "exec",
            Session::Exec {
                dir,
                cmd: r.cmd,
                io: Streams {
                    stdin: r.stdin,
                    stdout: r.stdout,
                    stderr: r.stderr,
                    tty: r.tty,
                },
            },
        );
        Ok(Response::new(ExecResponse { url }))
    }

    async fn attach(&self, r: Request<AttachRequest>) -> R<AttachResponse> {
        let r = r.into_inner();
        check_streams(r.tty, r.stdin, r.stdout, r.stderr)?;
        let id = r.container_id.clone();
        let dir = self.0.blocking(move |e| running_monitor(e, &id)).await?;
        let url = self.stream()?.issue(
            "attach",
            Session::Attach {
                dir,
                io: Streams {
                    stdin: r.stdin,
                    stdout: r.stdout,
                    stderr: r.stderr,
                    tty: r.tty,
                },
            },
        );
        Ok(Response::new(AttachResponse { url }))
    }

    async fn port_forward(&self, r: Request<PortForwardRequest>) -> R<PortForwardResponse> {
        let r = r.into_inner();
        let ports: Vec<u16> = r
            .port
            .iter()
            .map(|p| u16::try_from(*p).ok().filter(|p| *p > 0))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                crate::status::invalid(format!("PortForward: bad ports {:?}", r.port))
            })?;
        // No ports is any port: SPDY clients (kubectl, critest) name one per stream.
        let id = r.pod_sandbox_id.clone();
        let netns = self
            .0
            .blocking(move |e| {
                let p = sandbox::get(e, &id)?;
                let infra = strata_engine::container::stop::load(e, &p.infra)
                    .map_err(|err| crate::status::engine(&format!("PortForward {id}"), err))?;
                if !infra.state.status.is_live() || infra.state.pid <= 0 {
                    return Err(Status::failed_precondition(format!(
                        "PortForward {id}: the pod is not ready [layer: engine]"
                    )));
                }
                Ok(infra
                    .state
                    .net
                    .netns
                    .clone()
                    .unwrap_or_else(|| format!("/proc/{}/ns/net", infra.state.pid)))
            })
            .await?;
        let url = self
            .stream()?
            .issue("portforward", Session::PortForward { netns, ports });
        Ok(Response::new(PortForwardResponse { url }))
    }

    async fn container_stats(
        &self,
        r: Request<ContainerStatsRequest>,
    ) -> R<ContainerStatsResponse> {
        let id = r.into_inner().container_id;
        let s = self.0.blocking(move |e| stats::container(e, &id)).await?;
        Ok(Response::new(ContainerStatsResponse { stats: Some(s) }))
    }

    async fn list_container_stats(
        &self,
        r: Request<ListContainerStatsRequest>,
    ) -> R<ListContainerStatsResponse> {
        let f = r.into_inner().filter;
        let stats = self.0.blocking(move |e| stats::list(e, f)).await?;
        Ok(Response::new(ListContainerStatsResponse { stats }))
    }

    async fn pod_sandbox_stats(
        &self,
        r: Request<PodSandboxStatsRequest>,
    ) -> R<PodSandboxStatsResponse> {
        let id = r.into_inner().pod_sandbox_id;
        let s = self.0.blocking(move |e| stats::pod(e, &id)).await?;
        Ok(Response::new(PodSandboxStatsResponse { stats: Some(s) }))
    }

    async fn list_pod_sandbox_stats(
        &self,
        r: Request<ListPodSandboxStatsRequest>,
    ) -> R<ListPodSandboxStatsResponse> {
        let f = r.into_inner().filter;
        let stats = self.0.blocking(move |e| stats::list_pods(e, f)).await?;
        Ok(Response::new(ListPodSandboxStatsResponse { stats }))
    }

    async fn update_runtime_config(
        &self,
        r: Request<UpdateRuntimeConfigRequest>,
    ) -> R<UpdateRuntimeConfigResponse> {
        let cidr = r
            .into_inner()
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        // kubelet's pod CIDR for this node becomes the pods' network's subnet (the first
        // CIDR of a dual-stack list; the engine's networks are IPv4). A cluster network
        // from cni_conf_dir has its own IPAM, as with containerd.
        let cidr = cidr.split(',').next().unwrap_or("").trim().to_string();
        let cfg = &self.0.config;
        if cidr.is_empty() || !cfg.cni_conf_dir.as_os_str().is_empty() {
            return Ok(Response::new(UpdateRuntimeConfigResponse {}));
        }
        let network = cfg.network.clone();
        self.0
            .blocking(move |e| {
                let name = if network.is_empty() {
                    strata_engine::network::defaults::Settings::load(e)
                        .map_err(|err| crate::status::engine("UpdateRuntimeConfig", err))?
                        .name()
                        .to_string()
                } else {
                    network
                };
                match strata_engine::network::manage::set_subnet(e, &name, &cidr) {
                    Ok(n) => {
                        tracing::info!(network = %n.name, subnet = %n.subnet, "pod CIDR applied");
                        Ok(())
                    }
                    Err(strata_engine::Error::Conflict(m)) => {
                        tracing::warn!("pod CIDR {cidr}: {m}");
                        Ok(())
                    }
                    Err(err) => Err(crate::status::engine(
                        &format!("UpdateRuntimeConfig: pod CIDR {cidr}"),
                        err,
                    )),
                }
            })
            .await?;
        Ok(Response::new(UpdateRuntimeConfigResponse {}))
    }

    async fn status(&self, r: Request<StatusRequest>) -> R<StatusResponse> {
        let verbose = r.into_inner().verbose;
        let cfg = &self.0.config;
        let network = network_readiness(cfg);
        let conditions = vec![
            RuntimeCondition {
                r#type: "RuntimeReady".into(),
                status: true,
                reason: String::new(),
                message: String::new(),
            },
            RuntimeCondition {
                r#type: "NetworkReady".into(),
                status: network.is_ok(),
                reason: if network.is_ok() {
                    String::new()
                } else {
                    "NetworkPluginNotReady".into()
                },
                message: network.err().unwrap_or_default(),
            },
        ];
        let runtime_handlers = cfg
            .runtime_handlers
            .iter()
            .map(|h| RuntimeHandler {
                name: h.clone(),
                features: Some(RuntimeHandlerFeatures {
                    recursive_read_only_mounts: false,
                    user_namespaces: false,
                }),
            })
            .collect();
        let mut info = std::collections::HashMap::new();
        if verbose {
            info.insert(
                "config".to_string(),
                serde_json::json!({
                    "root": self.0.engine.root,
                    "runroot": self.0.engine.runroot,
                    "cgroupDriver": cfg.cgroup_driver,
                    "runtimeHandlers": cfg.runtime_handlers,
                })
                .to_string(),
            );
        }
        Ok(Response::new(StatusResponse {
            status: Some(RuntimeStatus { conditions }),
            info,
            runtime_handlers,
            features: Some(RuntimeFeatures {
                supplemental_groups_policy: false,
            }),
        }))
    }

    async fn checkpoint_container(
        &self,
        _: Request<CheckpointContainerRequest>,
    ) -> R<CheckpointContainerResponse> {
        unimplemented("CheckpointContainer")
    }

    type GetContainerEventsStream = events::EventStream;

    async fn get_container_events(
        &self,
        _: Request<GetEventsRequest>,
    ) -> R<Self::GetContainerEventsStream> {
        Ok(Response::new(events::stream(Arc::clone(&self.0)).await?))
    }

    async fn list_metric_descriptors(
        &self,
        _: Request<ListMetricDescriptorsRequest>,
    ) -> R<ListMetricDescriptorsResponse> {
        unimplemented("ListMetricDescriptors")
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _: Request<ListPodSandboxMetricsRequest>,
    ) -> R<ListPodSandboxMetricsResponse> {
        unimplemented("ListPodSandboxMetrics")
    }

    async fn runtime_config(&self, _: Request<RuntimeConfigRequest>) -> R<RuntimeConfigResponse> {
        let driver = if self.0.config.cgroup_driver == "systemd" {
            CgroupDriver::Systemd
        } else {
            CgroupDriver::Cgroupfs
        };
        Ok(Response::new(RuntimeConfigResponse {
            linux: Some(LinuxRuntimeConfiguration {
                cgroup_driver: driver as i32,
            }),
        }))
    }
}
