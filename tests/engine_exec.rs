//! `exec` end to end: the process runs through the container's monitor, which relays its
//! output, its input and its terminal. A terminal session driven through a real pty, input
//! piped through, docker's exit statuses, detached execs, `--privileged`, and sessions that
//! outlive their client or their container.

mod common;

use common::{prerequisites, pty, read_until, Engine};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};
use strata_testkit::ChildGuard;

const IMG: &str = "localhost/busybox";

/// A running container named `name` with no network.
fn sleeper(e: &Engine, name: &str) {
    e.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        IMG,
        "sleep",
        "1000",
    ]);
}

#[test]
fn exec_it_gets_a_terminal_of_the_callers_size_through_the_monitor() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    sleeper(&e, "tty");
    let (master, slave) = pty(31, 97);
    let mut cmd = e.cmd();
    cmd.args(["exec", "-it", "tty", "sh"]);
    let mut child = common::spawn_on_terminal(&mut cmd, slave);
    let mut m = std::fs::File::from(master);
    m.write_all(b"stty size; tty; echo $((6*7))X\n").unwrap();
    let seen = read_until(&mut m, "42X", Duration::from_secs(20));
    assert!(seen.contains("31 97"), "the caller's window size: {seen:?}");
    assert!(
        seen.contains("/dev/pts/"),
        "a terminal in the container: {seen:?}"
    );
    // Our terminal resized: the container's follows (SIGWINCH, then a resize request).
    common::resize_and_see(&mut m, (50, 120), Duration::from_secs(10));
    m.write_all(b"exit 7\n").unwrap();
    let st = child
        .wait_timeout(Duration::from_secs(20))
        .expect("exec ended");
    assert_eq!(st.code(), Some(7), "{seen:?}");
    // The session's pty never reached the container's log.
    assert!(!e.ok(&["logs", "tty"]).contains("42X"));
    // A runner reaped, no socket left behind, the container still served.
    let monitor = e.runroot().join("containers");
    let leftovers: Vec<_> = walk(&monitor)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("exec-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(e.ok(&["exec", "tty", "echo", "again"]), "again\n");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn exec_relays_input_output_and_docker_exit_statuses() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    sleeper(&e, "io");
    // A megabyte in, its count out: input flows, and its end reaches the process.
    let mut cmd = e.cmd();
    cmd.args(["exec", "-i", "io", "wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&vec![b'x'; 1 << 20]));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
    // stdout and stderr stay apart; the status passes through.
    let (code, out, err) = e.status(&["exec", "io", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
    let (code, _, err) = e.status(&["exec", "io", "nosuchcmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.starts_with("Error: exec in container io:") && err.contains("nosuchcmd"));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(e.status(&["exec", "io", "/etc/passwd"]).0, 126);
    // -e, -w and -u reach the process.
    assert_eq!(
        e.ok(&[
            "exec",
            "-e",
            "A=b",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "io",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -un)"
        ]),
        "b /tmp nobody\n"
    );
    // Detached: answered once it runs; it keeps running.
    e.ok(&[
        "exec",
        "-d",
        "io",
        "sh",
        "-c",
        "sleep 0.2; touch /tmp/detached; sleep 1000",
    ]);
    let t0 = Instant::now();
    while e.status(&["exec", "io", "test", "-e", "/tmp/detached"]).0 != 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the detached exec ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(e.status(&["exec", "-d", "io", "nosuchcmd"]).0, 127);
    // A stopped container takes no exec.
    e.ok(&["stop", "-t", "0", "io"]);
    let (code, _, err) = e.status(&["exec", "io", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn privileged_gives_every_capability_the_host_has() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = host.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let want = bounding.replace("CapBnd:", "CapEff:");
    let run = e.ok(&[
        "run",
        "--rm",
        "--privileged",
        "--network",
        "none",
        IMG,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(run.trim(), want.trim(), "run --privileged");
    sleeper(&e, "caps");
    let plain = e.ok(&["exec", "caps", "grep", "CapEff", "/proc/self/status"]);
    assert_ne!(plain.trim(), want.trim(), "docker's default set is smaller");
    let exec = e.ok(&[
        "exec",
        "--privileged",
        "caps",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(exec.trim(), want.trim(), "exec --privileged");
}

#[test]
fn sessions_end_with_their_container_and_survive_their_client() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    sleeper(&e, "life");
    // The client killed: the container and its monitor carry on.
    let mut cmd = e.cmd();
    cmd.args([
        "exec",
        "life",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ])
    .stdout(Stdio::piped());
    let mut client = ChildGuard::spawn(&mut cmd).unwrap();
    let mut out = client.0.stdout.take().unwrap();
    let mut first = [0u8; 5];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"tick\n");
    client.signal(libc::SIGKILL);
    client.wait_timeout(Duration::from_secs(5)).unwrap();
    drop(out);
    assert_eq!(e.ok(&["exec", "life", "echo", "still"]), "still\n");
    assert_eq!(e.inspect("life")["State"]["Status"], "running");
    // The container stopped under a running exec: the exec ends too, killed with it.
    let mut cmd = e.cmd();
    cmd.args(["exec", "life", "sleep", "1000"]);
    let mut client = ChildGuard::spawn(&mut cmd).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    e.ok(&["stop", "-t", "0", "life"]);
    let st = client
        .wait_timeout(Duration::from_secs(20))
        .expect("the exec ended with its container");
    assert_eq!(st.code(), Some(137));
}
