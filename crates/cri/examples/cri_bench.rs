//! A CRI client that times the RPCs kubelet makes for a pod's life, against any CRI socket
//! (strata's or containerd's), for crates/cri/bench/bench.sh:
//!
//! `cri_bench --socket S --image IMG --runs N --label L [--list 100] [--pods 50]`
//!
//! Each run: RunPodSandbox, CreateContainer, StartContainer, StopContainer,
//! RemoveContainer, StopPodSandbox, RemovePodSandbox, each timed. `--list M` then times
//! ListContainers with M created containers in one pod; `--pods P` leaves P running pods
//! for a memory measurement and waits for a line on stdin before removing them. Prints one
//! JSON object per line: {"label","op","ms":[...]}.

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use std::collections::HashMap;
use std::time::Instant;
use tonic::transport::{Channel, Endpoint};

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1).cloned())
}

async fn channel(socket: String) -> Channel {
    Endpoint::try_from("http://[::]:50051")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .expect("connect to the CRI socket")
}

fn pod(name: &str) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "bench".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: format!("/tmp/cri-bench-logs/{name}"),
        linux: Some(LinuxPodSandboxConfig::default()),
        ..Default::default()
    }
}

fn container(name: &str, image: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: vec!["sleep".into(), "1000".into()],
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig::default()),
        ..Default::default()
    }
}

async fn run_pod(rt: &mut RuntimeServiceClient<Channel>, cfg: PodSandboxConfig) -> String {
    rt.run_pod_sandbox(RunPodSandboxRequest {
        config: Some(cfg),
        runtime_handler: String::new(),
    })
    .await
    .expect("RunPodSandbox")
    .into_inner()
    .pod_sandbox_id
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn emit(label: &str, op: &str, v: &[f64]) {
    let list: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    println!(
        "{{\"label\":\"{label}\",\"op\":\"{op}\",\"ms\":[{}]}}",
        list.join(",")
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let socket = arg("--socket").expect("--socket");
    let image = arg("--image").expect("--image");
    let label = arg("--label").unwrap_or_else(|| "cri".into());
    let runs: usize = arg("--runs").map_or(10, |v| v.parse().unwrap());
    let list_n: usize = arg("--list").map_or(0, |v| v.parse().unwrap());
    let pods_n: usize = arg("--pods").map_or(0, |v| v.parse().unwrap());
    let ch = channel(socket).await;
    let mut rt = RuntimeServiceClient::new(ch.clone());
    let mut img = ImageServiceClient::new(ch);
    img.pull_image(PullImageRequest {
        image: Some(ImageSpec {
            image: image.clone(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .expect("PullImage");
    let mut times: HashMap<&str, Vec<f64>> = HashMap::new();
    for r in 0..runs {
        let name = format!("{label}-p{r}-{}", std::process::id());
        let cfg = pod(&name);
        let t = Instant::now();
        let id = run_pod(&mut rt, cfg.clone()).await;
        times.entry("RunPodSandbox").or_default().push(ms(t));
        let t = Instant::now();
        let cid = rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: id.clone(),
                config: Some(container("c", &image)),
                sandbox_config: Some(cfg.clone()),
            })
            .await
            .expect("CreateContainer")
            .into_inner()
            .container_id;
        times.entry("CreateContainer").or_default().push(ms(t));
        let t = Instant::now();
        rt.start_container(StartContainerRequest {
            container_id: cid.clone(),
        })
        .await
        .expect("StartContainer");
        times.entry("StartContainer").or_default().push(ms(t));
        let t = Instant::now();
        rt.stop_container(StopContainerRequest {
            container_id: cid.clone(),
            timeout: 0,
        })
        .await
        .expect("StopContainer");
        times.entry("StopContainer").or_default().push(ms(t));
        let t = Instant::now();
        rt.remove_container(RemoveContainerRequest { container_id: cid })
            .await
            .expect("RemoveContainer");
        times.entry("RemoveContainer").or_default().push(ms(t));
        let t = Instant::now();
        rt.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.clone(),
        })
        .await
        .expect("StopPodSandbox");
        times.entry("StopPodSandbox").or_default().push(ms(t));
        let t = Instant::now();
        rt.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .expect("RemovePodSandbox");
        times.entry("RemovePodSandbox").or_default().push(ms(t));
    }
    for (op, v) in &times {
        emit(&label, op, v);
    }
    if list_n > 0 {
        let name = format!("{label}-list-{}", std::process::id());
        let cfg = pod(&name);
        let id = run_pod(&mut rt, cfg.clone()).await;
        for i in 0..list_n {
            rt.create_container(CreateContainerRequest {
                pod_sandbox_id: id.clone(),
                config: Some(container(&format!("c{i}"), &image)),
                sandbox_config: Some(cfg.clone()),
            })
            .await
            .expect("CreateContainer");
        }
        let mut v = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let n = rt
                .list_containers(ListContainersRequest { filter: None })
                .await
                .expect("ListContainers")
                .into_inner()
                .containers
                .len();
            v.push(ms(t));
            assert!(n >= list_n);
        }
        emit(&label, &format!("ListContainers{list_n}"), &v);
        rt.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.clone(),
        })
        .await
        .expect("StopPodSandbox");
        rt.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .expect("RemovePodSandbox");
    }
    if pods_n > 0 {
        let mut ids = Vec::new();
        for i in 0..pods_n {
            let cfg = pod(&format!("{label}-mem{i}-{}", std::process::id()));
            let id = run_pod(&mut rt, cfg).await;
            ids.push(id);
        }
        println!("{{\"label\":\"{label}\",\"pods\":{pods_n},\"ready\":true}}");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        for id in ids {
            let _ = rt
                .stop_pod_sandbox(StopPodSandboxRequest {
                    pod_sandbox_id: id.clone(),
                })
                .await;
            let _ = rt
                .remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
                .await;
        }
    }
}
