//! Crash consistency: the CLI SIGKILLed at random points of `run` and `rm`, then `ps` must
//! tell the truth (no ghost containers, no lost ones) and `rm` must leave nothing; and a
//! soak of run/rm cycles that ends with no leaked mount, cgroup, netns, process or file.

mod common;

use common::{mounts_under, prerequisites, processes_with, Engine};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const IMG: &str = "localhost/busybox";

/// A small deterministic generator (the trials are reproducible).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(
                s[s.rfind(')').unwrap() + 2..].chars().next(),
                Some('Z' | 'X')
            )
        })
        .unwrap_or(false)
}

/// The ids of the containers whose monitors run for this engine.
fn monitored_ids(e: &Engine) -> BTreeSet<String> {
    let rr = e.runroot().join("runtime").display().to_string();
    processes_with(&rr)
        .into_iter()
        .filter_map(|pid| {
            let c = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = c
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.first()?.ends_with("strata-monitor") {
                return None;
            }
            let i = args.iter().position(|a| a == "--id")?;
            args.get(i + 1).cloned()
        })
        .collect()
}

/// What `ps -a` says must be true: a running container's process runs, and every
/// container a monitor serves is listed (a live monitor's container is running or created).
fn check_consistent(e: &Engine, seen: &mut BTreeSet<String>) {
    let list: Vec<Value> = serde_json::from_str(&e.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let mut listed = BTreeSet::new();
    for c in &list {
        let id = c["Id"].as_str().unwrap().to_string();
        seen.insert(id.clone());
        let state = c["State"].as_str().unwrap();
        if state == "running" {
            let pid = c["Pid"].as_i64().unwrap();
            if !alive(pid) {
                // It may have ended after ps looked (a short-lived container): then the next
                // look must say so.
                let again = e.inspect(&id);
                assert_ne!(
                    again["State"]["Status"], "running",
                    "ps says {id} runs as pid {pid}, which is gone: {c}"
                );
            }
        }
        listed.insert((id, state.to_string()));
    }
    // Monitors finishing up after their container's exit may still show; give them a moment.
    std::thread::sleep(Duration::from_millis(50));
    for id in monitored_ids(e) {
        let l = list.iter().find(|c| c["Id"] == id.as_str());
        assert!(
            l.is_some(),
            "a monitor serves container {id}, which ps does not list (lost)"
        );
    }
}

fn check_nothing_left(e: &Engine, seen: &BTreeSet<String>) {
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert_eq!(
        mounts_under(e.dir.path())
            .into_iter()
            .filter(|m| !m.ends_with("/netns"))
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
    for id in seen {
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = h
                .path()
                .join(e.cgroup_root.trim_start_matches('/'))
                .join(id);
            assert!(!p.exists(), "leaked cgroup {}", p.display());
        }
        assert!(
            !e.root().join("containers").join(id).exists(),
            "leaked bundle of {id}"
        );
        assert!(
            !e.runroot().join("netns").join(id).exists(),
            "leaked netns of {id}"
        );
    }
    assert!(monitored_ids(e).is_empty(), "monitors left");
    let rt = e.runroot().join("runtime");
    let left: Vec<_> = std::fs::read_dir(&rt)
        .map(|r| r.flatten().map(|x| x.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "runtime state left: {left:?}");
}

#[test]
fn cli_killed_at_random_points_of_run_and_rm_leaves_a_consistent_state() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut seen = BTreeSet::new();
    for trial in 0..50 {
        let delay = Duration::from_millis(rng.next() % 70);
        let args: Vec<String> = match trial % 3 {
            0 => vec!["run", "-d", "--network", "none", IMG, "sleep", "100"],
            1 => vec![
                "run",
                "--network",
                "none",
                IMG,
                "sh",
                "-c",
                "sleep 0.05; echo done",
            ],
            _ => {
                let ids = e.ok(&["ps", "-aq"]);
                let mut v = vec!["rm".to_string(), "-f".to_string()];
                v.extend(ids.split_whitespace().map(str::to_string));
                if v.len() == 2 {
                    v = ["run", "-d", "--network", "none", IMG, "true"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                }
                v.into_iter()
                    .map(|s| Box::leak(s.into_boxed_str()) as &str)
                    .collect()
            }
        }
        .into_iter()
        .map(str::to_string)
        .collect();
        let mut child = e
            .cmd()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        check_consistent(&e, &mut seen);
    }
    // Whatever the kills left, rm finishes it.
    let (code, _, err) = e.status(&["rm", "-a", "-f"]);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    check_nothing_left(&e, &seen);
}

#[test]
fn a_soak_of_run_rm_cycles_leaks_nothing() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    // A long-lived container whose monitor serves every cycle's commands (ps, logs, exec):
    // its descriptors must not grow.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    let monitor = e.inspect("keeper")["State"]["ConmonPid"].as_i64().unwrap();
    let fds = || {
        std::fs::read_dir(format!("/proc/{monitor}/fd"))
            .unwrap()
            .count()
    };
    let fds_before = fds();
    let mut seen = BTreeSet::new();
    for i in 0..200 {
        let name = format!("soak{i}");
        if i % 2 == 0 {
            e.ok(&[
                "run",
                "--rm",
                "--name",
                &name,
                "--network",
                "none",
                IMG,
                "true",
            ]);
        } else {
            let id = e.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                IMG,
                "sleep",
                "30",
            ]);
            seen.insert(id.trim().to_string());
            e.ok(&["rm", "-f", &name]);
        }
        if i % 20 == 0 {
            e.ok(&["exec", "keeper", "true"]);
            e.ok(&["logs", "--tail", "1", "keeper"]);
        }
    }
    assert_eq!(fds(), fds_before, "the keeper's monitor leaked descriptors");
    e.ok(&["rm", "-f", "keeper"]);
    std::thread::sleep(Duration::from_millis(300));
    check_nothing_left(&e, &seen);
}

#[test]
fn a_container_whose_monitor_is_killed_is_still_running_and_can_be_stopped() {
    if !prerequisites() {
        return;
    }
    let e = Engine::new();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "orphan",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let v = e.inspect("orphan");
    let (pid, monitor) = (
        v["State"]["Pid"].as_i64().unwrap(),
        v["State"]["ConmonPid"].as_i64().unwrap(),
    );
    // SAFETY: killing the monitor this test's engine started.
    unsafe { libc::kill(monitor as i32, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "the container outlives its monitor");
    let v = e.inspect("orphan");
    assert_eq!(v["State"]["Status"], "running", "{v}");
    assert!(
        v["State"]["Error"]
            .as_str()
            .unwrap()
            .contains("monitor died"),
        "{v}"
    );
    // Starting it again must not start a second one.
    e.ok(&["start", "orphan"]);
    assert_eq!(e.inspect("orphan")["State"]["Pid"].as_i64(), Some(pid));
    e.ok(&["stop", "-t", "5", "orphan"]);
    assert!(!alive(pid));
    assert_eq!(e.inspect("orphan")["State"]["Status"], "exited");
    e.ok(&["rm", "orphan"]);
    check_nothing_left(&e, &BTreeSet::new());
}
