//! The CRI end-to-end tests' harness: a `strata cri` on the test engine's root, gRPC
//! clients generated from the same protocol definitions kubelet uses, and the pod and
//! container configurations and calls the tests share.

use super::Engine;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata_testkit::ChildGuard;
use tonic::transport::{Channel, Endpoint};

pub const IMG: &str = "localhost/busybox:latest";

/// A `strata cri` serving the test engine's root on a socket in its directory.
pub struct Server {
    /// The server process.
    pub child: ChildGuard,
    /// The CRI socket.
    pub socket: PathBuf,
}

impl Server {
    /// The server with the default configuration.
    pub fn start(e: &Engine) -> Server {
        Self::start_with(e, Path::new("/nonexistent/cri.toml"))
    }

    /// The server with the configuration file `config`.
    pub fn start_with(e: &Engine, config: &Path) -> Server {
        Self::start_env(e, config, &[])
    }

    /// The server with the configuration file `config` and environment `env`.
    pub fn start_env(e: &Engine, config: &Path, env: &[(&str, &Path)]) -> Server {
        let socket = e.dir.path().join("cri.sock");
        // A SIGKILLed server leaves its socket: wait for the new one, not the old.
        let _ = std::fs::remove_file(&socket);
        let mut cmd = e.cmd();
        cmd.args(["cri", "--config"])
            .arg(config)
            .arg("--socket")
            .arg(&socket);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = ChildGuard::spawn_quiet(&mut cmd).expect("start strata cri");
        let t0 = Instant::now();
        while !socket.exists() {
            if let Ok(Some(st)) = child.0.try_wait() {
                panic!("strata cri exited before serving: {st}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the CRI socket did not appear"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, socket }
    }
}

pub async fn channel(socket: &Path) -> Channel {
    let path = socket.to_path_buf();
    Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .expect("connect to the CRI socket")
}

pub struct Clients {
    /// RuntimeService.
    pub rt: RuntimeServiceClient<Channel>,
    /// ImageService.
    pub img: ImageServiceClient<Channel>,
}

pub async fn clients(s: &Server) -> Clients {
    let ch = channel(&s.socket).await;
    Clients {
        rt: RuntimeServiceClient::new(ch.clone()),
        img: ImageServiceClient::new(ch),
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn pod_config(name: &str, log_dir: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_dir.display().to_string(),
        labels: HashMap::from([("app".to_string(), name.to_string())]),
        annotations: HashMap::from([("note".to_string(), "kept".to_string())]),
        ..Default::default()
    }
}

pub fn container_config(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMG.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into()],
        args: vec![script.into()],
        envs: vec![KeyValue {
            key: "GREETING".into(),
            value: "hello".into(),
        }],
        log_path: format!("{name}/0.log"),
        labels: HashMap::from([("tier".to_string(), name.to_string())]),
        ..Default::default()
    }
}

pub async fn run_pod(c: &mut Clients, cfg: PodSandboxConfig) -> String {
    run_pod_with(c, cfg, "").await
}

/// RunPodSandbox with runtime handler `handler`; the pod's id.
pub async fn run_pod_with(c: &mut Clients, cfg: PodSandboxConfig, handler: &str) -> String {
    c.rt.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(cfg),
        runtime_handler: handler.into(),
    })
    .await
    .expect("RunPodSandbox")
    .into_inner()
    .pod_sandbox_id
}

pub async fn create(
    c: &mut Clients,
    pod: &str,
    sandbox: &PodSandboxConfig,
    cfg: ContainerConfig,
) -> String {
    c.rt.create_container(CreateContainerRequest {
        pod_sandbox_id: pod.into(),
        config: Some(cfg),
        sandbox_config: Some(sandbox.clone()),
    })
    .await
    .expect("CreateContainer")
    .into_inner()
    .container_id
}

pub async fn status(c: &mut Clients, id: &str) -> ContainerStatus {
    c.rt.container_status(ContainerStatusRequest {
        container_id: id.into(),
        verbose: false,
    })
    .await
    .expect("ContainerStatus")
    .into_inner()
    .status
    .unwrap()
}

/// PodSandboxStatus's status of `pod` (not verbose).
pub async fn pod_status(c: &mut Clients, pod: &str) -> PodSandboxStatus {
    c.rt.pod_sandbox_status(PodSandboxStatusRequest {
        pod_sandbox_id: pod.into(),
        verbose: false,
    })
    .await
    .expect("PodSandboxStatus")
    .into_inner()
    .status
    .unwrap()
}

pub async fn exec(
    c: &mut Clients,
    id: &str,
    cmd: &[&str],
    timeout: i64,
) -> Result<ExecSyncResponse, tonic::Status> {
    c.rt.exec_sync(ExecSyncRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        timeout,
    })
    .await
    .map(|r| r.into_inner())
}

pub async fn pods(c: &mut Clients, filter: Option<PodSandboxFilter>) -> Vec<PodSandbox> {
    c.rt.list_pod_sandbox(ListPodSandboxRequest { filter })
        .await
        .unwrap()
        .into_inner()
        .items
}

pub async fn containers(c: &mut Clients, filter: Option<ContainerFilter>) -> Vec<Container> {
    c.rt.list_containers(ListContainersRequest { filter })
        .await
        .unwrap()
        .into_inner()
        .containers
}

pub async fn start(c: &mut Clients, id: &str) {
    c.rt.start_container(StartContainerRequest {
        container_id: id.into(),
    })
    .await
    .expect("StartContainer");
}

pub async fn remove_pod(c: &mut Clients, pod: &str) {
    c.rt.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: pod.into(),
    })
    .await
    .expect("RemovePodSandbox");
}

/// Waits up to 20 s for `f` to hold.
pub fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A pod's IP, from PodSandboxStatus.
pub async fn pod_ip(c: &mut Clients, pod: &str) -> String {
    pod_status(c, pod)
        .await
        .network
        .map(|n| n.ip)
        .unwrap_or_default()
}

/// An Attach URL for a container's stdin, stdout and stderr.
pub async fn attach_url(c: &mut Clients, id: &str) -> String {
    c.rt.attach(AttachRequest {
        container_id: id.into(),
        stdin: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    })
    .await
    .expect("Attach")
    .into_inner()
    .url
}

/// A PortForward URL for one port of a pod.
pub async fn port_forward_url(c: &mut Clients, pod: &str, port: i32) -> String {
    c.rt.port_forward(PortForwardRequest {
        pod_sandbox_id: pod.into(),
        port: vec![port],
    })
    .await
    .expect("PortForward")
    .into_inner()
    .url
}
