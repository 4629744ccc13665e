//! `strata run --isolation vm`: the container runs in a microVM with its own kernel (QEMU
//! with TCG on this PVM host), through the same monitor, logs, exit statuses, stop and rm
//! as any container; what it shares with the host kernel otherwise (its release, boot id,
//! modules) is not the host's; nothing of the VM is left on the host.

mod common;

use common::{output_via_files, prerequisites, vm_agent as agent, Engine};
use std::process::Output;
use std::time::{Duration, Instant};

const IMG: &str = "localhost/busybox";

fn vm(e: &Engine, args: &[&str]) -> Output {
    output_via_files(e.cmd().env("STRATA_AGENT", agent()).args(args))
}

/// `strata run -d --name NAME --isolation vm EXTRA... IMG CMD...`; the container's id.
fn run_detached(e: &Engine, name: &str, extra: &[&str], cmd: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--isolation", "vm"];
    args.extend_from_slice(extra);
    args.push(IMG);
    args.extend_from_slice(cmd);
    let o = vm(e, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout).trim().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn host(p: &str) -> String {
    std::fs::read_to_string(p).unwrap().trim().to_string()
}

#[test]
fn a_vm_container_has_its_own_kernel_and_the_usual_lifecycle() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // Attached, removed at its end: the guest's kernel, not the host's; its exit status.
    let o = vm(
        &e,
        &["run", "--rm", "--isolation", "vm", IMG, "sh", "-c",
          "uname -r; cat /proc/sys/kernel/random/boot_id; grep -c virtio /proc/modules; echo to-err >&2; exit 4"],
    );
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(o.status.code(), Some(4), "{out}{}", text(&o.stderr));
    let release = strata_vmpod_release();
    assert_eq!(lines[0], release);
    assert_ne!(lines[0], host("/proc/sys/kernel/osrelease"));
    assert_ne!(lines[1], host("/proc/sys/kernel/random/boot_id"));
    // The guest's modules (its virtio drivers), whatever the host has loaded (or whether it
    // loads modules at all).
    assert!(lines[2].trim().parse::<usize>().unwrap() >= 3, "{out}");
    assert!(text(&o.stderr).contains("to-err"));
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm removed it");
    // Detached: logs, describe's VM and Hypervisor layers, stop (SIGTERM passed on, then
    // SIGKILL), rm; the VMM goes with it.
    let id = run_detached(
        &e,
        "v1",
        &[],
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo started; while true; do sleep 1; done",
        ],
    );
    assert_eq!(id.len(), 64, "{id}");
    wait_until(
        "output from the VM container",
        Duration::from_secs(60),
        || e.ok(&["logs", "v1"]).contains("started"),
    );
    let d = e.ok(&["describe", "v1"]);
    assert!(d.contains(&format!("guest kernel {release}")), "{d}");
    assert!(d.contains("qemu (tcg") || d.contains("qemu (kvm"), "{d}");
    let vmm = vmm_pid(&d);
    assert!(std::path::Path::new(&format!("/proc/{vmm}")).exists());
    // The Container layer is the guest's process as its config asks (the host's is the
    // shim, with every capability and no seccomp: not the container's).
    assert!(d.contains("process  in the guest"), "{d}");
    assert!(d.contains("seccomp  filter"), "{d}");
    assert!(!d.contains("CAP_SYS_ADMIN"), "{d}");
    e.ok(&["stop", "-t", "20", "v1"]);
    let st = e.inspect("v1");
    assert_eq!(
        st["State"]["ExitCode"], 7,
        "the trap ran in the guest: {st}"
    );
    assert!(e.ok(&["logs", "v1"]).contains("got-term"));
    wait_until(
        "the VMM to end with its container",
        Duration::from_secs(10),
        || !std::path::Path::new(&format!("/proc/{vmm}")).exists(),
    );
    e.ok(&["rm", "v1"]);
    // --init: the guest's strata-pause is PID 1, passes the status on and a stop's SIGTERM
    // to the command (a shell as PID 1 would not get it without a trap).
    let o = vm(
        &e,
        &[
            "run",
            "--rm",
            "--init",
            "--isolation",
            "vm",
            IMG,
            "sh",
            "-c",
            "cat /proc/1/comm; exit 5",
        ],
    );
    assert_eq!(
        (o.status.code(), text(&o.stdout).as_str()),
        (Some(5), "strata-init\n"),
        "{}",
        text(&o.stderr)
    );
    run_detached(&e, "v2", &["--init"], &["sleep", "600"]);
    wait_until("the init's child", Duration::from_secs(60), || {
        e.status(&["exec", "v2", "cat", "/proc/1/comm"]).1 == "strata-init\n"
    });
    e.ok(&["stop", "-t", "20", "v2"]);
    assert_eq!(
        e.inspect("v2")["State"]["ExitCode"],
        143,
        "sleep ended by the SIGTERM the init passed on"
    );
    e.ok(&["rm", "v2"]);
    let (code, _, err) = e.status(&["run", "--rm", "--isolation", "vmx", IMG, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("use container or vm"), "{err}");
}

#[test]
fn a_vm_container_is_on_the_pod_network_and_its_published_port_is_reached() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let port = common::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    run_detached(
        &e,
        "web",
        &["-p", &publish],
        &["sh", "-c", "ip -o -4 addr show; ip route; sed 's/^/hosts: /' /etc/hosts; echo net-shown; echo hello-from-the-guest > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"],
    );
    let ip = e.inspect("web")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!ip.is_empty(), "the VM container has the pod's address");
    // The guest's interface has the pod's address and a default route (its kernel's view).
    wait_until(
        "the guest's network in the log",
        Duration::from_secs(90),
        || e.ok(&["logs", "web"]).contains("net-shown"),
    );
    let logs = e.ok(&["logs", "web"]);
    assert!(logs.contains(&format!("inet {ip}/")), "{logs}");
    assert!(logs.contains("default via"), "{logs}");
    // The engine's /etc/hosts, with the container's own entry, reached the guest.
    assert!(logs.contains(&format!("hosts: {ip}")), "{logs}");
    // From the host through the published port (portmap's DNAT to the pod's address).
    let body = strata_testkit::http_get(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
    assert_eq!(body.as_deref(), Some("hello-from-the-guest\n"));
    // From a plain container on the same network, by the pod's address.
    let req = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {ip} 8080");
    let got = e.ok(&["run", "--rm", IMG, "sh", "-c", &req]);
    assert!(got.contains("hello-from-the-guest"), "{got}");
    let ps = e.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->8080/tcp")), "{ps}");
    // A peer that joins the network later is in the guest's /etc/hosts (the shim follows
    // the engine's file), and reached by its name; gone from it when it leaves.
    e.ok(&["run", "-d", "--name", "peer", IMG, "sleep", "300"]);
    let hosts = || e.ok(&["exec", "web", "cat", "/etc/hosts"]);
    wait_until(
        "the peer in the guest's /etc/hosts",
        Duration::from_secs(30),
        || hosts().split_whitespace().any(|w| w == "peer"),
    );
    e.ok(&["exec", "web", "ping", "-c1", "-W5", "peer"]);
    e.ok(&["rm", "-f", "peer"]);
    wait_until(
        "the peer out of the guest's /etc/hosts",
        Duration::from_secs(30),
        || !hosts().split_whitespace().any(|w| w == "peer"),
    );
    e.ok(&["rm", "-f", "web"]);
    assert!(
        strata_testkit::http_get(&format!("127.0.0.1:{port}"), Duration::ZERO).is_none(),
        "the port is unpublished"
    );
    // Sharing the host's network is refused: the VM has its own stack.
    let (code, _, err) = e.status(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--isolation",
        "vm",
        IMG,
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("[layer: vm]"), "{err}");
}

/// A VM container on two networks: an interface (veth, TAP, guest virtio-net) on each, the
/// default route on the first, peers reached on the second; its interfaces are made at its
/// boot, so it joins or leaves a network while stopped.
#[test]
fn a_vm_container_joins_several_networks() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&["network", "create", "vmfront"]);
    e.ok(&["network", "create", "vmback"]);
    e.ok(&["network", "create", "vmside"]);
    // The peer is a VM container too: two guests on one bridge, each with its own MAC.
    run_detached(
        &e,
        "srv",
        &["--network", "vmback"],
        &[
            "sh",
            "-c",
            "echo from-the-back > /tmp/index.html; exec httpd -f -p 8080 -h /tmp",
        ],
    );
    run_detached(
        &e,
        "web",
        &["--network", "vmfront,vmback"],
        &["sleep", "1000"],
    );
    let nets = e.inspect("web")["NetworkSettings"]["Networks"].clone();
    let field = |n: &str, f: &str| nets[n][f].as_str().unwrap_or_default().to_string();
    let (front, back) = (field("vmfront", "IPAddress"), field("vmback", "IPAddress"));
    assert!(!front.is_empty() && !back.is_empty(), "{nets}");
    let shown = e.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "ip -o -4 addr show; ip route; cat /sys/class/net/eth*/address",
    ]);
    assert!(shown.contains(&format!("inet {front}/")), "{shown}");
    assert!(shown.contains(&format!("inet {back}/")), "{shown}");
    assert_eq!(shown.matches("default via").count(), 1, "{shown}");
    let d = e.ok(&["describe", "web"]);
    assert!(d.contains(&format!("network  vmback ip {back}")), "{d}");
    // Each guest interface has its pod interface's MAC (not the host's NIC's).
    for n in ["vmfront", "vmback"] {
        let mac = field(n, "MacAddress");
        assert!(
            !mac.is_empty() && shown.contains(&mac),
            "{n} {mac}: {shown}"
        );
    }
    // The back network's peer, by its name, through the guest's second interface.
    let got = e.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc srv 8080",
    ]);
    assert!(got.contains("from-the-back"), "{got}");
    // Running, its interfaces are fixed: connect and disconnect say to stop it first.
    for verb in ["connect", "disconnect"] {
        let net = if verb == "connect" {
            "vmside"
        } else {
            "vmback"
        };
        let (code, _, err) = e.status(&["network", verb, net, "web"]);
        assert_ne!(code, 0, "{verb}");
        assert!(err.contains("stop it"), "{verb}: {err}");
    }
    e.ok(&["stop", "-t", "0", "web"]);
    e.ok(&["network", "disconnect", "vmback", "web"]);
    let o = vm(&e, &["start", "web"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let shown = e.ok(&["exec", "web", "ip", "-o", "-4", "addr", "show"]);
    assert_eq!(shown.matches(" inet ").count(), 2, "lo and eth0: {shown}");
    e.ok(&["rm", "-f", "web", "srv"]);
    e.ok(&["network", "rm", "vmfront", "vmback", "vmside"]);
}

#[test]
fn exec_runs_in_the_guest_with_input_and_exit_statuses() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    run_detached(&e, "x", &[], &["sleep", "1000"]);
    // Right after the start: the guest may still be starting the container.
    let o = e.run(&["exec", "x", "sh", "-c", "uname -r; echo to-err >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), strata_vmpod_release());
    assert!(text(&o.stderr).contains("to-err"));
    // Input (-i) reaches the process, and its end ends it.
    let mut c = e.cmd();
    c.args(["exec", "-i", "x", "sh", "-c", "cat; echo end-of-input"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut w = child.stdin.take().unwrap();
        w.write_all(b"line-through-the-vm\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "line-through-the-vm\nend-of-input\n");
    // A detached exec runs on after its answer.
    e.ok(&[
        "exec",
        "-d",
        "x",
        "sh",
        "-c",
        "sleep 1; echo done > /tmp/detached",
    ]);
    wait_until("the detached exec's file", Duration::from_secs(30), || {
        e.run(&["exec", "x", "cat", "/tmp/detached"]).stdout == b"done\n"
    });
    // A command that is not there: 127, as docker's.
    let (code, _, err) = e.status(&["exec", "x", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("not found"), "{err}");
    e.ok(&["rm", "-f", "x"]);
}

#[test]
fn a_vm_pods_containers_share_its_vm_and_localhost() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let port = common::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let o = vm(
        &e,
        &[
            "pod",
            "create",
            "--name",
            "vp",
            "--isolation",
            "vm",
            "--memory",
            "200m",
            "--cpus",
            "2",
            "-p",
            &publish,
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // A web server in the pod's VM...
    let o = vm(
        &e,
        &["run", "-d", "--name", "web", "--pod", "vp", IMG, "sh", "-c",
          "echo hello-from-the-pod > /tmp/index.html; uname -r; cat /proc/sys/kernel/random/boot_id; exec httpd -f -p 8080 -h /tmp"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    wait_until("web's output", Duration::from_secs(90), || {
        e.ok(&["logs", "web"]).lines().count() >= 2
    });
    let logs = e.ok(&["logs", "web"]);
    let web: Vec<&str> = logs.lines().collect();
    assert_eq!(web[0], strata_vmpod_release(), "{logs}");
    assert_ne!(web[1], host("/proc/sys/kernel/random/boot_id"));
    // ...and a second container of the pod (under --init), in the same guest kernel (its boot
    // id), reaching the first over localhost.
    let o = vm(
        &e,
        &["run", "--rm", "--init", "--pod", "vp", IMG, "sh", "-c",
          "cat /proc/sys/kernel/random/boot_id; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080; echo cpus=$(nproc); echo init=$(cat /proc/1/comm); awk '/MemTotal/{print \"mem=\" int($2/1024)}' /proc/meminfo"],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("init=strata-init\n"), "{out}");
    assert_eq!(out.lines().next(), Some(web[1]), "one VM: {out}");
    assert!(out.contains("hello-from-the-pod"), "{out}");
    // The pod's --memory and --cpus size its VM (the memory with the VM's overhead).
    assert!(out.contains("cpus=2\n"), "{out}");
    let mem: u32 = out
        .split("mem=")
        .nth(1)
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!((250..=328).contains(&mem), "guest memory {mem} MiB: {out}");
    // The pod's published port reaches the pod's VM; exec runs in the pod's container.
    let body = strata_testkit::http_get(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
    assert_eq!(body.as_deref(), Some("hello-from-the-pod\n"));
    assert_eq!(
        e.ok(&["exec", "web", "cat", "/tmp/index.html"]),
        "hello-from-the-pod\n"
    );
    // Both containers' VM is the pod's: one VMM.
    let infra = e.ok(&["pod", "inspect", "vp"]);
    let pod: serde_json::Value = serde_json::from_str(&infra).unwrap();
    let pod = if pod.is_array() { pod[0].clone() } else { pod };
    assert_eq!(pod["Isolation"], "vm", "{pod}");
    let infra_id = pod["InfraContainerID"].as_str().unwrap().to_string();
    let vmm = vmm_pid(&e.ok(&["describe", "web"]));
    assert_eq!(vmm, vmm_pid(&e.ok(&["describe", &infra_id])));
    // A container of the pod restarts in the same VM.
    let o = vm(&e, &["restart", "-t", "1", "web"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(vmm_pid(&e.ok(&["describe", "web"])), vmm);
    let body = strata_testkit::http_get(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
    assert_eq!(
        body.as_deref(),
        Some("hello-from-the-pod\n"),
        "after the restart: {}",
        e.inspect("web")["State"]
    );
    // A VM of its own in a plain pod is refused, as is a VM pod on the host's network.
    e.ok(&["pod", "create", "--name", "plain"]);
    let (code, _, err) = e.status(&["create", "--pod", "plain", "--isolation", "vm", IMG, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("not a VM pod"), "{err}");
    let (code, _, err) = e.status(&["pod", "create", "--memory", "200m"]);
    assert_eq!(code, 125);
    assert!(err.contains("--isolation vm"), "{err}");
    let (code, _, err) = e.status(&["pod", "create", "--isolation", "vm", "--network", "host"]);
    assert_eq!(code, 125);
    assert!(err.contains("[layer: vm]"), "{err}");
    e.ok(&["pod", "rm", "-f", "vp", "plain"]);
    // SAFETY: kill(2) with signal 0 only probes the pid.
    wait_until(
        "the pod's VMM to be gone",
        Duration::from_secs(10),
        || unsafe { libc::kill(vmm, 0) != 0 },
    );
    assert!(
        common::processes_with(&e.root().display().to_string()).is_empty(),
        "nothing of the pod's VM is left"
    );
}

#[test]
fn the_cri_runs_a_strata_vm_pod_with_two_containers_in_one_vm() {
    use common::cri::*;
    use k8s_cri::v1::*;
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let server = Server::start_env(
        &e,
        std::path::Path::new("/nonexistent/cri.toml"),
        &[("STRATA_AGENT", agent())],
    );
    let logs = e.dir.path().join("pod-logs");
    rt().block_on(async {
        let mut c = clients(&server).await;
        let st =
            c.rt.status(StatusRequest { verbose: false })
                .await
                .unwrap()
                .into_inner();
        assert!(
            st.runtime_handlers.iter().any(|h| h.name == "strata-vm"),
            "{:?}",
            st.runtime_handlers
        );
        let mut sandbox = pod_config("vmpod", &logs);
        // kubelet's sandbox resources (its containers' limits) and the RuntimeClass's
        // overhead size the pod's VM.
        let limits = |memory: i64, cpu_quota: i64| LinuxContainerResources {
            memory_limit_in_bytes: memory,
            cpu_quota,
            cpu_period: if cpu_quota > 0 { 100_000 } else { 0 },
            ..Default::default()
        };
        sandbox.linux = Some(LinuxPodSandboxConfig {
            resources: Some(limits(160 << 20, 150_000)),
            overhead: Some(limits(40 << 20, 0)),
            ..Default::default()
        });
        let pod =
            c.rt.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox.clone()),
                runtime_handler: "strata-vm".into(),
            })
            .await
            .expect("RunPodSandbox with strata-vm")
            .into_inner()
            .pod_sandbox_id;
        let ps = pod_status(&mut c, &pod).await;
        assert_eq!(ps.runtime_handler, "strata-vm");
        assert_eq!(ps.state, PodSandboxState::SandboxReady as i32);
        // The course's pod: a web server and a client that reaches it over localhost.
        let web = create(
            &mut c,
            &pod,
            &sandbox,
            container_config(
                "web",
                "echo hello-from-the-vm-pod > /tmp/index.html; exec httpd -f -p 8080 -h /tmp",
            ),
        )
        .await;
        start(&mut c, &web).await;
        let client = create(
            &mut c,
            &pod,
            &sandbox,
            container_config(
                "client",
                "until wget -qO- http://127.0.0.1:8080/; do sleep 1; done; exec sleep 1000",
            ),
        )
        .await;
        start(&mut c, &client).await;
        let log = logs.join("client/0.log");
        until("the client's log", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("hello-from-the-vm-pod"))
        });
        // Both run in the VM's kernel, one kernel for the pod.
        let release = exec(&mut c, &web, &["uname", "-r"], 60).await.unwrap();
        assert_eq!(text(&release.stdout).trim(), strata_vmpod_release());
        let nproc = exec(&mut c, &web, &["nproc"], 60).await.unwrap();
        assert_eq!(text(&nproc.stdout).trim(), "2", "1.5 CPUs, rounded up");
        let boot = |r: ExecSyncResponse| text(&r.stdout).trim().to_string();
        let web_boot = boot(
            exec(
                &mut c,
                &web,
                &["cat", "/proc/sys/kernel/random/boot_id"],
                60,
            )
            .await
            .unwrap(),
        );
        let client_boot = boot(
            exec(
                &mut c,
                &client,
                &["cat", "/proc/sys/kernel/random/boot_id"],
                60,
            )
            .await
            .unwrap(),
        );
        assert_eq!(web_boot, client_boot);
        assert_ne!(web_boot, host("/proc/sys/kernel/random/boot_id"));
        assert_eq!(
            status(&mut c, &client).await.state,
            ContainerState::ContainerRunning as i32
        );
        c.rt.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap();
        assert_eq!(
            status(&mut c, &web).await.state,
            ContainerState::ContainerExited as i32
        );
        remove_pod(&mut c, &pod).await;
        assert!(pods(&mut c, None).await.is_empty());
    });
    drop(server);
    assert!(
        common::processes_with(&e.root().display().to_string()).is_empty(),
        "nothing of the pod's VM is left"
    );
}

#[test]
fn exec_it_in_a_vm_container_gets_a_guest_terminal_of_the_callers_size() {
    use std::io::Write;
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    run_detached(&e, "tty", &[], &["sleep", "1000"]);
    let (master, slave) = common::pty(31, 97);
    let mut cmd = e.cmd();
    cmd.args(["exec", "-it", "tty", "sh"]);
    let mut child = common::spawn_on_terminal(&mut cmd, slave);
    let mut m = std::fs::File::from(master);
    m.write_all(b"stty size; tty; uname -r; echo $((6*7))X\n")
        .unwrap();
    let seen = common::read_until(&mut m, "42X", Duration::from_secs(60));
    assert!(seen.contains("31 97"), "the caller's window size: {seen:?}");
    assert!(
        seen.contains("/dev/pts/"),
        "a terminal in the guest: {seen:?}"
    );
    assert!(
        seen.contains(&strata_vmpod_release()),
        "the guest's kernel: {seen:?}"
    );
    // Our terminal resized: the guest's follows.
    common::resize_and_see(&mut m, (50, 120), Duration::from_secs(30));
    m.write_all(b"exit 7\n").unwrap();
    let st = child
        .wait_timeout(Duration::from_secs(30))
        .expect("exec ended");
    assert_eq!(st.code(), Some(7));
    assert!(
        !e.ok(&["logs", "tty"]).contains("42X"),
        "the session's output is not the log's"
    );
    assert_eq!(e.ok(&["exec", "tty", "echo", "again"]), "again\n");
    e.ok(&["rm", "-f", "tty"]);
}

#[test]
fn run_i_and_run_it_give_a_vm_containers_init_stdin_and_a_terminal() {
    use std::io::Write;
    use std::process::Stdio;
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // -i: the init reads what the caller pipes in, to its end.
    let mut child = e
        .cmd()
        .env("STRATA_AGENT", agent())
        .args([
            "run",
            "-i",
            "--rm",
            "--isolation",
            "vm",
            IMG,
            "sh",
            "-c",
            "cat; echo end",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(text(&o.stdout), "one\ntwo\nend\n", "{}", text(&o.stderr));
    assert_eq!(o.status.code(), Some(0));
    // -it: a terminal in the guest of the caller's size, and the init's exit status.
    let (master, slave) = common::pty(33, 91);
    let mut cmd = e.cmd();
    cmd.env("STRATA_AGENT", agent())
        .args(["run", "--rm", "-it", "--isolation", "vm", IMG, "sh"]);
    let mut child = common::spawn_on_terminal(&mut cmd, slave);
    let mut m = std::fs::File::from(master);
    let t0 = Instant::now();
    let mut seen = String::new();
    while !seen.contains("42X") {
        assert!(t0.elapsed() < Duration::from_secs(90), "no shell: {seen:?}");
        m.write_all(b"stty size; tty; echo $((6*7))X\n").unwrap();
        seen.push_str(&common::read_until(&mut m, "42X", Duration::from_secs(5)));
    }
    assert!(seen.contains("33 91"), "the caller's window size: {seen:?}");
    assert!(
        seen.contains("/dev/pts/"),
        "a terminal in the guest: {seen:?}"
    );
    m.write_all(b"exit 3\n").unwrap();
    let st = child
        .wait_timeout(Duration::from_secs(30))
        .expect("run ended");
    assert_eq!(st.code(), Some(3));
}

#[test]
fn an_oom_kill_in_the_guest_is_reported_as_for_a_plain_container() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // The guest kernel enforces the container's limit; its OOM killer ends the process
    // that went past it, and the container's state says so.
    let o = vm(
        &e,
        &[
            "run",
            "--name",
            "oom",
            "--isolation",
            "vm",
            "--memory",
            "20m",
            IMG,
            "sh",
            "-c",
            "head -c 200m /dev/zero | tail > /dev/null",
        ],
    );
    assert_eq!(o.status.code(), Some(137), "{}", text(&o.stderr));
    let st = e.inspect("oom")["State"].clone();
    assert_eq!(st["OOMKilled"], true, "{st}");
    let err = st["Error"].as_str().unwrap_or_default();
    assert!(err.contains("OOM killer") && err.contains("20 MiB"), "{st}");
    assert!(
        !text(&o.stderr).contains("strata-runc"),
        "the guest runtime's notes stay out of the container's stderr"
    );
    // Without a limit reached, no OOM is reported.
    vm(
        &e,
        &[
            "run",
            "--name",
            "fine",
            "--isolation",
            "vm",
            "--memory",
            "64m",
            IMG,
            "true",
        ],
    );
    assert_eq!(e.inspect("fine")["State"]["OOMKilled"], false);
    e.ok(&["rm", "oom", "fine"]);
}

#[test]
fn vm_containers_share_volumes_with_the_host_through_virtio_fs() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&["volume", "create", "data"]);
    let host_dir = e.dir.path().join("host-dir");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("h"), "from-the-host\n").unwrap();
    let ro = format!("{}:/b:ro", host_dir.display());
    // A VM container writes a named volume and reads a host directory it cannot write.
    let o = vm(
        &e,
        &[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "-v",
            &ro,
            "--isolation",
            "vm",
            IMG,
            "sh",
            "-c",
            "echo from-the-vm > /data/f; cat /b/h; echo x > /b/nope || echo read-only",
        ],
    );
    assert_eq!(
        text(&o.stdout),
        "from-the-host\nread-only\n",
        "{}",
        text(&o.stderr)
    );
    assert!(!host_dir.join("nope").exists());
    // A plain container sees what the VM wrote; so does a container of a VM pod.
    let o = vm(
        &e,
        &["run", "--rm", "-v", "data:/data", IMG, "cat", "/data/f"],
    );
    assert_eq!(text(&o.stdout), "from-the-vm\n");
    e.ok(&["pod", "create", "--name", "vp", "--isolation", "vm"]);
    let o = vm(
        &e,
        &[
            "run",
            "--rm",
            "--pod",
            "vp",
            "-v",
            "data:/data",
            IMG,
            "sh",
            "-c",
            "cat /data/f; echo from-the-pod >> /data/f",
        ],
    );
    assert_eq!(text(&o.stdout), "from-the-vm\n", "{}", text(&o.stderr));
    let f = e.ok(&["run", "--rm", "-v", "data:/data", IMG, "cat", "/data/f"]);
    assert_eq!(f, "from-the-vm\nfrom-the-pod\n");
    e.ok(&["pod", "rm", "-f", "vp"]);
    // Nothing of the share is left: no virtiofsd, no mount of a volume.
    wait_until(
        "the VMs' processes to be gone",
        Duration::from_secs(10),
        || common::processes_with(&e.runroot().display().to_string()).is_empty(),
    );
    let left = common::mounts_under(&e.runroot().join("containers"));
    assert!(left.is_empty(), "{left:?}");
    e.ok(&["volume", "rm", "data"]);
}

/// The VMM's pid in `strata describe`'s Hypervisor layer.
/// An image of more layers than a VM has disks for (21 for a VM container, 8 for each
/// container of a VM pod): its lowest layers become one disk of their merged tree, with their
/// whiteouts and opaque directories applied; the disks go when the image does.
#[test]
fn images_of_more_layers_than_a_vm_has_disks_run_merged() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let ctx = e.dir.path().join("layers-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let mut dockerfile = format!("FROM {IMG}\n");
    for i in 1..=23 {
        let step = match i {
            // Merged in both: a directory made opaque, a file deleted.
            2 => "mkdir /d && echo old > /d/old && echo gone > /gone".to_string(),
            3 => "rm -rf /d /gone && mkdir /d && echo new > /d/new".to_string(),
            // Merged in the pod, deleted above the merged disk in both.
            5 => "echo x > /x".to_string(),
            22 => "rm /x".to_string(),
            _ => format!("echo layer{i} > /l{i}"),
        };
        dockerfile.push_str(&format!("RUN {step}\n"));
    }
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    e.ok(&[
        "build",
        "-q",
        "-t",
        "localhost/layers:24",
        ctx.to_str().unwrap(),
    ]);
    let check = "cat /l1 /l23; ls /d; test -e /gone || echo no-gone; test -e /x || echo no-x";
    let want = "layer1\nlayer23\nnew\nno-gone\nno-x\n";
    let o = vm(
        &e,
        &[
            "run",
            "--rm",
            "--isolation",
            "vm",
            "localhost/layers:24",
            "sh",
            "-c",
            check,
        ],
    );
    assert_eq!(text(&o.stdout), want, "{}", text(&o.stderr));
    let o = vm(&e, &["pod", "create", "--name", "lp", "--isolation", "vm"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = vm(
        &e,
        &[
            "run",
            "--rm",
            "--pod",
            "lp",
            "localhost/layers:24",
            "sh",
            "-c",
            check,
        ],
    );
    assert_eq!(text(&o.stdout), want, "{}", text(&o.stderr));
    e.ok(&["pod", "rm", "-f", "lp"]);
    let disks = e.root().join("derived/vm-layers");
    let merged = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|f| {
                let name = f.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".flat.erofs")
            })
            .count()
    };
    assert_eq!(
        merged(&disks),
        2,
        "one merged disk each for the container and the pod"
    );
    // The container's 20 layers of their own (the pod's 7 are among them) and the two merged.
    assert_eq!(std::fs::read_dir(&disks).unwrap().count(), 22);
    // Removing the image and its build steps' (cached, as docker's are, until a prune)
    // removes its disks.
    e.ok(&["rmi", "localhost/layers:24"]);
    e.ok(&["image", "prune"]);
    assert_eq!(std::fs::read_dir(&disks).unwrap().count(), 0);
}

/// Builds `localhost/NAME:9`: the busybox image and eight layers of files `/NAME1`..`/NAME8`.
fn build_nine_layers(e: &Engine, name: &str) -> String {
    let ctx = e.dir.path().join(format!("ctx-{name}"));
    std::fs::create_dir_all(&ctx).unwrap();
    let mut dockerfile = format!("FROM {IMG}\n");
    for i in 1..=8 {
        dockerfile.push_str(&format!("RUN echo {name}{i} > /{name}{i}\n"));
    }
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let tag = format!("localhost/{name}:9");
    e.ok(&["build", "-q", "-t", &tag, ctx.to_str().unwrap()]);
    tag
}

/// A pod VM's 16 layer disks hold 8 of each of two images; a third image takes
/// the disks of an image no container uses any more, never those of a running container.
#[test]
fn a_pod_vm_reuses_the_disks_of_layers_no_container_uses() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let [a, b, c] = ["a", "b", "c"].map(|n| build_nine_layers(&e, n));
    let o = vm(&e, &["pod", "create", "--name", "rp", "--isolation", "vm"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--pod", "rp"];
        all.extend_from_slice(args);
        vm(&e, &all)
    };
    let ok = |o: Output, want: &str| {
        assert_eq!(text(&o.stdout), want, "{}", text(&o.stderr));
        assert!(o.status.success());
    };
    let o = run(&["-d", "--name", "ca", &a, "sleep", "1000"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    ok(run(&["--rm", &b, "cat", "/b1", "/b8"]), "b1\nb8\n");
    // All 16 disks hold layers: b's, whose container is gone, make room for c's (behind the
    // same SCSI disks).
    let o = run(&["-d", "--name", "cc", &c, "sleep", "1000"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    ok(vm(&e, &["exec", "cc", "cat", "/c1", "/c8"]), "c1\nc8\n");
    // With a's and c's containers running, b finds no disk.
    let o = run(&["--rm", &b, "true"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no free disk"),
        "{}",
        text(&o.stderr)
    );
    ok(vm(&e, &["exec", "ca", "cat", "/a1", "/a8"]), "a1\na8\n");
    e.ok(&["rm", "-f", "cc"]);
    ok(run(&["--rm", &b, "cat", "/b1", "/b8"]), "b1\nb8\n");
    ok(vm(&e, &["exec", "ca", "cat", "/a1", "/a8"]), "a1\na8\n");
    e.ok(&["pod", "rm", "-f", "rp"]);
}

/// A loop device over a file, detached on drop.
struct Loop(String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.0])
            .status();
    }
}

/// An engine and a loop device over a zeroed 1 MiB file `disk.img` in its directory; none
/// without the prerequisites (then CI=true fails).
fn engine_with_loop_device() -> Option<(Engine, std::path::PathBuf, Loop)> {
    if !(prerequisites() && strata_testkit::require_tools(&["losetup"])) {
        return None;
    }
    let e = Engine::new();
    let img = e.dir.path().join("disk.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let o = std::process::Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(o.status.success(), "losetup: {}", text(&o.stderr));
    let lo = Loop(text(&o.stdout).trim().to_string());
    Some((e, img, lo))
}

#[test]
fn devices_reach_a_vm_container() {
    // A block device (a loop device over a file of the test's) becomes a disk of the VM; a
    // character device is the guest kernel's own node.
    let Some((e, img, lo)) = engine_with_loop_device() else {
        return;
    };
    // `run --rm --isolation vm` with the loop device at /dev/xvdb and /dev/fuse, with those
    // accesses, running `script`; its output.
    let run = |(disk, fuse): (&str, &str), script: &str| {
        let o = vm(
            &e,
            &[
                "run",
                "--rm",
                "--isolation",
                "vm",
                "--device",
                &format!("{}:/dev/xvdb:{disk}", lo.0),
                "--device",
                &format!("/dev/fuse:/dev/fuse:{fuse}"),
                IMG,
                "sh",
                "-c",
                script,
            ],
        );
        let out = text(&o.stdout);
        assert!(o.status.success(), "{out}{}", text(&o.stderr));
        assert!(
            out.lines()
                .any(|l| l.starts_with('c') && l.contains("10, 229") && l.ends_with("/dev/fuse")),
            "{out}"
        );
        out
    };
    // Given with fewer permissions than rwm: the guest's node bound, its rule (and for a
    // block device, the disk) as limited as asked.
    a_block_device_is_written_then_read_only(&img, |access, script| {
        let fuse = if access == "rwm" { "rwm" } else { "rw" };
        run((access, fuse), &format!("{script}; ls -l /dev/fuse"))
    });
}

/// Runs a container given a loop device over `img` at /dev/xvdb through `run(access,
/// script)` (its output) twice: with `rwm` it writes to the device, which reaches `img`; with
/// `r` it reads that back and its write is refused.
fn a_block_device_is_written_then_read_only(
    img: &std::path::Path,
    run: impl Fn(&str, &str) -> String,
) {
    let out = run(
        "rwm",
        "ls -l /dev/xvdb; echo written-in-the-guest | dd of=/dev/xvdb conv=fsync 2>/dev/null; echo done",
    );
    assert!(out.contains("done"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('b') && l.ends_with("/dev/xvdb")),
        "{out}"
    );
    let written = || {
        std::fs::read(img)
            .unwrap()
            .starts_with(b"written-in-the-guest\n")
    };
    assert!(written(), "the host's file has the guest's write");
    let out = run(
        "r",
        "head -c 20 /dev/xvdb; echo; if echo x > /dev/xvdb; then echo wrote; else echo refused; fi",
    );
    assert!(out.starts_with("written-in-the-guest\n"), "{out}");
    assert!(out.contains("refused\n") && !out.contains("wrote"), "{out}");
    assert!(written(), "the read-only device kept its content");
}

#[test]
fn a_vm_pods_containers_get_block_devices_as_disks_while_they_run() {
    let Some((e, img, lo)) = engine_with_loop_device() else {
        return;
    };
    let o = vm(&e, &["pod", "create", "--name", "dp", "--isolation", "vm"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // A container of the running pod VM given the loop device at /dev/xvdb with `access`,
    // running `script`; its output.
    let run = |access: &str, script: &str| {
        let device = format!("{}:/dev/xvdb:{access}", lo.0);
        let o = vm(
            &e,
            &[
                "run", "--rm", "--pod", "dp", "--device", &device, IMG, "sh", "-c", script,
            ],
        );
        let out = text(&o.stdout);
        assert!(o.status.success(), "{out}{}", text(&o.stderr));
        out
    };
    // The first container's disk goes with it: QEMU holds a writable device's lock, so the
    // same device would not attach to the second while it stayed.
    a_block_device_is_written_then_read_only(&img, run);
    let o = vm(&e, &["pod", "rm", "-f", "dp"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

fn vmm_pid(describe: &str) -> i32 {
    describe
        .split("VMM pid ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the VMM's pid in describe: {describe}"))
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn vm_faults_end_the_container_with_a_reason_naming_the_vm_layer() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // A killed VMM.
    run_detached(
        &e,
        "k",
        &[],
        &["sh", "-c", "echo up; while true; do sleep 1; done"],
    );
    wait_until("k's output", Duration::from_secs(90), || {
        e.ok(&["logs", "k"]).contains("up")
    });
    let vmm = vmm_pid(&e.ok(&["describe", "k"]));
    // SAFETY: kill(2) of the VMM this test's container started.
    assert_eq!(unsafe { libc::kill(vmm, libc::SIGKILL) }, 0);
    wait_until("k to exit", Duration::from_secs(30), || {
        e.inspect("k")["State"]["Status"] == "exited"
    });
    let st = e.inspect("k")["State"].clone();
    assert_eq!(st["ExitCode"], 137, "{st}");
    let err = st["Error"].as_str().unwrap_or_default();
    assert!(
        err.contains("[layer: vm]")
            && err.contains(&format!("VMM (qemu, pid {vmm}) was killed by signal 9")),
        "{st}"
    );
    // The guest kernel's panic: a container privileged in its guest crashes that kernel
    // (and only that one).
    let o = vm(
        &e,
        &[
            "run",
            "--name",
            "p",
            "--privileged",
            "--isolation",
            "vm",
            IMG,
            "sh",
            "-c",
            "echo c > /proc/sysrq-trigger; sleep 60",
        ],
    );
    assert_eq!(o.status.code(), Some(137), "{}", text(&o.stderr));
    let st = e.inspect("p")["State"].clone();
    let err = st["Error"].as_str().unwrap_or_default();
    assert!(
        err.contains("[layer: vm]") && err.contains("the guest kernel panicked"),
        "{st}"
    );
    e.ok(&["rm", "k", "p"]);
    assert!(
        common::processes_with(&e.root().display().to_string()).is_empty(),
        "nothing of the VMs is left"
    );
}

/// The guest kernel's release (the unpacked kernel's directory name).
fn strata_vmpod_release() -> String {
    let boot = std::fs::read_dir("/var/cache/strata/kernel/boot")
        .expect("the guest kernel (scripts/install-deps)");
    boot.flatten()
        .find_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_string)
        })
        .expect("a vmlinuz")
}
