//! The engine end to end through the `strata` CLI: run, exec, logs, ps, inspect, stop, rm,
//! exit statuses, restart policies, and bad input that leaves nothing behind.

mod common;

use common::{prerequisites, Engine};
use std::time::{Duration, Instant};

const IMG: &str = "localhost/busybox";

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let (code, out, _) = e.status(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!((code, out.as_str()), (3, "out\n"));
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm removed it");
    let (code, _, err) = e.status(&["run", "--rm", "--network", "none", IMG, "/no/such/cmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("[layer: image]"), "{err}");
    let (code, _, err) = e.status(&["run", "--rm", "--network", "none", IMG, "/etc/passwd"]);
    assert_eq!(code, 126, "{err}");
    let (code, out, _) = e.status(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "cat /proc/1/comm; exit 4",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (4, "strata-init\n"),
        "--init is PID 1 and passes the status on"
    );
    let (code, _, err) = e.status(&["run", "--rm", "--network", "none", "localhost/nope"]);
    assert_eq!(code, 125, "{err}");
    assert_eq!(e.ok(&["ps", "-aq"]), "", "failed runs leave nothing");
}

#[test]
fn detached_container_exec_logs_ps_inspect_stop_rm() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "-e",
        "GREETING=hi",
        "--label",
        "app=demo",
        "--group-add",
        "4321",
        IMG,
        "sh",
        "-c",
        "echo started $GREETING; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    wait_for("the log line", Duration::from_secs(10), || {
        e.ok(&["logs", "web"]).contains("started hi")
    });
    assert_eq!(
        e.ok(&["ps", "--format", "{{.Names}} {{.State}}"]),
        "web running\n"
    );
    assert_eq!(
        e.ok(&["ps", "-q", "--filter", "label=app=demo"]).trim(),
        &id[..12]
    );
    assert_eq!(
        e.ok(&["exec", "web", "sh", "-c", "echo $GREETING $(hostname)"]),
        format!("hi {}\n", &id[..12])
    );
    assert_eq!(e.ok(&["exec", "-u", "user", "web", "id", "-u"]), "1000\n");
    // --group-add's group is the process's and its execs' (with -u too, as docker has it).
    assert_eq!(e.ok(&["exec", "web", "id", "-G"]), "0 4321\n");
    assert!(e
        .ok(&["exec", "-u", "user", "web", "id", "-G"])
        .contains("4321"));
    assert_eq!(e.status(&["exec", "web", "sh", "-c", "exit 5"]).0, 5);
    let v = e.inspect("web");
    assert_eq!(v["State"]["Status"], "running");
    assert!(v["State"]["Pid"].as_i64().unwrap() > 0);
    assert!(v["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "GREETING=hi"));
    assert_eq!(v["Config"]["Labels"]["app"], "demo");
    e.ok(&["stop", "web"]);
    let v = e.inspect("web");
    assert_eq!(
        (
            v["State"]["Status"].as_str(),
            v["State"]["ExitCode"].as_i64()
        ),
        (Some("exited"), Some(0))
    );
    assert!(
        e.ok(&["logs", "web"]).ends_with("bye\n"),
        "stop sent SIGTERM first"
    );
    assert_eq!(e.ok(&["ps", "-q"]), "", "not running");
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), &id[..12]);
    e.ok(&["start", "web"]);
    assert_eq!(e.inspect("web")["State"]["Status"], "running");
    let (code, _, err) = e.status(&["rm", "web"]);
    assert_eq!(code, 125);
    assert!(err.contains("stop it first"), "{err}");
    e.ok(&["rm", "-f", "web"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(!e.root().join("containers").join(id).exists());
}

#[test]
fn restart_policy_on_failure_restarts_up_to_its_limit() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        IMG,
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    wait_for("two restarts", Duration::from_secs(30), || {
        let v = e.inspect("flaky");
        v["RestartCount"] == 2 && v["State"]["Status"] == "exited"
    });
    std::thread::sleep(Duration::from_millis(500));
    let v = e.inspect("flaky");
    assert_eq!(
        (v["RestartCount"].as_i64(), v["State"]["ExitCode"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(e.ok(&["logs", "flaky"]), "run\nrun\nrun\n");
}

#[test]
fn start_all_brings_back_restart_policies_after_a_reboot() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    for (name, policy) in [
        ("a", "always"),
        ("b", "unless-stopped"),
        ("c", "no"),
        ("d", "unless-stopped"),
    ] {
        e.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--restart",
            policy,
            IMG,
            "sleep",
            "300",
        ]);
    }
    e.ok(&["stop", "-t", "0", "d"]);
    // A reboot: every monitor and container process gone at once, the records still saying
    // "running".
    for name in ["a", "b", "c"] {
        let v = e.inspect(name);
        for key in ["ConmonPid", "Pid"] {
            let pid = v["State"][key].as_i64().unwrap() as i32;
            assert!(pid > 0, "{name} {key}");
            // SAFETY: kill of a process this test's engine started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    wait_for("the processes to go", Duration::from_secs(10), || {
        ["a", "b", "c"]
            .iter()
            .all(|n| e.inspect(n)["State"]["Status"] == "exited")
    });
    let started = e.ok(&[
        "start",
        "--all",
        "--filter",
        "restart-policy=always",
        "--filter",
        "restart-policy=unless-stopped",
    ]);
    assert_eq!(started.lines().count(), 2, "{started}");
    let status = |n: &str| {
        e.inspect(n)["State"]["Status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        (status("a"), status("b"), status("c"), status("d")),
        (
            "running".into(),
            "running".into(),
            "exited".into(),
            "exited".into()
        ),
        "always and unless-stopped come back; no, and what the user stopped, do not"
    );
    e.ok(&["rm", "-f", "a", "b", "c", "d"]);
}

#[test]
fn bad_input_is_one_line_with_status_125_and_leaves_nothing() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&[
        "create",
        "--name",
        "taken",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--name", "taken", IMG, "true"], "already in use"),
        (&["run", "--memory", "lots", IMG, "true"], "invalid size"),
        (
            &["run", "-v", "/does/not/exist:/x", IMG, "true"],
            "does not exist",
        ),
        (&["run", "-p", "99999:80", IMG, "true"], "invalid port"),
        (
            &["run", "--restart", "sometimes", IMG, "true"],
            "restart policy",
        ),
        (
            &["run", "--cap-add", "FLY", IMG, "true"],
            "unknown capability",
        ),
        (&["stop", "nosuch"], "no such container"),
    ];
    for (args, want) in cases {
        let (code, _, err) = e.status(args);
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
    }
    let profile = e.dir.path().join("bad-seccomp.json");
    std::fs::write(&profile, "{ not json").unwrap();
    let sec = format!("seccomp={}", profile.display());
    let (code, _, err) = e.status(&["run", "--security-opt", &sec, IMG, "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("does not parse"), "{err}");
    assert_eq!(
        e.ok(&["ps", "-a", "--format", "{{.Names}}"]),
        "taken\n",
        "nothing half-created"
    );
}

#[test]
fn an_oom_kill_is_reported_by_run_inspect_describe_and_events() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let (code, _, err) = e.status(&[
        "run",
        "--name",
        "hog",
        "--network",
        "none",
        "--memory",
        "16m",
        IMG,
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    let cause = "exited 137: killed by the kernel's OOM killer (cgroup memory limit 16 MiB reached) [layer: cgroup]";
    assert_eq!(code, 137);
    assert!(err.contains(cause), "run's error: {err}");
    let v = e.inspect("hog");
    assert_eq!(v["State"]["OOMKilled"], true);
    assert_eq!(v["State"]["Error"], cause);
    let d = e.ok(&["describe", "hog"]);
    assert_eq!(d.lines().next(), Some(format!("! {cause}").as_str()), "{d}");
    let ev = e.ok(&[
        "events",
        "--no-follow",
        "--filter",
        "container=hog",
        "--format",
        "{{.Action}} {{.Actor.Attributes.exitCode}}",
    ]);
    assert_eq!(
        ev,
        "create <no value>\nstart <no value>\noom <no value>\ndie 137\n"
    );
}

#[test]
fn describe_shows_the_stack_by_layer() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--network",
        "none",
        "--memory",
        "64m",
        "--pids-limit",
        "40",
        IMG,
        "sh",
        "-c",
        "echo ready; sleep 100",
    ]);
    wait_for("output", Duration::from_secs(10), || {
        e.ok(&["logs", "svc"]).contains("ready")
    });
    let text = e.ok(&["describe", "svc"]);
    let sections: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        sections,
        [
            "App",
            "Container",
            "Pod",
            "Node",
            "VM",
            "Hypervisor",
            "Events"
        ],
        "{text}"
    );
    assert!(text.contains("stdout | ready"), "{text}");
    assert!(text.contains("/ 64 MiB"), "{text}");
    assert!(text.contains("pids     1 / 40"), "{text}");
    assert!(text.contains("none: shares the host kernel"), "{text}");
    let pid = e.inspect("svc")["State"]["Pid"].as_i64().unwrap();
    assert!(text.contains(&format!("nsenter -t {pid} -n")), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["describe", "--format", "json", "svc"])).unwrap();
    let net = v["container"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "net")
        .unwrap()
        .clone();
    let inode = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(
        format!("net:[{}]", net["inode"]),
        inode.to_string_lossy(),
        "the inode lsns shows"
    );
    assert_eq!(v["container"]["security"]["seccomp"], "filter");
}

#[test]
fn volumes_persist_and_cp_stays_inside_the_container() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // Copy-up: a new volume over an image directory starts with its content (and owners),
    // once: what the container then changes stays.
    let run = |script: &str| {
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "cfg:/etc",
            IMG,
            "sh",
            "-c",
            script,
        ])
    };
    assert!(run("cat /etc/passwd").starts_with("root:"), "copied up");
    run("rm /etc/passwd; echo x > /etc/marker");
    assert_eq!(
        run("ls /etc/passwd /etc/marker 2>/dev/null; true"),
        "/etc/marker\n"
    );
    let data = e.root().join("volumes/cfg/_data");
    assert!(
        data.join("group").exists(),
        "the volume holds the image's files"
    );
    e.ok(&["volume", "create", "--label", "tier=db", "data"]);
    e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data",
        IMG,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "data:/data:ro",
            IMG,
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    let (code, _, err) = e.status(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "data:/data:ro",
        IMG,
        "touch",
        "/data/g",
    ]);
    assert_ne!(code, 0, "a read-only volume: {err}");
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "ls", "--format", "json"])).unwrap();
    assert_eq!(
        (v[0]["Name"].as_str(), v[0]["Labels"]["tier"].as_str()),
        (Some("data"), Some("db"))
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "--network",
        "none",
        "-v",
        "data:/data",
        IMG,
        "sleep",
        "100",
    ]);
    let (code, _, err) = e.status(&["volume", "rm", "data"]);
    assert_eq!(code, 125);
    assert!(err.contains("in use by container(s) user"), "{err}");

    // cp both ways, through the container's mounts; a symlink cannot reach the host.
    let host = e.dir.path().join("in.txt");
    std::fs::write(&host, "from host\n").unwrap();
    e.ok(&["cp", host.to_str().unwrap(), "user:/data/"]);
    assert_eq!(
        e.ok(&["exec", "user", "cat", "/data/in.txt"]),
        "from host\n"
    );
    let out = e.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    e.ok(&["cp", "user:/data/f", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "kept\n");
    let secret = e.dir.path().join("host-secret");
    std::fs::write(&secret, "secret").unwrap();
    e.ok(&[
        "exec",
        "user",
        "ln",
        "-s",
        secret.to_str().unwrap(),
        "/tmp/link",
    ]);
    let (code, _, _) = e.status(&["cp", "user:/tmp/link", out.join("stolen").to_str().unwrap()]);
    assert!(
        code != 0 || std::fs::read_to_string(out.join("stolen")).map_or(true, |s| s != "secret"),
        "cp followed a symlink to the host"
    );
    e.ok(&["exec", "user", "ln", "-s", "/", "/tmp/up"]);
    let planted = e.dir.path().join("planted");
    let (_, _, _) = e.status(&[
        "cp",
        host.to_str().unwrap(),
        &format!("user:/tmp/up{}", planted.display()),
    ]);
    assert!(
        !planted.exists(),
        "cp wrote through a symlink onto the host"
    );

    // export: the container's filesystem as a tar.
    let tar = e.dir.path().join("user.tar");
    e.ok(&["export", "-o", tar.to_str().unwrap(), "user"]);
    let list = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(names.lines().any(|l| l == "bin/busybox"), "{names}");
    // top and stats see the running process.
    assert!(e.ok(&["top", "user"]).contains("sleep 100"));
    let s: serde_json::Value =
        serde_json::from_str(&e.ok(&["stats", "--no-stream", "--format", "json", "user"])).unwrap();
    assert_eq!(s[0]["PIDs"], 1);
    assert!(s[0]["mem_usage"].as_u64().unwrap() > 0);
    e.ok(&["rm", "-f", "user"]);
    e.ok(&["volume", "rm", "data"]);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn system_info_and_df_describe_the_engine() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&["create", "--network", "none", IMG, "true"]);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(v["Store"]["ContainerStore"]["number"], 1);
    assert_eq!(v["Store"]["ImageStore"]["number"], 1);
    assert_eq!(
        e.ok(&["info", "--format", "{{.Host.CgroupManager}}"]),
        "cgroupfs\n"
    );
    let df: serde_json::Value =
        serde_json::from_str(&e.ok(&["system", "df", "--format", "json"])).unwrap();
    assert_eq!(df[0]["Type"], "Images");
    assert_eq!(df[1]["Total"], 1);
    let (code, _, err) = e.status(&["system", "prune"]);
    assert_eq!(code, 125, "no confirmation without a terminal: {err}");
    e.ok(&["system", "prune", "-f"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_pod_shares_localhost_and_its_hostname() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let pod = e.ok(&[
        "pod",
        "create",
        "--name",
        "web",
        "--network",
        "none",
        "--hostname",
        "webhost",
    ]);
    // -i: busybox's nc ends at the end of its stdin, which /dev/null would race with the
    // peer's data; an open stdin keeps it for the connection.
    e.ok(&[
        "run", "-d", "-i", "--pod", "web", "--name", "srv", IMG, "nc", "-l", "-p", "8080",
    ]);
    let out = e.ok(&["run", "--rm", "--pod", "web", IMG, "sh", "-c",
        "i=0; until echo ping-from-peer | nc localhost 8080; do i=$((i+1)); [ $i -gt 100 ] && exit 1; usleep 20000; done; hostname"]);
    assert_eq!(out, "webhost\n");
    wait_for("the server's log", Duration::from_secs(10), || {
        e.ok(&["logs", "srv"]).contains("ping-from-peer")
    });
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["pod", "inspect", "web"])).unwrap();
    assert_eq!(v["Id"].as_str(), Some(pod.trim()));
    assert_eq!(v["NumContainers"], 2, "infra and srv");
    let infra_pid = v["InfraPid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{infra_pid}/comm"))
            .unwrap()
            .trim(),
        "pause"
    );
    // The infra holds the namespaces: a member joins its net, ipc and uts, not its pid.
    wait_for("srv to exit", Duration::from_secs(10), || {
        e.inspect("srv")["State"]["Status"] == "exited"
    });
    e.ok(&["start", "srv"]);
    let srv_pid = e.inspect("srv")["State"]["Pid"].as_i64().unwrap();
    for ns in ["net", "ipc", "uts"] {
        let a = std::fs::read_link(format!("/proc/{infra_pid}/ns/{ns}")).unwrap();
        let b = std::fs::read_link(format!("/proc/{srv_pid}/ns/{ns}")).unwrap();
        assert_eq!(a, b, "{ns} shared");
    }
    let (a, b) = (
        std::fs::read_link(format!("/proc/{infra_pid}/ns/pid")).unwrap(),
        std::fs::read_link(format!("/proc/{srv_pid}/ns/pid")).unwrap(),
    );
    assert_ne!(a, b, "pid not shared by default");
    let (code, _, err) = e.status(&["rm", &v["InfraContainerID"].as_str().unwrap()[..12]]);
    assert_eq!(code, 125);
    assert!(err.contains("infra of pod web"), "{err}");
    let (code, _, err) = e.status(&["pod", "rm", "web"]);
    assert_eq!(code, 125, "a pod with running containers: {err}");
    let short = v["Id"].as_str().unwrap()[..12].to_string();
    e.ok(&["pod", "rm", "-f", "web"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert_eq!(e.ok(&["pod", "ps", "-q"]), "");
    let left: Vec<String> = e
        .cgroups_left()
        .into_iter()
        .filter(|c| c.contains(&short))
        .collect();
    assert!(
        left.is_empty(),
        "the pod's cgroups are removed with it: {left:?}"
    );
}

#[test]
fn export_then_import_gives_a_runnable_image() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&[
        "run",
        "--name",
        "src",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo made-here > /marker; rm /etc/group",
    ]);
    let tar = e.dir.path().join("fs.tar");
    e.ok(&["export", "-o", tar.to_str().unwrap(), "src"]);
    let id = e.ok(&[
        "import",
        "--change",
        "CMD [\"cat\", \"/marker\"]",
        "--change",
        "ENV FROM=import",
        tar.to_str().unwrap(),
        "localhost/imported:v1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(
        e.ok(&["run", "--rm", "--network", "none", "localhost/imported:v1"]),
        "made-here\n"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/imported:v1",
            "sh",
            "-c",
            "echo $FROM; test -e /etc/group || echo no-group"
        ]),
        "import\nno-group\n"
    );
    let img: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "localhost/imported:v1"])).unwrap();
    assert_eq!(
        img[0]["RootFS"]["diff_ids"].as_array().map(|a| a.len()),
        Some(1),
        "one layer: {img}"
    );
    // A hostile tarball stays inside its layer.
    let evil = e.dir.path().join("evil.tar");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cd {} && mkdir -p ev && ln -s / ev/up && tar -C ev -cf {} up && mkdir -p ev2/up && echo owned > ev2/up/escaped && tar -C ev2 -rf {} up/escaped", e.dir.path().display(), evil.display(), evil.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let _ = e.status(&["import", evil.to_str().unwrap(), "localhost/evil"]);
    assert!(
        !std::path::Path::new("/escaped").exists(),
        "an imported tar wrote outside its layer"
    );
}

#[test]
fn dns_search_options_sysctls_and_oom_score_adj_reach_the_container() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--dns",
        "10.0.0.53",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:3",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=1000",
        "--oom-score-adj",
        "300",
        IMG,
        "sh",
        "-c",
        "cat /etc/resolv.conf /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/self/oom_score_adj",
    ]);
    assert_eq!(
        out,
        "nameserver 10.0.0.53\nsearch example.test\noptions ndots:3\n1000\n300\n"
    );
    let (code, _, err) = e.status(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--sysctl",
        "oops",
        IMG,
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("--sysctl"), "{err}");
}

/// `--pid host` and `--ipc host`: the host's namespaces instead of the container's own (a
/// pod's member and a VM container are refused them: the pod, or the VM's kernel, has them).
#[test]
fn pid_and_ipc_host_share_the_hosts_namespaces() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let host = |kind: &str| std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
    let script = "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc";
    let shared = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pid",
        "host",
        "--ipc",
        "host",
        IMG,
        "sh",
        "-c",
        script,
    ]);
    let want = format!("{}\n{}\n", host("pid").display(), host("ipc").display());
    assert_eq!(shared, want);
    let own = e.ok(&["run", "--rm", "--network", "none", IMG, "sh", "-c", script]);
    assert!(!own.contains(&host("pid").display().to_string()), "{own}");
    assert!(!own.contains(&host("ipc").display().to_string()), "{own}");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ph",
        "--network",
        "none",
        "--pid",
        "host",
        IMG,
        "sleep",
        "300",
    ]);
    assert_eq!(e.inspect("ph")["HostConfig"]["PidMode"], "host");
    e.ok(&["rm", "-f", "ph"]);
    let refused = |args: &[&str], what: &str| {
        let (code, _, err) = e.status(args);
        assert_eq!(code, 125, "{err}");
        assert!(err.contains(what), "{err}");
    };
    refused(
        &["run", "--rm", "--pid", "container:x", IMG, "true"],
        "--pid",
    );
    refused(
        &[
            "run",
            "--rm",
            "--pid",
            "host",
            "--isolation",
            "vm",
            IMG,
            "true",
        ],
        "[layer: vm]",
    );
    e.ok(&["pod", "create", "--name", "pp"]);
    refused(
        &["run", "--rm", "--pod", "pp", "--ipc", "host", IMG, "true"],
        "pod pp",
    );
    e.ok(&["pod", "rm", "-f", "pp"]);
}
