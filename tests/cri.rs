//! The CRI server end to end, driven by a gRPC client generated from the same protocol
//! definitions kubelet uses: pod, container and image lifecycles, ExecSync and its timeout,
//! the CRI log format under the pod's log directory, bad input answered with the right
//! gRPC codes (and nothing left behind), and a server SIGKILLed and restarted with its pods
//! and running containers intact.

mod common;

use common::cri::*;
use common::{free_port, prerequisites, Engine};
use k8s_cri::v1::*;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tonic::Code;

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
    let left: Vec<String> = e
        .cgroups_left()
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
        assert_eq!(err.code(), Code::InvalidArgument, "no command: {err:?}");
        // No port is any port (SPDY clients name theirs per stream); an unknown pod is not.
        let err =
            c.rt.port_forward(PortForwardRequest {
                pod_sandbox_id: "feedface".into(),
                port: vec![],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let err =
            c.rt.port_forward(PortForwardRequest {
                pod_sandbox_id: pod.clone(),
                port: vec![70000],
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "a bad port: {err:?}");
        // Stopping an unknown container is not an error (idempotent, as removing it).
        c.rt.stop_container(StopContainerRequest {
            container_id: "feedface".into(),
            timeout: 0,
        })
        .await
        .unwrap();
        let err =
            c.rt.checkpoint_container(CheckpointContainerRequest::default())
                .await
                .unwrap_err();
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
    server.child.signal(libc::SIGKILL);
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

async fn update(
    c: &mut Clients,
    id: &str,
    linux: LinuxContainerResources,
) -> Result<tonic::Response<UpdateContainerResourcesResponse>, tonic::Status> {
    c.rt.update_container_resources(UpdateContainerResourcesRequest {
        container_id: id.into(),
        linux: Some(linux),
        ..Default::default()
    })
    .await
}

/// The memory limit the container sees in its own cgroup (cgroup v1).
async fn memory_limit(c: &mut Clients, id: &str) -> String {
    let path = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
    let out = exec(c, id, &["cat", path], 10).await.unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn list_stats(c: &mut Clients, f: ContainerStatsFilter) -> Vec<ContainerStats> {
    c.rt.list_container_stats(ListContainerStatsRequest { filter: Some(f) })
        .await
        .expect("ListContainerStats")
        .into_inner()
        .stats
}

#[test]
fn reopen_container_log_after_kubelet_renames_it() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("rotate", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let script = "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done";
        let id = create(&mut c, &pod, &sandbox, container_config("app", script)).await;
        start(&mut c, &id).await;
        let log = logs.join("app/0.log");
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        until("the first lines in the log", || {
            read(&log).contains("line2")
        });

        // kubelet's rotation: rename, then ask the runtime to reopen.
        let rotated = logs.join("app/0.log.20261205-120000");
        std::fs::rename(&log, &rotated).unwrap();
        c.rt.reopen_container_log(ReopenContainerLogRequest {
            container_id: id.clone(),
        })
        .await
        .expect("ReopenContainerLog");
        until("new output in a new file at the original path", || {
            read(&log).lines().count() >= 2
        });
        let old = read(&rotated);
        assert!(
            old.lines().next().unwrap().ends_with(" stdout F line0"),
            "{old}"
        );
        let last_old: u32 = old
            .lines()
            .last()
            .and_then(|l| l.rsplit("line").next())
            .unwrap()
            .parse()
            .unwrap();
        let new = read(&log);
        let first_new: u32 = new
            .lines()
            .next()
            .and_then(|l| l.rsplit("line").next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(first_new > last_old, "old ends at {last_old}: {new}");
        assert!(!new.contains(" stdout F line0\n"), "{new}");

        // A stopped container has no log to reopen; an unknown one is not found.
        c.rt.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 0,
        })
        .await
        .unwrap();
        let err =
            c.rt.reopen_container_log(ReopenContainerLogRequest {
                container_id: id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        let err =
            c.rt.reopen_container_log(ReopenContainerLogRequest {
                container_id: "0123456789ab".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        remove_pod(&mut c, &pod).await;
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    drop(server);
}

#[test]
fn container_and_pod_stats_of_a_container_that_allocates_memory() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("stats", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        // The shell keeps its 20 MB variable: busybox sh would exec a last `sleep` and drop it.
        let script = r#"x=$(head -c 20000000 /dev/zero | tr "\0" a); sleep 100; echo ${#x}"#;
        let id = create(&mut c, &pod, &sandbox, container_config("hog", script)).await;
        start(&mut c, &id).await;
        let t0 = Instant::now();
        let s = loop {
            let s =
                c.rt.container_stats(ContainerStatsRequest {
                    container_id: id.clone(),
                })
                .await
                .expect("ContainerStats")
                .into_inner()
                .stats
                .unwrap();
            let ws = s.memory.as_ref().and_then(|m| m.working_set_bytes);
            if ws.is_some_and(|w| w.value > 10_000_000) {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the working set never passed 10 MB: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let attrs = s.attributes.unwrap();
        assert_eq!(attrs.id, id);
        assert_eq!(attrs.metadata.unwrap().name, "hog");
        assert_eq!(attrs.labels.get("tier").map(String::as_str), Some("hog"));
        let cpu = s.cpu.unwrap();
        assert!(cpu.usage_core_nano_seconds.unwrap().value > 0);
        assert!(cpu.timestamp > 0);
        let mem = s.memory.unwrap();
        assert!(mem.timestamp > 0);
        assert!(mem.usage_bytes.unwrap().value >= mem.working_set_bytes.unwrap().value);
        assert!(mem.rss_bytes.unwrap().value > 10_000_000);
        assert!(mem.page_faults.unwrap().value > 0);
        assert!(s.writable_layer.unwrap().used_bytes.is_some());

        // Filters: id, pod and labels.
        let by_id = list_stats(
            &mut c,
            ContainerStatsFilter {
                id: id.clone(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(by_id.len(), 1);
        assert!(by_id[0].cpu.is_some());
        let by_pod = list_stats(
            &mut c,
            ContainerStatsFilter {
                pod_sandbox_id: pod.clone(),
                label_selector: HashMap::from([("tier".into(), "hog".into())]),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(by_pod.len(), 1);
        let none = list_stats(
            &mut c,
            ContainerStatsFilter {
                label_selector: HashMap::from([("tier".into(), "other".into())]),
                ..Default::default()
            },
        )
        .await;
        assert!(none.is_empty());

        // The pod: its containers and their sum.
        let ps =
            c.rt.pod_sandbox_stats(PodSandboxStatsRequest {
                pod_sandbox_id: pod.clone(),
            })
            .await
            .expect("PodSandboxStats")
            .into_inner()
            .stats
            .unwrap();
        assert_eq!(ps.attributes.unwrap().id, pod);
        let linux = ps.linux.unwrap();
        assert_eq!(linux.containers.len(), 1);
        assert!(linux.memory.unwrap().working_set_bytes.unwrap().value > 10_000_000);
        assert!(linux.cpu.unwrap().usage_core_nano_seconds.unwrap().value > 0);
        assert!(linux.process.unwrap().process_count.unwrap().value >= 2);
        assert!(linux.network.is_some(), "the pod's network, from its infra");
        let listed =
            c.rt.list_pod_sandbox_stats(ListPodSandboxStatsRequest {
                filter: Some(PodSandboxStatsFilter {
                    id: pod.clone(),
                    ..Default::default()
                }),
            })
            .await
            .expect("ListPodSandboxStats")
            .into_inner()
            .stats;
        assert_eq!(listed.len(), 1);

        // Stopped: attributes only, as containerd answers; unknown: NotFound.
        c.rt.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 0,
        })
        .await
        .unwrap();
        let s =
            c.rt.container_stats(ContainerStatsRequest {
                container_id: id.clone(),
            })
            .await
            .expect("ContainerStats of a stopped container")
            .into_inner()
            .stats
            .unwrap();
        assert_eq!(s.attributes.unwrap().id, id);
        assert!(s.cpu.is_none() && s.memory.is_none());
        let err =
            c.rt.container_stats(ContainerStatsRequest {
                container_id: "0123456789ab".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        let err =
            c.rt.pod_sandbox_stats(PodSandboxStatsRequest {
                pod_sandbox_id: "0123456789ab".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        remove_pod(&mut c, &pod).await;
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    drop(server);
}

#[test]
fn update_container_resources_reaches_the_cgroup_and_the_status() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("resize", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let id = create(
            &mut c,
            &pod,
            &sandbox,
            container_config("app", "exec sleep 1000"),
        )
        .await;
        start(&mut c, &id).await;
        update(
            &mut c,
            &id,
            LinuxContainerResources {
                memory_limit_in_bytes: 64 << 20,
                cpu_period: 100_000,
                cpu_quota: 50_000,
                ..Default::default()
            },
        )
        .await
        .expect("UpdateContainerResources");
        assert_eq!(memory_limit(&mut c, &id).await, (64u64 << 20).to_string());
        let quota = exec(
            &mut c,
            &id,
            &["cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"],
            10,
        )
        .await
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&quota.stdout).trim(), "50000");
        let r = status(&mut c, &id)
            .await
            .resources
            .and_then(|r| r.linux)
            .expect("the status reports the resources");
        assert_eq!(
            (r.memory_limit_in_bytes, r.cpu_quota, r.cpu_period),
            (64 << 20, 50_000, 100_000)
        );
        let inspect = e.ok(&["inspect", &id]);
        assert!(inspect.contains(&(64u64 << 20).to_string()), "{inspect}");

        // Lowered again; bad values and unknown ids change nothing.
        update(
            &mut c,
            &id,
            LinuxContainerResources {
                memory_limit_in_bytes: 48 << 20,
                ..Default::default()
            },
        )
        .await
        .expect("UpdateContainerResources");
        assert_eq!(memory_limit(&mut c, &id).await, (48u64 << 20).to_string());
        let bad = LinuxContainerResources {
            memory_limit_in_bytes: -1,
            ..Default::default()
        };
        let err = update(&mut c, &id, bad).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        let err = update(
            &mut c,
            &id,
            LinuxContainerResources {
                cpu_period: 5,
                cpu_quota: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        let err = update(
            &mut c,
            "0123456789ab",
            LinuxContainerResources {
                memory_limit_in_bytes: 32 << 20,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert_eq!(memory_limit(&mut c, &id).await, (48u64 << 20).to_string());
        remove_pod(&mut c, &pod).await;
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    drop(server);
}

/// The next event of container `id` on the stream (others are skipped), within 20 s.
async fn next_event(
    stream: &mut tonic::Streaming<ContainerEventResponse>,
    id: &str,
) -> ContainerEventResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, stream.message())
            .await
            .expect("an event within 20 s")
            .expect("the stream")
            .expect("an event");
        if ev.container_id == id {
            return ev;
        }
    }
}

#[test]
fn container_events_stream_created_started_stopped_deleted() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("watch", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let mut stream =
            c.rt.get_container_events(GetEventsRequest {})
                .await
                .expect("GetContainerEvents")
                .into_inner();
        let id = create(
            &mut c,
            &pod,
            &sandbox,
            container_config("app", "exec sleep 1000"),
        )
        .await;
        // Each event carries the pod's status and its containers' statuses as they are.
        let check = |ev: &ContainerEventResponse,
                     kind: ContainerEventType,
                     state: Option<ContainerState>| {
            assert_eq!(ev.container_event_type, kind as i32, "{ev:?}");
            assert!(ev.created_at > 0);
            assert_eq!(
                ev.pod_sandbox_status.as_ref().expect("the pod's status").id,
                pod
            );
            let st = ev.containers_statuses.iter().find(|s| s.id == id);
            assert_eq!(st.map(|s| s.state), state.map(|s| s as i32), "{ev:?}");
            if let Some(st) = st {
                assert_eq!(st.metadata.as_ref().unwrap().name, "app");
            }
        };
        let ev = next_event(&mut stream, &id).await;
        check(
            &ev,
            ContainerEventType::ContainerCreatedEvent,
            Some(ContainerState::ContainerCreated),
        );
        start(&mut c, &id).await;
        let ev = next_event(&mut stream, &id).await;
        check(
            &ev,
            ContainerEventType::ContainerStartedEvent,
            Some(ContainerState::ContainerRunning),
        );
        c.rt.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 0,
        })
        .await
        .unwrap();
        let ev = next_event(&mut stream, &id).await;
        check(
            &ev,
            ContainerEventType::ContainerStoppedEvent,
            Some(ContainerState::ContainerExited),
        );
        c.rt.remove_container(RemoveContainerRequest {
            container_id: id.clone(),
        })
        .await
        .unwrap();
        let ev = next_event(&mut stream, &id).await;
        check(&ev, ContainerEventType::ContainerDeletedEvent, None);

        // A container that exits on its own is seen to stop without anyone asking.
        let quick = create(&mut c, &pod, &sandbox, container_config("quick", "exit 3")).await;
        start(&mut c, &quick).await;
        let mut kinds = Vec::new();
        while kinds.len() < 3 {
            kinds.push(next_event(&mut stream, &quick).await.container_event_type);
        }
        assert_eq!(
            kinds,
            [
                ContainerEventType::ContainerCreatedEvent as i32,
                ContainerEventType::ContainerStartedEvent as i32,
                ContainerEventType::ContainerStoppedEvent as i32,
            ]
        );
        drop(stream);
        remove_pod(&mut c, &pod).await;
    });
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    drop(server);
}

#[test]
fn pod_dns_sysctls_oom_score_and_security_paths_reach_the_containers() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let mut sandbox = pod_config("dns", &logs);
    sandbox.dns_config = Some(DnsConfig {
        servers: vec!["10.0.0.10".into()],
        searches: vec!["default.svc.cluster.local".into(), "cluster.local".into()],
        options: vec!["ndots:5".into()],
    });
    sandbox.linux = Some(LinuxPodSandboxConfig {
        sysctls: HashMap::from([(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "80".to_string(),
        )]),
        ..Default::default()
    });
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        // (The pod shares its PID namespace: CRI's default mode is POD; /proc/1 is the pause.)
        let mut cfg = container_config("app", "cat /proc/self/oom_score_adj > /tmp/oom; sleep 100");
        // No seccomp profile asked for is none (critest's "nil profile"); supplemental
        // groups join the process's; a host-to-container mount reports its propagation.
        let shared = e.dir.path().join("prop");
        std::fs::create_dir_all(&shared).unwrap();
        cfg.mounts = vec![Mount {
            container_path: "/prop".into(),
            host_path: shared.display().to_string(),
            propagation: MountPropagation::PropagationHostToContainer as i32,
            selinux_relabel: true,
            ..Default::default()
        }];
        cfg.linux = Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                oom_score_adj: 500,
                ..Default::default()
            }),
            security_context: Some(LinuxContainerSecurityContext {
                masked_paths: vec!["/proc/loadavg".into()],
                readonly_paths: vec!["/proc/sys".into(), "/srv".into()],
                supplemental_groups: vec![1234, 5678],
                ..Default::default()
            }),
        });
        // A group without a user is refused, as critest wants it.
        let mut bad = cfg.clone();
        if let Some(sc) = bad
            .linux
            .as_mut()
            .and_then(|l| l.security_context.as_mut())
        {
            sc.run_as_group = Some(Int64Value { value: 100 });
        }
        let err =
            c.rt.create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(bad),
                sandbox_config: Some(sandbox.clone()),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("run_as_group"), "{err:?}");
        let id = create(&mut c, &pod, &sandbox, cfg).await;
        let st = status(&mut c, &id).await;
        assert_eq!(
            st.mounts
                .iter()
                .map(|m| (m.container_path.as_str(), m.propagation, m.selinux_relabel))
                .collect::<Vec<_>>(),
            [(
                "/prop",
                MountPropagation::PropagationHostToContainer as i32,
                true
            )]
        );
        start(&mut c, &id).await;
        let out = exec(
            &mut c,
            &id,
            &[
                "sh",
                "-c",
                "for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /tmp/oom ] && break; sleep 1; done; \
                 cat /etc/resolv.conf /proc/sys/net/ipv4/ip_unprivileged_port_start /tmp/oom; \
                 wc -c < /proc/loadavg; touch /srv/x 2>/dev/null || echo srv-read-only; \
                 id -G; grep ^Seccomp: /proc/self/status",
            ],
            0,
        )
        .await
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "nameserver 10.0.0.10\nsearch default.svc.cluster.local cluster.local\noptions ndots:5\n80\n500\n0\nsrv-read-only\n0 1234 5678\nSeccomp:\t0\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        remove_pod(&mut c, &pod).await;
    });
    drop(server);
}

#[test]
fn host_pid_and_ipc_namespaces_devices_and_hugepage_limits() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let mut sandbox = pod_config("hostns", &logs);
    sandbox.linux = Some(LinuxPodSandboxConfig {
        security_context: Some(LinuxSandboxSecurityContext {
            namespace_options: Some(NamespaceOption {
                pid: NamespaceMode::Node as i32,
                ipc: NamespaceMode::Node as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let ns = pod_status(&mut c, &pod)
            .await
            .linux
            .unwrap()
            .namespaces
            .unwrap()
            .options
            .unwrap();
        assert_eq!(
            (ns.pid, ns.ipc),
            (NamespaceMode::Node as i32, NamespaceMode::Node as i32)
        );
        let mut cfg = container_config("app", "sleep 100");
        cfg.devices = vec![Device {
            container_path: "/dev/fuse".into(),
            host_path: "/dev/fuse".into(),
            permissions: "r".into(),
        }];
        cfg.linux = Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                hugepage_limits: vec![HugepageLimit {
                    page_size: "2MB".into(),
                    limit: 4 << 20,
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        let id = create(&mut c, &pod, &sandbox, cfg).await;
        start(&mut c, &id).await;
        // The host's PID and IPC namespaces: the same links, and this test's own process.
        let out = exec(
            &mut c,
            &id,
            &[
                "sh",
                "-c",
                &format!(
                    "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; \
                     [ -d /proc/{} ] && echo sees-the-host; sleep 10 & echo $!",
                    std::process::id()
                ),
            ],
            10,
        )
        .await
        .unwrap();
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let host = |kind: &str| std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], host("pid").to_str().unwrap(), "{out}");
        assert_eq!(lines[1], host("ipc").to_str().unwrap(), "{out}");
        assert_eq!(lines[2], "sees-the-host", "{out}");
        // The huge page limit, in the container's cgroup of the unified hierarchy (the pid
        // of the exec's `sleep` is the host's).
        let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", lines[3])).unwrap();
        let unified = cgroups
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .expect("a unified cgroup");
        let max =
            std::fs::read_to_string(format!("/sys/fs/cgroup/unified{unified}/hugetlb.2MB.max"))
                .unwrap_or_else(|e| panic!("{unified}: {e}"));
        assert_eq!(max.trim(), (4u64 << 20).to_string());
        let st = status(&mut c, &id).await;
        let limits = st.resources.unwrap().linux.unwrap().hugepage_limits;
        assert_eq!(limits[0].limit, 4 << 20);
        // The device: there, readable, and not writable (its cgroup rule says "r").
        let out = exec(
            &mut c,
            &id,
            &[
                "sh",
                "-c",
                "ls -l /dev/fuse | cut -c1; exec 3</dev/fuse && echo opened-r; \
                 (exec 4<>/dev/fuse) 2>/dev/null || echo no-w",
            ],
            10,
        )
        .await
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "c\nopened-r\nno-w\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        remove_pod(&mut c, &pod).await;
    });
    drop(server);
}

/// A free TCP port on the host's loopback (bound, then released).
#[test]
fn two_pods_talk_over_the_pod_network_and_a_host_port_reaches_one() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let host_port = free_port();
    let mut web_cfg = pod_config("web", &logs);
    web_cfg.port_mappings = vec![PortMapping {
        protocol: Protocol::Tcp as i32,
        container_port: 8080,
        host_port: i32::from(host_port),
        host_ip: String::new(),
    }];
    let client_cfg = pod_config("client", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let web = run_pod(&mut c, web_cfg.clone()).await;
        let client = run_pod(&mut c, client_cfg.clone()).await;
        let srv = create(
            &mut c,
            &web,
            &web_cfg,
            container_config(
                "srv",
                "mkdir -p /www && echo hello-from-web > /www/index.html && \
                 exec httpd -f -p 8080 -h /www",
            ),
        )
        .await;
        start(&mut c, &srv).await;
        let peer = create(
            &mut c,
            &client,
            &client_cfg,
            container_config("peer", "sleep 100"),
        )
        .await;
        start(&mut c, &peer).await;
        let web_ip = pod_ip(&mut c, &web).await;
        assert!(!web_ip.is_empty(), "the web pod has an address");
        // The client pod reaches the web pod at its pod IP (busybox's static wget crashes
        // here: nc it is).
        let cmd = format!(
            "for i in $(seq 1 50); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {web_ip} 8080 \
             | grep hello && exit 0; usleep 100000; done; exit 1"
        );
        let out = exec(&mut c, &peer, &["sh", "-c", &cmd], 30).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello-from-web\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The host port (portmap) reaches it from the host's loopback.
        let body = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let t0 = Instant::now();
            loop {
                let got = (|| -> std::io::Result<String> {
                    let mut s = std::net::TcpStream::connect(("127.0.0.1", host_port))?;
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                    let mut b = String::new();
                    s.read_to_string(&mut b)?;
                    Ok(b)
                })();
                match got {
                    Ok(b) if b.contains("hello-from-web") => return b,
                    other => assert!(
                        t0.elapsed() < Duration::from_secs(20),
                        "host port {host_port}: {other:?}"
                    ),
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .await
        .unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        remove_pod(&mut c, &web).await;
        remove_pod(&mut c, &client).await;
        // The mapping went with its pod.
        assert!(std::net::TcpStream::connect(("127.0.0.1", host_port)).is_err());
    });
    drop(server);
}

/// A link that goes when dropped (a bridge a CNI plugin made for a test).
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn pods_join_the_cluster_network_from_the_cni_conf_dir() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let conf_dir = e.dir.path().join("net.d");
    std::fs::create_dir(&conf_dir).unwrap();
    let config = e.dir.path().join("cri.toml");
    std::fs::write(
        &config,
        format!("cni_conf_dir = \"{}\"\n", conf_dir.display()),
    )
    .unwrap();
    let bridge = format!("stc{}", std::process::id() % 100_000);
    let _bridge = LinkGuard(bridge.clone());
    let server = Server::start_with(&e, &config);
    let logs = e.dir.path().join("pod-logs");
    let sandbox = pod_config("cluster", &logs);
    rt().block_on(async {
        let mut c = clients(&server).await;
        let network_ready = |c: &mut Clients| {
            let mut rt = c.rt.clone();
            async move {
                let st = rt
                    .status(StatusRequest { verbose: false })
                    .await
                    .unwrap()
                    .into_inner()
                    .status
                    .unwrap();
                st.conditions
                    .into_iter()
                    .find(|c| c.r#type == "NetworkReady")
                    .unwrap()
            }
        };
        // No configuration yet: the network is not ready, and a pod is refused, leaving
        // nothing.
        let cond = network_ready(&mut c).await;
        assert!(!cond.status, "{cond:?}");
        assert_eq!(cond.reason, "NetworkPluginNotReady");
        let err =
            c.rt.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox.clone()),
                runtime_handler: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert!(err.message().contains("net.d"), "{err:?}");
        assert!(pods(&mut c, None).await.is_empty());
        // The network add-on writes its configuration (its own bridge and subnet).
        let list = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "testcluster",
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipam": {
                    "type": "host-local",
                    "dataDir": e.dir.path().join("cluster-ipam"),
                    "ranges": [[{"subnet": "10.77.41.0/24"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }],
        });
        std::fs::write(conf_dir.join("10-cluster.conflist"), list.to_string()).unwrap();
        assert!(network_ready(&mut c).await.status);
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let ip = pod_ip(&mut c, &pod).await;
        assert!(ip.starts_with("10.77.41."), "{ip}");
        let id = create(&mut c, &pod, &sandbox, container_config("app", "sleep 100")).await;
        start(&mut c, &id).await;
        let out = exec(&mut c, &id, &["ip", "-4", "-o", "addr", "show", "eth0"], 10)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{ip}/24")));
        remove_pod(&mut c, &pod).await;
        // The pod's address went back to the add-on's IPAM.
        let leases = std::fs::read_dir(e.dir.path().join("cluster-ipam/testcluster"))
            .map(|d| {
                d.flatten()
                    .filter(|f| f.file_name().to_string_lossy().starts_with("10."))
                    .count()
            })
            .unwrap_or(0);
        assert_eq!(leases, 0, "no lease left");
    });
    assert!(e.ok(&["network", "ls"]).contains("cni-testcluster"));
    drop(server);
}

#[test]
fn kubelets_pod_cidr_becomes_the_pod_networks_subnet() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let cidr = |c: &str| UpdateRuntimeConfigRequest {
        runtime_config: Some(RuntimeConfig {
            network_config: Some(NetworkConfig {
                pod_cidr: c.to_string(),
            }),
        }),
    };
    rt().block_on(async {
        let mut c = clients(&server).await;
        let err =
            c.rt.update_runtime_config(cidr("nonsense"))
                .await
                .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        c.rt.update_runtime_config(cidr("10.123.45.0/24"))
            .await
            .unwrap();
        let pod = run_pod(&mut c, pod_config("cidr", &logs)).await;
        let ip = pod_ip(&mut c, &pod).await;
        assert!(ip.starts_with("10.123.45."), "{ip}");
        // In use: a new CIDR waits (answered, not applied).
        c.rt.update_runtime_config(cidr("10.123.46.0/24"))
            .await
            .unwrap();
        remove_pod(&mut c, &pod).await;
    });
    let nets = e.ok(&["network", "inspect", "strata"]);
    assert!(nets.contains("10.123.45.0/24"), "{nets}");
    drop(server);
}

#[test]
fn a_debug_container_joins_its_targets_pid_namespace() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let mut sandbox = pod_config("debug", &logs);
    // kubelet's default without shareProcessNamespace: a PID namespace per container.
    sandbox.linux = Some(LinuxPodSandboxConfig {
        security_context: Some(LinuxSandboxSecurityContext {
            namespace_options: Some(NamespaceOption {
                pid: NamespaceMode::Container as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    rt().block_on(async {
        let mut c = clients(&server).await;
        let pod = run_pod(&mut c, sandbox.clone()).await;
        let app = create(
            &mut c,
            &pod,
            &sandbox,
            container_config("app", "exec sleep 4242"),
        )
        .await;
        start(&mut c, &app).await;
        let with_target = |target: &str| {
            let mut cfg = container_config("debugger", "sleep 100");
            cfg.linux = Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        pid: NamespaceMode::Target as i32,
                        target_id: target.to_string(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
            cfg
        };
        let dbg = create(&mut c, &pod, &sandbox, with_target(&app)).await;
        start(&mut c, &dbg).await;
        // The target's process is PID 1 of the namespace the debugger sees.
        let out = exec(&mut c, &dbg, &["cat", "/proc/1/cmdline"], 10)
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "sleep\x004242\x00");
        // No target: refused at create, nothing left.
        let mut cfg = with_target("");
        cfg.metadata.as_mut().unwrap().name = "bad".into();
        let err =
            c.rt.create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(cfg),
                sandbox_config: Some(sandbox.clone()),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert_eq!(containers(&mut c, None).await.len(), 2);
        remove_pod(&mut c, &pod).await;
    });
    drop(server);
}

/// Removes test cgroups (leaf first) from every hierarchy on drop: kubelet's pod cgroups,
/// which the runtime creates under but never removes.
struct CgroupDirs(Vec<String>);

impl Drop for CgroupDirs {
    fn drop(&mut self) {
        for rel in &self.0 {
            for h in std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
            {
                let _ = std::fs::remove_dir(h.path().join(rel.trim_start_matches('/')));
            }
        }
    }
}

/// A pod of `sandbox` with a started container that sleeps: (pod, container).
async fn pod_with_a_sleeper(c: &mut Clients, sandbox: &PodSandboxConfig) -> (String, String) {
    let pod = run_pod(c, sandbox.clone()).await;
    let id = create(c, &pod, sandbox, container_config("app", "exec sleep 1000")).await;
    start(c, &id).await;
    (pod, id)
}

/// RunPodSandbox of `sandbox` with cgroup parent `parent`: its error.
async fn refused_parent(
    c: &mut Clients,
    sandbox: &PodSandboxConfig,
    parent: &str,
) -> tonic::Status {
    let mut bad = sandbox.clone();
    bad.linux.get_or_insert_with(Default::default).cgroup_parent = parent.into();
    c.rt.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(bad),
        runtime_handler: String::new(),
    })
    .await
    .unwrap_err()
}

async fn stop_and_remove_pod(c: &mut Clients, pod: &str) {
    c.rt.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: pod.into(),
    })
    .await
    .expect("StopPodSandbox");
    remove_pod(c, pod).await;
}

/// The pids in a cgroup directory of the memory hierarchy (v1 here), or none.
fn procs(rel: &str) -> Vec<String> {
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/{}/cgroup.procs",
        rel.trim_start_matches('/')
    ))
    .unwrap_or_default()
    .lines()
    .map(str::to_string)
    .collect()
}

/// kubelet's `cgroup_parent` holds the pod's containers: with the cgroupfs driver as a
/// directory under that path, with the systemd driver as scopes in that slice (asked of
/// systemd on D-Bus, here a stand-in); a parent that is not of the driver's kind is refused.
#[test]
fn kubelets_cgroup_parent_holds_the_pods_containers_with_either_driver() {
    if !prerequisites() {
        return;
    }
    let pid = std::process::id();
    // cgroupfs: /kubepods-.../pod... (kubelet's directory, left to it).
    let top = format!("/stratacri{pid}");
    let parent = format!("{top}/podabc");
    let _dirs = CgroupDirs(vec![parent.clone(), top.clone()]);
    let e = Engine::new();
    let server = Server::start(&e);
    let logs = e.dir.path().join("pod-logs");
    let mut sandbox = pod_config("cgp", &logs);
    sandbox.linux = Some(LinuxPodSandboxConfig {
        cgroup_parent: parent.clone(),
        ..Default::default()
    });
    rt().block_on(async {
        let mut c = clients(&server).await;
        let (pod, id) = pod_with_a_sleeper(&mut c, &sandbox).await;
        let mine = procs(&format!("{parent}/{id}"));
        assert_eq!(mine.len(), 1, "the container's cgroup under the parent");
        // StartContainer returns once the runtime's init is let go, maybe before its exec.
        let is_sleep = || {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", mine[0])).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("sleep")
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !is_sleep() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(is_sleep(), "the container's process is the sleeper");
        // The infra is there too: two cgroups under the pod's.
        let under: Vec<_> = std::fs::read_dir(format!("/sys/fs/cgroup/memory{parent}"))
            .unwrap()
            .flatten()
            .filter(|d| d.path().is_dir())
            .collect();
        assert_eq!(under.len(), 2, "{under:?}");
        stop_and_remove_pod(&mut c, &pod).await;
        assert!(!Path::new(&format!("/sys/fs/cgroup/memory{parent}/{id}")).exists());
        assert!(
            Path::new(&format!("/sys/fs/cgroup/memory{parent}")).exists(),
            "kubelet's"
        );
        let err = refused_parent(&mut c, &sandbox, "a:b:c").await;
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    });
    drop(server);

    // systemd: a scope per container in kubelet's slice.
    let Some(sd) = strata_testkit::systemd::FakeSystemd::start() else {
        return;
    };
    let slice = format!("stratacri{pid}.slice");
    let _scopes = CgroupDirs(vec![slice.clone()]);
    let conf = e.dir.path().join("cri-systemd.toml");
    std::fs::write(&conf, "cgroup_driver = \"systemd\"\n").unwrap();
    let bus = sd.address();
    let server = Server::start_env(&e, &conf, &[("STRATA_RUNC_SYSTEMD_BUS", Path::new(&bus))]);
    let mut sandbox = pod_config("sdp", &logs);
    // As a path (critest's form): the slice is its last component, as containerd has it.
    sandbox.linux = Some(LinuxPodSandboxConfig {
        cgroup_parent: format!("/{slice}"),
        ..Default::default()
    });
    rt().block_on(async {
        let mut c = clients(&server).await;
        let cfg =
            c.rt.runtime_config(RuntimeConfigRequest {})
                .await
                .unwrap()
                .into_inner();
        assert_eq!(
            cfg.linux.map(|l| l.cgroup_driver),
            Some(CgroupDriver::Systemd as i32)
        );
        let (pod, id) = pod_with_a_sleeper(&mut c, &sandbox).await;
        let unit = format!("strata-{id}.scope");
        let calls: Vec<serde_json::Value> = sd
            .call_lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let started: Vec<_> = calls
            .iter()
            .filter(|c| c["method"] == "StartTransientUnit")
            .collect();
        assert_eq!(
            started.len(),
            2,
            "the infra's and the container's: {calls:?}"
        );
        let mine = started
            .iter()
            .find(|c| c["name"] == unit.as_str())
            .expect("its scope");
        assert_eq!(mine["props"]["Slice"], slice.as_str());
        assert_eq!(procs(&format!("{slice}/{unit}")).len(), 1);
        stop_and_remove_pod(&mut c, &pod).await;
        assert!(sd
            .call_lines()
            .iter()
            .any(|l| l.contains("StopUnit") && l.contains(&unit)));
        let err = refused_parent(&mut c, &sandbox, "/kubepods/podx").await;
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("slice"), "{err:?}");
    });
}
