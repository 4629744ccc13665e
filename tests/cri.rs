//! The CRI server end to end, driven by a gRPC client generated from the same protocol
//! definitions kubelet uses: pod, container and image lifecycles, ExecSync and its timeout,
//! the CRI log format under the pod's log directory, bad input answered with the right
//! gRPC codes (and nothing left behind), and a server SIGKILLed and restarted with its pods
//! and running containers intact.

mod common;

use common::{prerequisites, strata_cgroups, Engine};
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use strata_testkit::ChildGuard;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

const IMG: &str = "localhost/busybox:latest";

/// A `strata cri` serving the test engine's root on a socket in its directory.
struct Server {
    _child: ChildGuard,
    socket: PathBuf,
}

impl Server {
    fn start(e: &Engine) -> Server {
        let socket = e.dir.path().join("cri.sock");
        // A SIGKILLed server leaves its socket: wait for the new one, not the old.
        let _ = std::fs::remove_file(&socket);
        let mut cmd = e.cmd();
        cmd.args(["cri", "--config", "/nonexistent/cri.toml", "--socket"])
            .arg(&socket);
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
        Server {
            _child: child,
            socket,
        }
    }
}

async fn channel(socket: &Path) -> Channel {
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

struct Clients {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
}

async fn clients(s: &Server) -> Clients {
    let ch = channel(&s.socket).await;
    Clients {
        rt: RuntimeServiceClient::new(ch.clone()),
        img: ImageServiceClient::new(ch),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn pod_config(name: &str, log_dir: &Path) -> PodSandboxConfig {
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

fn container_config(name: &str, script: &str) -> ContainerConfig {
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

async fn run_pod(c: &mut Clients, cfg: PodSandboxConfig) -> String {
    c.rt.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(cfg),
        runtime_handler: String::new(),
    })
    .await
    .expect("RunPodSandbox")
    .into_inner()
    .pod_sandbox_id
}

async fn create(
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

async fn status(c: &mut Clients, id: &str) -> ContainerStatus {
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

async fn exec(
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

async fn pods(c: &mut Clients, filter: Option<PodSandboxFilter>) -> Vec<PodSandbox> {
    c.rt.list_pod_sandbox(ListPodSandboxRequest { filter })
        .await
        .unwrap()
        .into_inner()
        .items
}

async fn containers(c: &mut Clients, filter: Option<ContainerFilter>) -> Vec<Container> {
    c.rt.list_containers(ListContainersRequest { filter })
        .await
        .unwrap()
        .into_inner()
        .containers
}

#[test]
fn pod_and_container_lifecycle_with_exec_and_logs() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let made = rt().block_on(async {
        let mut c = clients(&server).await;
        let v =
            c.rt.version(VersionRequest::default())
                .await
                .unwrap()
                .into_inner();
        assert_eq!(
            (v.runtime_name.as_str(), v.runtime_api_version.as_str()),
            ("strata", "v1")
        );
        let st =
            c.rt.status(StatusRequest { verbose: false })
                .await
                .unwrap()
                .into_inner();
        let conds = st.status.unwrap().conditions;
        assert!(
            conds.iter().all(|c| c.status),
            "runtime and network ready: {conds:?}"
        );

        let sandbox = pod_config("web", &logs);
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let ps =
            c.rt.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: pod.clone(),
                verbose: true,
            })
            .await
            .unwrap()
            .into_inner();
        let s = ps.status.unwrap();
        assert_eq!(s.state, PodSandboxState::SandboxReady as i32);
        assert_eq!(s.metadata.unwrap().name, "web");
        assert_eq!(s.annotations.get("note").map(String::as_str), Some("kept"));
        assert!(
            !s.annotations.keys().any(|k| k.starts_with("io.strata.")),
            "{:?}",
            s.annotations
        );
        let ip = s.network.unwrap().ip;
        assert!(
            ip.parse::<std::net::Ipv4Addr>().is_ok(),
            "the pod has an address: {ip:?}"
        );
        assert!(ps.info.contains_key("info"), "verbose info");
        let selected = pods(
            &mut c,
            Some(PodSandboxFilter {
                label_selector: HashMap::from([("app".into(), "web".into())]),
                ..Default::default()
            }),
        )
        .await;
        assert_eq!(
            selected.iter().map(|p| &p.id).collect::<Vec<_>>(),
            vec![&pod]
        );
        let none = pods(
            &mut c,
            Some(PodSandboxFilter {
                label_selector: HashMap::from([("app".into(), "db".into())]),
                ..Default::default()
            }),
        )
        .await;
        assert!(none.is_empty());

        let id = create(
            &mut c,
            &pod,
            &sandbox,
            container_config(
                "app",
                "trap '' TERM; echo $GREETING; echo oops >&2; while :; do sleep 1; done",
            ),
        )
        .await;
        assert_eq!(
            status(&mut c, &id).await.state,
            ContainerState::ContainerCreated as i32
        );
        c.rt.start_container(StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap();
        let s = status(&mut c, &id).await;
        assert_eq!(s.state, ContainerState::ContainerRunning as i32);
        assert!(s.started_at > 0);
        let err =
            c.rt.start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

        // ExecSync: output, exit codes, the pod's hostname, and the timeout.
        let out = exec(
            &mut c,
            &id,
            &["sh", "-c", "hostname; echo e >&2; exit 3"],
            0,
        )
        .await
        .unwrap();
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice(), out.exit_code),
            (&b"web\n"[..], &b"e\n"[..], 3)
        );
        let out = exec(&mut c, &id, &["/no/such/binary"], 0).await.unwrap();
        assert_eq!(
            out.exit_code,
            127,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t0 = Instant::now();
        let err = exec(&mut c, &id, &["sleep", "30"], 1).await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "killed at the timeout"
        );
        let out = exec(&mut c, &id, &["ps", "-o", "args"], 0).await.unwrap();
        let ps = String::from_utf8_lossy(&out.stdout);
        assert!(
            ps.contains("trap") && !ps.contains("sleep 30"),
            "the timed-out sleep was killed: {ps}"
        );

        // The log, in the CRI format, under the pod's log directory.
        let log = logs.join("app/0.log");
        assert_eq!(
            status(&mut c, &id).await.log_path,
            log.display().to_string()
        );
        let text = std::fs::read_to_string(&log).expect("the container's log");
        assert!(
            text.lines().any(|l| l.ends_with(" stdout F hello")),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l.ends_with(" stderr F oops")),
            "{text}"
        );

        // Filters.
        let by_pod = containers(
            &mut c,
            Some(ContainerFilter {
                pod_sandbox_id: pod.clone(),
                ..Default::default()
            }),
        )
        .await;
        assert_eq!(
            by_pod.len(),
            1,
            "the infra is not a CRI container: {by_pod:?}"
        );
        assert_eq!(by_pod[0].metadata.as_ref().unwrap().name, "app");
        let exited = containers(
            &mut c,
            Some(ContainerFilter {
                state: Some(ContainerStateValue {
                    state: ContainerState::ContainerExited as i32,
                }),
                ..Default::default()
            }),
        )
        .await;
        assert!(exited.is_empty());

        // Stop: SIGTERM ignored (trapped), so SIGKILL after the timeout.
        c.rt.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 1,
        })
        .await
        .unwrap();
        let s = status(&mut c, &id).await;
        assert_eq!(s.state, ContainerState::ContainerExited as i32);
        assert_eq!((s.exit_code, s.reason.as_str()), (137, "Error"));
        assert!(s.finished_at >= s.started_at);
        c.rt.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 1,
        })
        .await
        .expect("stopping a stopped container is fine");

        // A container that completes.
        let done = create(&mut c, &pod, &sandbox, container_config("job", "exit 0")).await;
        c.rt.start_container(StartContainerRequest {
            container_id: done.clone(),
        })
        .await
        .unwrap();
        let t0 = Instant::now();
        loop {
            let s = status(&mut c, &done).await;
            if s.state == ContainerState::ContainerExited as i32 {
                assert_eq!((s.exit_code, s.reason.as_str()), (0, "Completed"));
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "job did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        for cid in [&id, &id, &done] {
            c.rt.remove_container(RemoveContainerRequest {
                container_id: cid.to_string(),
            })
            .await
            .expect("RemoveContainer is idempotent");
        }
        assert!(containers(&mut c, None).await.is_empty());
        for _ in 0..2 {
            c.rt.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .expect("StopPodSandbox is idempotent");
        }
        let listed = pods(&mut c, None).await;
        assert_eq!(listed[0].state, PodSandboxState::SandboxNotready as i32);
        for _ in 0..2 {
            c.rt.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .expect("RemovePodSandbox is idempotent");
        }
        assert!(pods(&mut c, None).await.is_empty());
        (pod, vec![id, done])
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "", "nothing left in the engine");
    let (pod, ids) = made;
    let left: Vec<String> = strata_cgroups()
        .into_iter()
        .filter(|g| g.contains(&pod[..12]) || ids.iter().any(|id| g.contains(id.as_str())))
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    drop(server);
}

#[test]
fn images_list_status_pull_errors_fs_info_and_remove() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let list = c
            .img
            .list_images(ListImagesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .images;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].repo_tags, vec![IMG.to_string()]);
        let id = list[0].id.clone();
        assert!(id.starts_with("sha256:"), "{id}");
        for key in [IMG, "localhost/busybox", id.as_str()] {
            let st = c
                .img
                .image_status(ImageStatusRequest {
                    image: Some(ImageSpec {
                        image: key.into(),
                        ..Default::default()
                    }),
                    verbose: true,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(st.image.map(|i| i.id), Some(id.clone()), "by {key}");
            assert!(st.info.contains_key("info"));
        }
        let absent = c
            .img
            .image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: "localhost/nope:1".into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
            .expect("an absent image is an empty answer, not an error")
            .into_inner();
        assert!(absent.image.is_none());
        let err = c
            .img
            .pull_image(PullImageRequest {
                image: Some(ImageSpec {
                    image: "127.0.0.1:1/nothing:here".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(err.message().contains("[layer: image]"), "{err:?}");
        let fs = c
            .img
            .image_fs_info(ImageFsInfoRequest {})
            .await
            .unwrap()
            .into_inner();
        let used = fs.image_filesystems[0].used_bytes.unwrap().value;
        assert!(used > 100_000, "busybox takes room: {used}");
        for _ in 0..2 {
            c.img
                .remove_image(RemoveImageRequest {
                    image: Some(ImageSpec {
                        image: id.clone(),
                        ..Default::default()
                    }),
                })
                .await
                .expect("RemoveImage is idempotent");
        }
        let list = c
            .img
            .list_images(ListImagesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .images;
        assert!(list.is_empty(), "{list:?}");
    });
    drop(server);
}

#[test]
fn bad_input_gets_its_grpc_code_and_leaves_nothing() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    rt().block_on(async {
        let mut c = clients(&server).await;
        let mut no_meta = pod_config("x", &logs);
        no_meta.metadata = None;
        let err =
            c.rt.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(no_meta),
                runtime_handler: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        let err =
            c.rt.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(pod_config("x", &logs)),
                runtime_handler: "kata".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("kata"), "{err:?}");
        let err =
            c.rt.create_container(CreateContainerRequest {
                pod_sandbox_id: "0123456789abcdef".into(),
                config: Some(container_config("a", "true")),
                sandbox_config: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let sandbox = pod_config("bad", &logs);
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let err =
            c.rt.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox.clone()),
                runtime_handler: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::FailedPrecondition,
            "the same pod twice: {err:?}"
        );
        let mut absent = container_config("a", "true");
        absent.image = Some(ImageSpec {
            image: "localhost/nope:1".into(),
            ..Default::default()
        });
        let err =
            c.rt.create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(absent),
                sandbox_config: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert!(err.message().contains("[layer: image]"), "{err:?}");
        let mut seccomp = container_config("b", "true");
        seccomp.linux = Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                seccomp: Some(SecurityProfile {
                    profile_type: security_profile::ProfileType::Localhost as i32,
                    localhost_ref: "/no/such/profile.json".into(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        let err =
            c.rt.create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(seccomp),
                sandbox_config: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("seccomp"), "{err:?}");
        assert!(
            containers(&mut c, None).await.is_empty(),
            "failed creates leave nothing"
        );
        for rpc in ["status", "start", "exec"] {
            let err = match rpc {
                "status" => {
                    c.rt.container_status(ContainerStatusRequest {
                        container_id: "feedface".into(),
                        verbose: false,
                    })
                    .await
                    .map(drop)
                }
                "start" => {
                    c.rt.start_container(StartContainerRequest {
                        container_id: "feedface".into(),
                    })
                    .await
                    .map(drop)
                }
                _ => exec(&mut c, "feedface", &["true"], 0).await.map(drop),
            }
            .unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "{rpc}: {err:?}");
        }
        let err =
            c.rt.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: "feedface".into(),
                verbose: false,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let err = c.rt.exec(ExecRequest::default()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
        c.rt.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await
        .unwrap();
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    drop(server);
}

#[test]
fn a_killed_server_restarts_with_its_pods_and_running_containers() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("keep", &logs);
    let server = Server::start(&e);
    let (pod, id, pid) = rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let id = create(
            &mut c,
            &pod,
            &sandbox,
            container_config("app", "exec sleep 1000"),
        )
        .await;
        c.rt.start_container(StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap();
        let out = exec(&mut c, &id, &["cat", "/proc/1/stat"], 0)
            .await
            .unwrap();
        (pod, id, String::from_utf8(out.stdout).unwrap())
    });
    server._child.signal(libc::SIGKILL);
    drop(server);
    let server = Server::start(&e);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let listed = pods(&mut c, None).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].id.as_str(), listed[0].state),
            (pod.as_str(), PodSandboxState::SandboxReady as i32)
        );
        let s = status(&mut c, &id).await;
        assert_eq!(s.state, ContainerState::ContainerRunning as i32);
        let out = exec(&mut c, &id, &["cat", "/proc/1/stat"], 0)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            pid,
            "the same process, untouched"
        );
        c.rt.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await
        .unwrap();
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    drop(server);
}
