//! The Docker-compatible API (`strata system service`) end to end, driven by the real
//! `docker` CLI (client only: no dockerd is ever started) with DOCKER_HOST on the socket
//! the test starts: version negotiation, `run` attached (output from the first byte, the
//! exit code, `--rm`), a detached container through ps/logs/inspect/rename/stop/restart/
//! kill/wait/rm, a pull from a local docker-registry then images/tag/rmi, and malformed
//! requests answered with docker's JSON errors (never a crash), exec, volumes, networks,
//! events and the idle timeout. The helpers are in `common/docker.rs`.

mod common;

use common::docker::{json_message, registry_with_busybox, setup, write_registries, Service, IMG};
use common::{output_via_files, prerequisites, Engine};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};
use strata_testkit::{require_tools, ChildGuard};

#[test]
fn version_and_ping_negotiate_api_1_41() {
    let Some((_e, s)) = setup() else { return };
    assert_eq!(
        s.ok(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Client.APIVersion}}"
        ])
        .trim(),
        "1.41 1.41"
    );
    let (code, head, body) = s.raw(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 200);
    assert_eq!(body, "OK");
    let h = head.to_ascii_lowercase();
    assert!(h.contains("api-version: 1.41"), "{head}");
    assert!(h.contains("ostype: linux"), "{head}");
    assert!(h.contains("docker-experimental: false"), "{head}");
    let (code, _, body) =
        s.raw(b"HEAD /v1.41/_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert_eq!((code, body.as_str()), (200, ""));
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let info = s.ok(&["info", "--format", "{{.OSType}} {{.Images}}"]);
    assert_eq!(info.trim(), "linux 1");
}

#[test]
fn run_attached_prints_output_and_returns_the_exit_code() {
    let Some((_e, s)) = setup() else { return };
    let out = s.ok(&["run", "--rm", IMG, "echo", "hi"]);
    assert_eq!(out, "hi\n");
    // HostConfig.PidMode host: the host's PID namespace (it was ignored before).
    let ns = s.ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        IMG,
        "readlink",
        "/proc/self/ns/pid",
    ]);
    let host = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(ns.trim(), host.display().to_string());
    // --rm: the container is gone once `docker run` returns.
    assert_eq!(s.ok(&["ps", "-aq"]).trim(), "");
    let o = s.docker(&[
        "run",
        "--name",
        "three",
        IMG,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    let st = s.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.Name}}",
        "three",
    ]);
    assert_eq!(st.trim(), "exited 3 /three");
    // Output from the very first byte: the attach comes before the start.
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "seq 1 200",
    ]);
    assert_eq!(out.lines().count(), 200);
    assert_eq!(out.lines().next(), Some("1"));
    // A command not in the image: docker's 127 (126 for one that cannot be run), and the
    // --rm container is removed.
    let o = s.docker(&["run", "--rm", "--network", "none", IMG, "/nonexistent"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    let o = s.docker(&["run", "--rm", "--network", "none", IMG, "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{o:?}");
    assert_eq!(
        s.ok(&["ps", "-aq"]).lines().count(),
        1,
        "only `three` is left"
    );
    // `start -a` attaches before it starts, as `run` does.
    s.ok(&["create", "--name", "later", IMG, "echo", "started-attached"]);
    assert_eq!(s.ok(&["start", "-a", "later"]), "started-attached\n");
    let pruned = s.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert_eq!(s.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn detached_container_lifecycle() {
    let Some((_e, s)) = setup() else { return };
    let id = s
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-l",
            "app=x",
            "-e",
            "GREETING=hello",
            IMG,
            "sh",
            "-c",
            "echo $GREETING; echo to-err >&2; trap 'exit 7' TERM; while true; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = s.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "web running");
    let by_label = s.ok(&["ps", "-q", "--no-trunc", "--filter", "label=app=x"]);
    assert_eq!(by_label.trim(), id);
    assert_eq!(s.ok(&["ps", "-q", "--filter", "label=app=y"]).trim(), "");
    let t0 = Instant::now();
    loop {
        let o = s.docker(&["logs", "web"]);
        if String::from_utf8_lossy(&o.stdout) == "hello\n" {
            assert_eq!(String::from_utf8_lossy(&o.stderr), "to-err\n");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "logs: {o:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ts = s.ok(&["logs", "-t", "--tail", "2", "web"]);
    assert!(ts.starts_with("20") && ts.ends_with(" hello\n"), "{ts:?}");
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "web"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(c["Config"]["Labels"]["app"], "x");
    s.ok(&["pause", "web"]);
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.State.Status}}", "web"]).trim(),
        "paused"
    );
    s.ok(&["unpause", "web"]);
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.State.Status}}", "web"]).trim(),
        "running"
    );
    s.ok(&["rename", "web", "web2"]);
    s.ok(&["stop", "-t", "5", "web2"]);
    let st = s.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web2",
    ]);
    assert_eq!(st.trim(), "exited 7");
    assert_eq!(s.ok(&["ps", "-q"]).trim(), "");
    assert!(s
        .ok(&["ps", "-a", "--format", "{{.Status}}"])
        .starts_with("Exited (7)"));
    s.ok(&["restart", "-t", "1", "web2"]);
    assert_eq!(
        s.ok(&["inspect", "-f", "{{.State.Status}}", "web2"]).trim(),
        "running"
    );
    s.ok(&["kill", "web2"]);
    assert_eq!(s.ok(&["wait", "web2"]).trim(), "137");
    // Removing a running container needs --force (409 otherwise).
    s.ok(&["start", "web2"]);
    let o = s.docker(&["rm", "web2"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("running"),
        "{o:?}"
    );
    s.ok(&["rm", "-f", "web2"]);
    assert_eq!(s.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn errors_are_docker_json_and_never_crash_the_service() {
    let Some((_e, mut s)) = setup() else { return };
    let (code, _, body) = s.request("POST", "/v1.41/containers/create", "{not json");
    assert_eq!(code, 400);
    assert!(json_message(&body).contains("invalid JSON"), "{body}");
    let (code, _, body) = s.request("POST", "/containers/create", r#"{"Image": 5}"#);
    assert_eq!(code, 400, "{body}");
    assert!(json_message(&body).contains("Image"), "{body}");
    let (code, _, body) = s.request("POST", "/containers/create", r#"{"Image": "nosuch/image"}"#);
    assert_eq!(code, 404, "{body}");
    assert!(json_message(&body).contains("No such image"), "{body}");
    let (code, _, body) = s.request("GET", "/v1.41/containers/nosuch/json", "");
    assert_eq!(code, 404);
    assert_eq!(
        json_message(&body),
        "No such container: nosuch [layer: engine]"
    );
    let (code, _, body) = s.request("POST", "/containers/nosuch/start", "");
    assert_eq!(code, 404, "{body}");
    let (code, _, body) = s.request("GET", "/v1.41/nowhere", "");
    assert_eq!(code, 404);
    assert!(json_message(&body).contains("page not found"));
    let (code, _, body) = s.request("GET", "/v9.99/version", "");
    assert_eq!(code, 400);
    assert!(json_message(&body).contains("too new"), "{body}");
    let (code, _, body) = s.request("GET", "/containers/json?filters=%7Bbad", "");
    assert_eq!(code, 400, "{body}");
    // A body over the bound is refused, not read into memory.
    let big = format!(r#"{{"Image": "{}"}}"#, "x".repeat(5 << 20));
    let (code, _, body) = s.request("POST", "/containers/create", &big);
    assert_eq!(code, 400, "{body}");
    // Garbage on the wire.
    let (code, _, _) = s.raw(b"NOT HTTP AT ALL\r\n\r\n");
    assert!(code == 400 || code == 0);
    let o = s.docker(&["run", "--rm", "--name", "bad name!", IMG, "true"]);
    assert!(!o.status.success());
    assert!(s.alive(), "the service died");
    assert_eq!(
        s.ok(&["version", "--format", "{{.Server.APIVersion}}"])
            .trim(),
        "1.41"
    );
}

/// A docker-registry on a free loopback port with busybox pushed, killed on drop.
#[test]
fn images_pull_list_tag_remove() {
    if !(prerequisites() && require_tools(&["docker", "docker-registry", "skopeo"])) {
        return;
    }
    let reg = registry_with_busybox();
    let e = Engine::new();
    write_registries(&e, &reg.addr);
    let s = Service::start(&e);
    let name = format!("{}/test/busybox:1.0", reg.addr);
    let out = s.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let again = s.ok(&["pull", &name]);
    assert!(again.contains("up to date"), "{again}");
    let list = s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(list.lines().any(|l| l == name), "{list}");
    let id = s.ok(&["image", "inspect", "-f", "{{.Id}}", &name]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    s.ok(&["tag", &name, "localhost/mine:v2"]);
    let out = s.ok(&["run", "--rm", "localhost/mine:v2", "echo", "pulled"]);
    assert_eq!(out, "pulled\n");
    let rmi = s.ok(&["rmi", "localhost/mine:v2"]);
    assert!(rmi.contains("Untagged"), "{rmi}");
    let o = s.docker(&["pull", &format!("{}/test/nosuch:1.0", reg.addr)]);
    assert!(!o.status.success(), "{o:?}");
    let o = s.docker(&["image", "inspect", "localhost/mine:v2"]);
    assert!(!o.status.success());
    // The same image as localhost/busybox: its other name stays.
    let rmi = s.ok(&["rmi", &name]);
    assert!(rmi.contains("Untagged"), "{rmi}");
    let list = s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!list.lines().any(|l| l == name), "{list}");
    assert!(
        list.lines().any(|l| l == "localhost/busybox:latest"),
        "{list}"
    );
    // `docker run` of an image not in the store: create's 404, a pull, create again.
    let o = s.docker(&["run", "--rm", &name, "echo", "auto-pulled"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "auto-pulled\n");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Unable to find image"),
        "{o:?}"
    );
}

#[test]
fn exec_runs_in_a_running_container() {
    let Some((_e, s)) = setup() else { return };
    s.ok(&["run", "-d", "--name", "ex", IMG, "sleep", "300"]);
    let o = s.docker(&["exec", "ex", "sh", "-c", "echo in-exec; echo e >&2; exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "in-exec\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "e\n");
    let mut c = s.docker_cmd(&["exec", "-i", "ex", "cat"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped input\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "piped input\n");
    let out = s.ok(&[
        "exec",
        "-u",
        "1000",
        "-w",
        "/tmp",
        "-e",
        "X=y",
        "ex",
        "sh",
        "-c",
        "echo $(id -u) $(pwd) $X",
    ]);
    assert_eq!(out, "1000 /tmp y\n");
    let o = s.docker(&["exec", "ex", "/no/such/cmd"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    s.ok(&["exec", "-d", "ex", "touch", "/tmp/detached"]);
    let t0 = Instant::now();
    while !s
        .docker(&["exec", "ex", "test", "-e", "/tmp/detached"])
        .status
        .success()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the detached exec did not run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, body) = s.request("GET", "/exec/nosuch/json", "");
    assert_eq!(code, 404, "{body}");
    s.ok(&["stop", "-t", "0", "ex"]);
    let o = s.docker(&["exec", "ex", "true"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not running"),
        "{o:?}"
    );
    s.ok(&["rm", "ex"]);
}

#[test]
fn volumes_and_networks() {
    let Some((_e, s)) = setup() else { return };
    assert_eq!(s.ok(&["volume", "create", "data"]).trim(), "data");
    assert!(s.ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data"));
    assert_eq!(
        s.ok(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data"])
            .trim(),
        "data local"
    );
    s.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        IMG,
        "sh",
        "-c",
        "echo kept > /d/f",
    ]);
    assert_eq!(
        s.ok(&["run", "--rm", "-v", "data:/d", IMG, "cat", "/d/f"]),
        "kept\n"
    );
    s.ok(&["create", "--name", "user", "-v", "data:/d", IMG, "true"]);
    let o = s.docker(&["volume", "rm", "data"]);
    assert!(!o.status.success(), "a volume in use was removed");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("in use"),
        "{o:?}"
    );
    s.ok(&["rm", "user"]);
    s.ok(&["volume", "rm", "data"]);
    let o = s.docker(&["volume", "inspect", "data"]);
    assert!(!o.status.success());

    // A bridge name of its own: other engines' tests may run beside this one.
    let bridge = format!("sapi{}", std::process::id() % 100_000);
    let opt = format!("com.docker.network.bridge.name={bridge}");
    let id = s.ok(&[
        "network",
        "create",
        "--subnet",
        "10.99.7.0/24",
        "-o",
        &opt,
        "apinet",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(s
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .any(|l| l == "apinet"));
    assert_eq!(
        s.ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "apinet"
        ])
        .trim(),
        "10.99.7.0/24"
    );
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "apinet",
        IMG,
        "sh",
        "-c",
        "ip -4 addr show eth0",
    ]);
    assert!(out.contains("inet 10.99.7."), "{out}");
    // The bridge (made by the CNI plugin at the first attach) is the one asked for.
    let on_host = Command::new("ip")
        .args(["link", "show", &bridge])
        .output()
        .unwrap();
    assert!(on_host.status.success(), "bridge {bridge} not made");

    // docker-compose's way: a created container leaves its network and joins another
    // before it starts.
    s.ok(&[
        "create",
        "--name",
        "joiner",
        IMG,
        "sh",
        "-c",
        "ip -4 addr show eth0",
    ]);
    s.ok(&["network", "disconnect", "strata", "joiner"]);
    s.ok(&["network", "connect", "apinet", "joiner"]);
    let mode = s.ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "joiner"]);
    assert_eq!(mode.trim(), "apinet");
    assert!(s.ok(&["start", "-a", "joiner"]).contains("inet 10.99.7."));
    s.ok(&["rm", "joiner"]);
    // A running container joins a second network and leaves it (docker's eth1).
    s.ok(&["run", "-d", "--name", "multi", IMG, "sleep", "300"]);
    s.ok(&["network", "connect", "--alias", "second", "apinet", "multi"]);
    let nets: serde_json::Value = serde_json::from_str(&s.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        "multi",
    ]))
    .unwrap();
    let ip = nets["apinet"]["IPAddress"].as_str().unwrap_or_default();
    assert!(
        ip.starts_with("10.99.7.") && nets["strata"].is_object(),
        "{nets}"
    );
    assert!(nets["apinet"]["Aliases"]
        .as_array()
        .unwrap()
        .contains(&"second".into()));
    let eth1 = s.ok(&["exec", "multi", "ip", "-4", "addr", "show", "eth1"]);
    assert!(eth1.contains(&format!("inet {ip}/24")), "{eth1}");
    s.ok(&["network", "disconnect", "apinet", "multi"]);
    assert!(!s
        .docker(&["exec", "multi", "ip", "link", "show", "eth1"])
        .status
        .success());
    s.ok(&["rm", "-f", "multi"]);
    let o = s.docker(&["network", "create", "apinet"]);
    assert!(!o.status.success(), "a second network of the same name");
    s.ok(&["network", "rm", "apinet"]);
    let o = s.docker(&["network", "inspect", "apinet"]);
    assert!(!o.status.success());
    s.ok(&["network", "create", "--subnet", "10.99.9.0/24", "unusednet"]);
    let pruned = s.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("unusednet"), "{pruned}");
    s.ok(&["volume", "create", "unused"]);
    let pruned = s.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("unused"), "{pruned}");
    assert!(!o.status.success());
}

#[test]
fn events_of_a_run() {
    let Some((_e, s)) = setup() else { return };
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    s.ok(&[
        "run",
        "--rm",
        "--name",
        "evt",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    let until = since + 3;
    let out = s.ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "container=evt",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let actions: Vec<&str> = out.lines().collect();
    assert_eq!(
        actions,
        ["create evt", "start evt", "die evt", "destroy evt"],
        "{out}"
    );
}

#[test]
fn idle_timeout_ends_the_service() {
    if !(prerequisites() && require_tools(&["docker"])) {
        return;
    }
    let e = Engine::new();
    let socket = e.dir.path().join("idle.sock");
    let mut cmd = e.cmd();
    cmd.args(["system", "service", "--timeout", "1"])
        .arg(&socket);
    let mut child = ChildGuard::spawn_quiet(&mut cmd).expect("start strata system service");
    let t0 = Instant::now();
    while !socket.exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    // An attached run longer than the timeout keeps the service (its stream is activity).
    let o = output_via_files(
        Command::new("timeout")
            .args([
                "-k",
                "5",
                "60",
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                IMG,
            ])
            .args(["sh", "-c", "sleep 2; echo late"])
            .env("DOCKER_HOST", format!("unix://{}", socket.display()))
            .env("DOCKER_CONFIG", e.dir.path()),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "late\n");
    let st = child
        .wait_timeout(Duration::from_secs(20))
        .expect("the service did not exit after its idle timeout");
    assert!(st.success(), "{st}");
    assert!(!socket.exists(), "the socket was left behind");
}

/// docker-compose 1.29 (`docker-compose` from Debian) on a two-service project: a web
/// server serving a named volume on a published loopback port, and a client on the
/// project's user network that finds the server by its service name (a network alias);
/// the server is on a second network too, where a worker finds it.
#[test]
fn compose_two_services_up_ps_logs_exec_down() {
    if !(prerequisites() && require_tools(&["docker", "docker-compose"])) {
        return;
    }
    let e = Engine::new();
    let s = Service::start(&e);
    // Its bridge is named after it: not the name volumes_and_networks gives its own.
    let project = format!("scmp{}", std::process::id() % 100_000);
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(
        &file,
        format!(
            r#"version: "2.4"
services:
  web:
    image: {IMG}
    command: ["sh", "-c", "echo served-from-volume > /srv/index.html; exec httpd -f -p 80 -h /srv"]
    volumes: ["data:/srv"]
    ports: ["127.0.0.1:{port}:80"]
    networks: [default, back]
  worker:
    image: {IMG}
    depends_on: [web]
    networks: [back]
    command: ["sh", "-c", "i=0; until wget -qO- http://web/; do i=$$((i+1)); [ $$i -gt 100 ] && exit 1; sleep 0.1; done; echo worker-done; exec sleep 300"]
  client:
    image: {IMG}
    depends_on: [web]
    command: ["sh", "-c", "i=0; until wget -qO- http://web/; do i=$$((i+1)); [ $$i -gt 100 ] && exit 1; sleep 0.1; done; echo client-done; exec sleep 300"]
volumes:
  data: {{}}
networks:
  default:
    driver_opts:
      com.docker.network.bridge.name: {project}
    ipam:
      config:
        - subnet: 10.99.8.0/24
  back:
    driver_opts:
      com.docker.network.bridge.name: {project}b
    ipam:
      config:
        - subnet: 10.99.10.0/24
"#
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let o = output_via_files(
            Command::new("timeout")
                .args([
                    "-k",
                    "5",
                    "180",
                    "docker-compose",
                    "--no-ansi",
                    "-p",
                    &project,
                    "-f",
                ])
                .arg(&file)
                .args(args)
                .env("DOCKER_HOST", format!("unix://{}", s.socket.display()))
                .env("DOCKER_CONFIG", &s.config)
                .env_remove("DOCKER_API_VERSION")
                .env_remove("DOCKER_CONTEXT")
                .env("COMPOSE_HTTP_TIMEOUT", "120")
                .current_dir(dir.path())
                .stdin(std::process::Stdio::null()),
        );
        assert!(
            o.status.success(),
            "docker-compose {args:?} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    compose(&["up", "-d"]);
    let ps = compose(&["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 3, "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The client found the server by its service name.
    let t0 = Instant::now();
    loop {
        let logs = compose(&["logs", "--no-color", "client"]);
        if logs.contains("client-done") {
            assert!(logs.contains("served-from-volume"), "{logs}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "client: {logs}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The worker, on the back network only, found the server there (its second network).
    let t0 = Instant::now();
    while !compose(&["logs", "--no-color", "worker"]).contains("worker-done") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "worker never reached web"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The published port, from the host.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    std::io::Read::read_to_string(&mut c, &mut page).unwrap();
    assert!(page.contains("served-from-volume"), "{page}");
    let out = compose(&["exec", "-T", "web", "cat", "/srv/index.html"]);
    assert_eq!(out, "served-from-volume\n");
    let vol = format!("{project}_data");
    assert!(s.ok(&["volume", "ls", "-q"]).lines().any(|l| l == vol));
    compose(&["down", "-v"]);
    assert_eq!(s.ok(&["ps", "-aq"]).trim(), "");
    assert!(!s.ok(&["volume", "ls", "-q"]).lines().any(|l| l == vol));
    let nets = s.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&project), "{nets}");
    for bridge in [project.clone(), format!("{project}b")] {
        let gone = Command::new("ip")
            .args(["link", "show", &bridge])
            .output()
            .unwrap();
        assert!(!gone.status.success(), "bridge {bridge} left behind");
    }
}

/// Reads a streamed response on the socket until `lines` JSON lines of its body arrived.
fn stream_lines(s: &Service, path: &str, lines: usize) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader};
    let mut c = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: d\r\n\r\n").unwrap();
    let mut r = BufReader::new(c);
    let mut out = Vec::new();
    let mut l = String::new();
    while out.len() < lines {
        l.clear();
        assert!(r.read_line(&mut l).unwrap() > 0, "the stream ended early");
        // Chunked framing: chunk sizes and blank lines are not documents.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(l.trim()) {
            if v.is_object() {
                out.push(v);
            }
        }
    }
    out
}

#[test]
fn top_and_stats_of_a_running_container() {
    let Some((_e, s)) = setup() else { return };
    s.ok(&["run", "-d", "--name", "busy", IMG, "sleep", "300"]);
    let top = s.ok(&["top", "busy"]);
    assert!(top.lines().next().unwrap_or("").contains("PID"), "{top}");
    assert!(top.contains("sleep 300"), "{top}");
    let top = s.ok(&["top", "busy", "-o", "pid,comm"]);
    assert!(top.contains("sleep"), "{top}");
    let out = s.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "busy",
    ]);
    assert!(out.starts_with("busy 1 "), "{out}");
    let docs = stream_lines(&s, "/v1.41/containers/busy/stats?stream=1", 2);
    assert_eq!(docs[1]["name"], "/busy");
    assert!(
        docs[1]["precpu_stats"]["system_cpu_usage"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(docs[1]["memory_stats"]["usage"].as_u64().unwrap() > 0);
    let (code, _, body) = s.request("GET", "/containers/busy/stats?stream=0&one-shot=1", "");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["pids_stats"]["current"], 1);
    assert!(v["networks"]["eth0"]["rx_packets"].is_u64(), "{v}");
    // A CPU-bound container under a quota: throttled periods, user time, and (cgroup v1's
    // cpuacct) its time per CPU.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "burner",
        "--cpus",
        "0.1",
        IMG,
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let t0 = Instant::now();
    loop {
        let (code, _, body) = s.request("GET", "/containers/burner/stats?stream=0&one-shot=1", "");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        let cpu = &v["cpu_stats"];
        let n = |x: &serde_json::Value| x.as_u64().unwrap_or(0);
        let throttled = n(&cpu["throttling_data"]["throttled_periods"]);
        if throttled > 0 && n(&cpu["cpu_usage"]["usage_in_usermode"]) > 0 {
            assert!(n(&cpu["throttling_data"]["periods"]) >= throttled, "{v}");
            assert!(n(&cpu["throttling_data"]["throttled_time"]) > 0, "{v}");
            if std::path::Path::new("/sys/fs/cgroup/cpuacct").is_dir() {
                let per = cpu["cpu_usage"]["percpu_usage"].as_array().expect("percpu");
                let ncpu = std::thread::available_parallelism().unwrap().get();
                assert_eq!(per.len(), ncpu, "{v}");
                assert!(per.iter().map(n).sum::<u64>() > 0, "{v}");
            }
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "never throttled: {v}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    s.ok(&["rm", "-f", "burner"]);
    // Its writable layer's size: `ps -s` and `system df -v` (2 MiB written into it).
    s.ok(&[
        "exec",
        "busy",
        "dd",
        "if=/dev/zero",
        "of=/big",
        "bs=1024",
        "count=2048",
    ]);
    let (code, _, body) = s.request("GET", "/containers/json?size=1", "");
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let rw = list[0]["SizeRw"].as_u64().unwrap_or(0);
    assert!((2 << 20..3 << 20).contains(&rw), "{list}");
    assert!(list[0]["SizeRootFs"].as_u64().unwrap() > rw, "{list}");
    let ps = s.ok(&["ps", "-s", "--format", "{{.Size}}"]);
    assert!(ps.starts_with("2.1"), "{ps}");
    let df = s.ok(&["system", "df", "-v"]);
    assert!(
        df.lines()
            .any(|l| l.ends_with(" busy") && l.contains(" 2.1")),
        "{df}"
    );
    s.ok(&["stop", "-t", "0", "busy"]);
    let o = s.docker(&["top", "busy"]);
    assert!(!o.status.success(), "top of a stopped container");
    let (code, _, _) = s.request("GET", "/containers/busy/stats?stream=0", "");
    assert_eq!(code, 409);
    s.ok(&["rm", "busy"]);
}

#[test]
fn cp_both_ways_and_escapes_refused() {
    let Some((_e, s)) = setup() else { return };
    s.ok(&["run", "-d", "--name", "cpd", IMG, "sleep", "300"]);
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(h.join("in.txt"), "into the container\n").unwrap();
    std::fs::create_dir_all(h.join("tree/sub")).unwrap();
    std::fs::write(h.join("tree/sub/leaf"), "leaf\n").unwrap();
    let p = |n: &str| h.join(n).to_string_lossy().into_owned();
    s.ok(&["cp", &p("in.txt"), "cpd:/tmp/"]);
    assert_eq!(
        s.ok(&["exec", "cpd", "cat", "/tmp/in.txt"]),
        "into the container\n"
    );
    s.ok(&["cp", &p("in.txt"), "cpd:/tmp/renamed.txt"]);
    assert_eq!(
        s.ok(&["exec", "cpd", "cat", "/tmp/renamed.txt"]),
        "into the container\n"
    );
    s.ok(&["cp", &p("tree"), "cpd:/tmp/"]);
    assert_eq!(
        s.ok(&["exec", "cpd", "cat", "/tmp/tree/sub/leaf"]),
        "leaf\n"
    );
    // Owned by root in the container, or with -a (copyUIDGID) by the host file's owner.
    std::os::unix::fs::chown(h.join("in.txt"), Some(1234), Some(5678)).unwrap();
    s.ok(&["cp", &p("in.txt"), "cpd:/tmp/owned-by-root"]);
    s.ok(&["cp", "-a", &p("in.txt"), "cpd:/tmp/owned-as-on-host"]);
    let owners = s.ok(&[
        "exec",
        "cpd",
        "stat",
        "-c",
        "%u:%g",
        "/tmp/owned-by-root",
        "/tmp/owned-as-on-host",
    ]);
    assert_eq!(owners, "0:0\n1234:5678\n");
    s.ok(&["cp", "cpd:/etc/passwd", &p("passwd")]);
    assert!(std::fs::read_to_string(h.join("passwd"))
        .unwrap()
        .starts_with("root:x:0:0"));
    s.ok(&[
        "exec",
        "cpd",
        "sh",
        "-c",
        "mkdir -p /data/d && echo deep > /data/d/f",
    ]);
    s.ok(&["cp", "cpd:/data", &p("out")]);
    assert_eq!(
        std::fs::read_to_string(h.join("out/d/f")).unwrap(),
        "deep\n"
    );
    let o = s.docker(&["cp", "cpd:/no/such", &p("x")]);
    assert!(!o.status.success(), "{o:?}");
    // `..` stays in the container's root: the container's hostname, not the host's.
    s.ok(&["cp", "cpd:/../../../../etc/hostname", &p("hn")]);
    assert_eq!(
        std::fs::read_to_string(h.join("hn")).unwrap(),
        s.ok(&["exec", "cpd", "cat", "/etc/hostname"])
    );
    // A symlink in the container naming a host directory leads nowhere on the host.
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("secret"), "host only\n").unwrap();
    let sp = secret.path().to_string_lossy().into_owned();
    s.ok(&["exec", "cpd", "ln", "-s", &sp, "/tmp/link"]);
    let o = s.docker(&["cp", "cpd:/tmp/link/secret", &p("stolen")]);
    assert!(!o.status.success(), "read through a symlink: {o:?}");
    assert!(!h.join("stolen").exists());
    let _ = s.docker(&["cp", &p("in.txt"), "cpd:/tmp/link/"]);
    let names: Vec<_> = std::fs::read_dir(secret.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"], "written through a symlink to the host");
    // An archive whose entry climbs out of the destination: refused with a 400.
    std::fs::write(h.join("evil"), "x").unwrap();
    let st = Command::new("tar")
        .args([
            "-cPf",
            &p("evil.tar"),
            "--transform",
            "s,^evil,../../evil,",
            "-C",
        ])
        .arg(h)
        .arg("evil")
        .status()
        .unwrap();
    assert!(st.success());
    let tar = std::fs::read(h.join("evil.tar")).unwrap();
    let mut req = format!(
        "PUT /v1.41/containers/cpd/archive?path=/tmp HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        tar.len()
    )
    .into_bytes();
    req.extend(&tar);
    let (code, _, body) = s.raw(&req);
    assert_eq!(code, 400, "{body}");
    assert!(json_message(&body).contains("leads out"), "{body}");
    // A stopped container's files too.
    s.ok(&["stop", "-t", "0", "cpd"]);
    s.ok(&["cp", "cpd:/tmp/in.txt", &p("back.txt")]);
    assert_eq!(
        std::fs::read_to_string(h.join("back.txt")).unwrap(),
        "into the container\n"
    );
    s.ok(&["rm", "cpd"]);
}

#[test]
fn history_save_load_and_df() {
    let Some((_e, s)) = setup() else { return };
    let hist = s.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        IMG,
    ]);
    let id = s.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
    assert!(
        hist.lines().next().unwrap().starts_with(id.trim()),
        "{hist}"
    );
    s.ok(&["tag", IMG, "localhost/copy:1"]);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("copy.tar");
    s.ok(&["save", "-o", tar.to_str().unwrap(), "localhost/copy:1"]);
    assert!(std::fs::metadata(&tar).unwrap().len() > 100_000);
    s.ok(&["rmi", "localhost/copy:1"]);
    assert!(!s
        .docker(&["image", "inspect", "localhost/copy:1"])
        .status
        .success());
    let out = s.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: localhost/copy:1"), "{out}");
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/copy:1",
            "echo",
            "loaded"
        ]),
        "loaded\n"
    );
    let df = s.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.lines().any(|l| l == "Images 1"), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Containers ")), "{df}");
    let o = s.docker(&["save", "-o", tar.to_str().unwrap(), "localhost/nosuch:1"]);
    assert!(!o.status.success());
}

#[test]
fn push_to_a_local_registry() {
    if !(prerequisites() && require_tools(&["docker", "docker-registry", "skopeo"])) {
        return;
    }
    let reg = registry_with_busybox();
    let e = Engine::new();
    write_registries(&e, &reg.addr);
    let s = Service::start(&e);
    let name = format!("{}/pushed/bb:1", reg.addr);
    s.ok(&["tag", IMG, &name]);
    let out = s.ok(&["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    let st = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    // Pulled back into a fresh name after it is gone locally.
    s.ok(&["rmi", &name]);
    s.ok(&["pull", &name]);
    let o = s.docker(&["push", &format!("{}/pushed/nosuch:1", reg.addr)]);
    assert!(!o.status.success());
    // A build whose base image is only in the registry: pulled for it.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {}/test/busybox:1.0\nRUN echo built-on-pulled > /m\n",
            reg.addr
        ),
    )
    .unwrap();
    let mut cmd = s.docker_cmd(&[
        "build",
        "-t",
        "localhost/onpulled:1",
        ctx.path().to_str().unwrap(),
    ]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let o = output_via_files(&mut cmd);
    assert!(o.status.success(), "{o:?}");
    let out = s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/onpulled:1",
        "cat",
        "/m",
    ]);
    assert_eq!(out, "built-on-pulled\n");
}

#[test]
fn build_a_multi_stage_dockerfile() {
    let Some((_e, s)) = setup() else { return };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("hello.txt"), "hello from the context\n").unwrap();
    // A web server on loopback for `ADD URL` (the service downloads it).
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/remote.txt", web.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in web.incoming().flatten() {
            let mut req = [0u8; 4096];
            let _ = std::io::Read::read(&mut conn, &mut req);
            let body = "downloaded by ADD\n";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "ARG BASE={IMG}\nFROM $BASE AS builder\nARG MSG=default\nRUN echo \"$MSG\" > /msg\n\
             FROM {IMG} AS final\nCOPY --from=builder /msg /msg\nCOPY hello.txt /hello.txt\nADD {url} /remote.txt\n\
             CMD [\"cat\", \"/msg\", \"/hello.txt\", \"/remote.txt\"]\n\
             FROM {IMG} AS other\nRUN echo other > /other\n"
        ),
    )
    .unwrap();
    let c = ctx.path().to_str().unwrap();
    let build = |args: &[&str]| {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        all.push(c);
        let mut cmd = s.docker_cmd(&all);
        cmd.env("DOCKER_BUILDKIT", "0");
        output_via_files(&mut cmd)
    };
    let o = build(&[
        "--no-cache",
        "--build-arg",
        "MSG=from-a-build-arg",
        "--target",
        "final",
        "--label",
        "team=api",
        "-t",
        "localhost/built:1",
    ]);
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Successfully tagged localhost/built:1"),
        "{out}"
    );
    assert_eq!(
        s.ok(&["run", "--rm", "--network", "none", "localhost/built:1"]),
        "from-a-build-arg\nhello from the context\ndownloaded by ADD\n"
    );
    let label = s.ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"team\"}}",
        "localhost/built:1",
    ]);
    assert_eq!(label.trim(), "api");
    // The target stage only: `other` was not built into it.
    let o = s.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/built:1",
        "test",
        "-e",
        "/other",
    ]);
    assert_eq!(o.status.code(), Some(1));
    // Quiet: the id alone.
    let o = build(&[
        "-q",
        "--build-arg",
        "MSG=from-a-build-arg",
        "--target",
        "final",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .starts_with("sha256:"),
        "{o:?}"
    );
    // A failing step: the client exits non-zero, the message names the step.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {IMG}\nRUN exit 3\n"),
    )
    .unwrap();
    let o = build(&["-t", "localhost/broken:1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("RUN exit 3") && err.contains("exited 3"),
        "{err}"
    );
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate with openssl,
/// in `dir` (the server's files) and `dir/client` (the docker CLI's `DOCKER_CERT_PATH`).
fn make_certs(dir: &std::path::Path) {
    let client = dir.join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::write(
        dir.join("srv.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("cl.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let script = "set -e
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=test-ca
        openssl req -newkey rsa:2048 -nodes -keyout key.pem -out server.csr -subj /CN=127.0.0.1
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile srv.ext
        openssl req -newkey rsa:2048 -nodes -keyout client/key.pem -out client.csr -subj /CN=client
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out client/cert.pem -days 2 -extfile cl.ext
        cp ca.pem client/ca.pem";
    let o = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_tcp_listener_is_served_only_with_tls_client_certificates() {
    let Some((e, _unix)) = setup() else { return };
    assert!(strata_testkit::require_tools(&["openssl"]));
    let certs = e.dir.path().join("tls");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    let port = common::free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    // Without TLS, no TCP listener: a usage error naming what to add.
    let (code, _, err) = e.status(&["system", "service", &uri]);
    assert_eq!(code, 125);
    assert!(err.contains("--tlsverify"), "{err}");
    let f = |n: &str| certs.join(n).display().to_string();
    let mut cmd = e.cmd();
    cmd.args(["system", "service", "--tlsverify", "--tlscacert"])
        .args([
            f("ca.pem"),
            "--tlscert".into(),
            f("cert.pem"),
            "--tlskey".into(),
            f("key.pem"),
        ])
        .arg(&uri);
    let _svc = ChildGuard::spawn_quiet(&mut cmd).unwrap();
    let docker = |with_cert: bool, args: &[&str]| {
        let mut c = std::process::Command::new("timeout");
        c.args([
            "-k",
            "5",
            "120",
            "docker",
            "-H",
            &uri,
            "--tlscacert",
            &f("ca.pem"),
        ]);
        if with_cert {
            c.args([
                "--tlsverify",
                "--tlscert",
                &f("client/cert.pem"),
                "--tlskey",
                &f("client/key.pem"),
            ]);
        } else {
            c.arg("--tls");
        }
        c.env("DOCKER_CONFIG", e.dir.path().join("docker-config"))
            .env_remove("DOCKER_HOST")
            .args(args);
        strata_testkit::output_via_files(&mut c)
    };
    let t0 = std::time::Instant::now();
    while docker(true, &["version"]).status.code() != Some(0) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "the TLS listener did not answer"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A client with a certificate of the CA: requests, and a container's attached output.
    let o = docker(true, &["run", "--rm", IMG, "echo", "over-tls"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "over-tls\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A client without one is refused in the handshake.
    let o = docker(false, &["version"]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("certificate required") || err.contains("bad certificate"),
        "{err}"
    );
}

/// Socket activation as the repo's strata-docker.socket does it: systemd-socket-activate
/// binds the socket and, on the first connection, executes the service with it as
/// descriptor 3; the service serves it and leaves it in place at exit (it is the socket
/// unit's). Then `--group`: a socket the service makes is root's and that group's, 0660.
#[test]
fn socket_activation_and_the_socket_group() {
    use std::os::unix::fs::MetadataExt;
    if !(prerequisites() && require_tools(&["docker", "systemd-socket-activate", "getent"])) {
        return;
    }
    let e = Engine::new();
    let socket = e.dir.path().join("activated.sock");
    let config = e.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let base = e.cmd();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l").arg(&socket);
    for (k, v) in base.get_envs() {
        if let (Some(k), Some(Some(v))) = (k.to_str(), v.map(|v| v.to_str())) {
            cmd.arg("-E").arg(format!("{k}={v}"));
        }
    }
    cmd.arg(base.get_program()).args(["system", "service"]);
    let child = ChildGuard::spawn_quiet(&mut cmd).unwrap();
    let t0 = Instant::now();
    while !socket.exists() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no socket bound");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = Service {
        child,
        socket: socket.clone(),
        config,
    };
    assert!(!s
        .ok(&["version", "--format", "{{.Server.Version}}"])
        .trim()
        .is_empty());
    assert_eq!(
        s.ok(&["run", "--rm", "--network", "none", IMG, "echo", "activated"]),
        "activated\n"
    );
    // SAFETY: SIGTERM to the service this test started (the activator executed it).
    unsafe { libc::kill(s.child.pid(), libc::SIGTERM) };
    assert!(s.child.wait_timeout(Duration::from_secs(20)).is_some());
    assert!(socket.exists(), "the activated socket is left to its unit");

    let daemon_gid: u32 = String::from_utf8(
        Command::new("getent")
            .args(["group", "daemon"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .split(':')
    .nth(2)
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let grouped = e.dir.path().join("grouped.sock");
    let mut cmd = e.cmd();
    cmd.args(["system", "service", "--group", "daemon"])
        .arg(format!("unix://{}", grouped.display()));
    let _g = ChildGuard::spawn_quiet(&mut cmd).unwrap();
    let t0 = Instant::now();
    while !grouped.exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no socket made");
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = std::fs::metadata(&grouped).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (0, daemon_gid, 0o660));
    let nosuch = e.dir.path().join("nosuch.sock");
    let o = e.run(&[
        "system",
        "service",
        "--group",
        "no-such-group-here",
        &format!("unix://{}", nosuch.display()),
    ]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such group"));
    assert!(!nosuch.exists());
}

/// The docker CLI on a terminal of the test's (not under `timeout`, whose child cannot read
/// a terminal it does not own).
fn docker_on_terminal(s: &Service, args: &[&str], slave: std::os::fd::OwnedFd) -> ChildGuard {
    let mut c = Command::new("docker");
    c.env("DOCKER_HOST", format!("unix://{}", s.socket.display()))
        .env("DOCKER_CONFIG", &s.config)
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_CONTEXT")
        .args(args);
    common::spawn_on_terminal(&mut c, slave)
}

/// `docker exec -it` and `docker run -it` from a real terminal: the process has a terminal
/// of the caller's size that follows its resizes, and the client exits with its status.
#[test]
fn exec_it_and_run_it_get_a_terminal_of_the_callers_size() {
    let Some((_e, s)) = setup() else { return };
    let limit = Duration::from_secs(30);
    s.ok(&["run", "-d", "--name", "tty", IMG, "sleep", "300"]);
    let (m, slave) = common::pty(30, 100);
    let mut child = docker_on_terminal(&s, &["exec", "-it", "tty", "sh"], slave);
    let mut m = std::fs::File::from(m);
    m.write_all(b"tty; stty size\n").unwrap();
    let seen = common::read_until(&mut m, "30 100", limit);
    assert!(
        seen.contains("/dev/pts/") && seen.contains("30 100"),
        "{seen:?}"
    );
    common::resize_and_see(&mut m, (40, 120), limit);
    m.write_all(b"exit 3\n").unwrap();
    let st = child.wait_timeout(limit).expect("docker exec -it ended");
    assert_eq!(st.code(), Some(3));
    let (m, slave) = common::pty(24, 80);
    let mut child = docker_on_terminal(&s, &["run", "--rm", "-it", IMG, "sh"], slave);
    let mut m = std::fs::File::from(m);
    m.write_all(b"stty size; exit 5\n").unwrap();
    let seen = common::read_until(&mut m, "24 80", limit);
    assert!(seen.contains("24 80"), "{seen:?}");
    let st = child.wait_timeout(limit).expect("docker run -it ended");
    assert_eq!(st.code(), Some(5));
    s.ok(&["rm", "-f", "tty"]);
}
