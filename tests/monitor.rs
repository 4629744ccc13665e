//! The container monitor end to end: strata-monitor creates a container through the runtime
//! library, the process that asked for it dies, and the container keeps running under its
//! monitor, which logs its output in the CRI format, answers on its control socket and
//! records its exit.

use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use strata_monitor::protocol::{call, Request, Status};
use strata_monitor::record::{self, ExitRecord, MonitorPid};
use strata_monitor::{launch, LaunchOptions};
use strata_testkit::{busybox_rootfs, require_root, require_tools, workspace_bin, ChildGuard};

/// A container's bundle, runtime root and monitor directory, cleaned up on drop (the
/// container and its monitor killed if a test failed half-way, its cgroup removed).
struct Fixture {
    tmp: tempfile::TempDir,
    id: String,
    cgroup: String,
}

impl Fixture {
    fn new(name: &str, script: &str) -> Fixture {
        Self::with_terminal(name, script, false)
    }

    fn with_terminal(name: &str, script: &str, terminal: bool) -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("strata-e2e-mon")
            .tempdir()
            .unwrap();
        let id = format!("{name}-{}", std::process::id());
        let cgroup = format!("/strata-e2e-{id}");
        let bundle = tmp.path().join("bundle");
        busybox_rootfs(&bundle.join("rootfs"));
        let out = Command::new(workspace_bin("strata-runc"))
            .args(["spec", "-b"])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg_path = bundle.join("config.json");
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        cfg["process"]["terminal"] = json!(terminal);
        cfg["process"]["args"] = json!(["/bin/sh", "-c", script]);
        cfg["root"]["readonly"] = json!(false);
        cfg["linux"]["cgroupsPath"] = json!(cgroup);
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        std::fs::create_dir(tmp.path().join("mon")).unwrap();
        Fixture { tmp, id, cgroup }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("mon")
    }

    fn runtime_root(&self) -> PathBuf {
        self.tmp.path().join("runtime")
    }

    fn log(&self) -> PathBuf {
        self.tmp.path().join("ctr.log")
    }

    fn options(&self, start: bool) -> LaunchOptions {
        LaunchOptions {
            monitor: workspace_bin("strata-monitor"),
            id: self.id.clone(),
            bundle: self.tmp.path().join("bundle"),
            runtime_root: self.runtime_root(),
            dir: self.dir(),
            log: Some(self.log()),
            log_max_size: 0,
            log_max_files: 1,
            start,
            ..Default::default()
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir()
    }

    fn monitor(&self) -> Option<MonitorPid> {
        record::read(&self.dir(), record::PID).unwrap()
    }

    fn exit(&self) -> Option<ExitRecord> {
        record::read(&self.dir(), record::EXIT).unwrap()
    }

    /// The log's records as (stream, tag, text).
    fn log_lines(&self) -> Vec<(String, String, String)> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut it = l.splitn(4, ' ');
                let ts = it.next().unwrap();
                assert!(ts.ends_with('Z') && ts.contains('T'), "time stamp {ts:?}");
                let s = it.next().unwrap().to_string();
                let t = it.next().unwrap().to_string();
                (s, t, it.next().unwrap_or("").to_string())
            })
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for f in [record::MONITOR_LOG, record::RUNTIME_LOG] {
                if let Ok(s) = std::fs::read_to_string(self.dir().join(f)) {
                    eprintln!("--- {f}:\n{s}");
                }
            }
        }
        if let Some(m) = self.monitor() {
            if m.alive() {
                // SAFETY: the monitor this test started (same pid and start time).
                unsafe { libc::kill(m.pid, libc::SIGKILL) };
            }
        }
        let _ = Command::new(workspace_bin("strata-runc"))
            .arg("--root")
            .arg(self.runtime_root())
            .args(["delete", "--force", &self.id])
            .output();
        let rel = self.cgroup.trim_start_matches('/');
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in rd.flatten() {
                let _ = std::fs::remove_dir(h.path().join(rel));
            }
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(
                s[s.rfind(')').unwrap() + 2..].chars().next(),
                Some('Z' | 'X')
            )
        })
        .unwrap_or(false)
}

fn prerequisites() -> bool {
    require_root() && require_tools(&["busybox"])
}

#[test]
fn container_survives_the_death_of_its_requester() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new(
        "survive",
        "echo hello; echo oops >&2; printf part; trap 'echo bye; exit 3' TERM; \
         while true; do sleep 0.1; done",
    );
    // The requester: a shell in its own process group that runs the monitor (which reports
    // on fd 3, here a file) and then lingers; it is SIGKILLed with its whole group.
    let sync = f.tmp.path().join("sync.json");
    let args: Vec<String> = f
        .options(true)
        .args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let script = r#"m="$1"; s="$2"; shift 2; "$m" "$@" 3>"$s"; exec sleep 1000"#;
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script, "requester"])
        .arg(workspace_bin("strata-monitor"))
        .arg(&sync)
        .args(&args)
        .process_group(0);
    let requester = ChildGuard::spawn(&mut cmd).unwrap();
    wait_until("the monitor's report", Duration::from_secs(20), || {
        std::fs::read(&sync).is_ok_and(|b| b.ends_with(b"}"))
    });
    let report: Value = serde_json::from_slice(&std::fs::read(&sync).unwrap()).unwrap();
    let pid = report["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("report {report}")) as i32;
    let monitor = f.monitor().expect("monitor.pid");
    assert_eq!(report["monitor"]["pid"], monitor.pid);

    // Kill the requester and its process group.
    // SAFETY: signalling the process group of the shell this test spawned.
    unsafe { libc::kill(-requester.pid(), libc::SIGKILL) };
    drop(requester);
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(pid), "the container died with its requester");
    assert!(monitor.alive(), "the monitor died with its requester");

    let st = call(&f.socket(), &Request::State, Some(Duration::from_secs(5))).unwrap();
    assert_eq!((st.status, st.pid), (Some(Status::Running), Some(pid)));
    wait_until(
        "the container's output in the log",
        Duration::from_secs(10),
        || f.log_lines().len() >= 3,
    );
    let lines = f.log_lines();
    assert!(
        lines.contains(&("stdout".into(), "F".into(), "hello".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stderr".into(), "F".into(), "oops".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("stdout".into(), "P".into(), "part".into())),
        "{lines:?}"
    );

    // A second client waits for the exit while a third asks for SIGTERM.
    let waiter = {
        let sock = f.socket();
        std::thread::spawn(move || call(&sock, &Request::Wait, Some(Duration::from_secs(30))))
    };
    std::thread::sleep(Duration::from_millis(100));
    let k = call(
        &f.socket(),
        &Request::Kill {
            signal: libc::SIGTERM,
            all: false,
        },
        None,
    )
    .unwrap();
    assert!(k.ok, "{k:?}");
    let w = waiter.join().unwrap().unwrap();
    let exit = w.exit.expect("wait answers with the exit");
    assert_eq!(
        (exit.exit_code, exit.signal, exit.oom_killed, exit.pid),
        (3, None, false, pid)
    );
    assert_eq!(f.exit(), Some(exit), "exit.json holds what wait answered");
    wait_until("the monitor to exit", Duration::from_secs(10), || {
        !monitor.alive()
    });
    assert!(!alive(pid));
    assert!(
        f.log_lines()
            .contains(&("stdout".into(), "F".into(), "bye".into())),
        "output drained at exit"
    );
    assert!(
        !f.runtime_root().join(&f.id).exists(),
        "runtime state deleted"
    );
    assert!(
        !Path::new("/sys/fs/cgroup/memory")
            .join(f.cgroup.trim_start_matches('/'))
            .exists(),
        "cgroup removed"
    );
    assert!(
        !f.dir().join(record::SOCKET).exists(),
        "control socket removed"
    );
}

#[test]
fn create_then_start_through_the_control_socket() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("start", "echo started; exit 7");
    let l = launch(&f.options(false)).unwrap();
    let st = call(&f.socket(), &Request::State, None).unwrap();
    assert_eq!((st.status, st.pid), (Some(Status::Created), Some(l.pid)));
    assert!(f.log_lines().is_empty(), "nothing runs before start");
    assert_eq!(f.exit(), None);
    // Create-only returned while the init waits: the sync pipe did not wait for its exec.
    // A wait sent before the start is answered even if the container is gone at once.
    let mut waiter = strata_monitor::protocol::connect(&f.dir()).unwrap();
    waiter.write_all(b"{\"op\":\"wait\"}\n").unwrap();
    let s = call(&f.socket(), &Request::Start, None).unwrap();
    assert!(s.ok, "{s:?}");
    let mut answer = String::new();
    std::io::BufReader::new(&waiter)
        .read_line(&mut answer)
        .unwrap();
    let w: strata_monitor::Response = serde_json::from_str(&answer).unwrap();
    let exit = w.exit.unwrap();
    assert_eq!(exit.exit_code, 7);
    assert_eq!(
        f.log_lines(),
        [("stdout".to_string(), "F".to_string(), "started".to_string())]
    );
    wait_until("the monitor to exit", Duration::from_secs(10), || {
        !l.monitor.alive()
    });
}

#[test]
fn a_failed_create_reports_the_runtime_error_and_leaves_nothing() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new("fail", "true");
    let cfg = f.tmp.path().join("bundle/config.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["process"]["args"] = json!(["/no/such/program"]);
    std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = launch(&f.options(true)).unwrap_err().to_string();
    assert!(e.contains("/no/such/program"), "{e}");
    let m = f.monitor().expect("the monitor recorded itself");
    wait_until("the monitor to exit", Duration::from_secs(10), || {
        !m.alive()
    });
    assert!(
        !f.runtime_root().join(&f.id).exists(),
        "runtime state left behind"
    );
    assert!(!Path::new("/sys/fs/cgroup/memory")
        .join(f.cgroup.trim_start_matches('/'))
        .exists());
    assert_eq!(f.exit(), None);
}

#[test]
fn attach_relays_output_and_feeds_stdin() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new(
        "attach",
        "read line; echo got:$line; echo err >&2; cat; exit 4",
    );
    let mut o = f.options(false);
    o.stdin = true;
    let l = launch(&o).unwrap();
    let mut a = strata_monitor::attach::attach(&f.dir(), true).unwrap();
    let start = call(&f.socket(), &Request::Start, None).unwrap();
    assert!(start.ok, "{start:?}");
    let mut input = a.input().unwrap();
    let feeder = std::thread::spawn(move || input.copy_from(&mut &b"ping\nrest of input\n"[..]));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = a.relay(&mut out, &mut err).unwrap().expect("exit frame");
    feeder.join().unwrap().unwrap();
    assert_eq!(exit.exit_code, 4);
    assert_eq!(String::from_utf8_lossy(&out), "got:ping\nrest of input\n");
    assert_eq!(String::from_utf8_lossy(&err), "err\n");
    wait_until("the monitor to exit", Duration::from_secs(10), || {
        !l.monitor.alive()
    });
    // The log has what the attached client saw.
    assert!(f
        .log_lines()
        .contains(&("stdout".into(), "F".into(), "rest of input".into())));
}

#[test]
fn a_terminal_container_gets_a_pty_and_its_resizes() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::with_terminal("tty", "read go; tty; stty size", true);
    let mut o = f.options(false);
    o.terminal = true;
    let l = launch(&o).unwrap();
    let mut a = strata_monitor::attach::attach(&f.dir(), true).unwrap();
    let r = call(
        &f.socket(),
        &Request::Resize {
            rows: 33,
            cols: 101,
            session: None,
        },
        None,
    )
    .unwrap();
    assert!(r.ok, "{r:?}");
    assert!(call(&f.socket(), &Request::Start, None).unwrap().ok);
    let mut input = a.input().unwrap();
    input.copy_from(&mut &b"go\n"[..]).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = a.relay(&mut out, &mut err).unwrap().expect("exit frame");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(exit.exit_code, 0, "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("33 101"), "{text}");
    wait_until("the monitor to exit", Duration::from_secs(10), || {
        !l.monitor.alive()
    });
}

#[test]
fn reopen_log_starts_a_new_file_at_the_same_path() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new(
        "reopen",
        "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done",
    );
    let l = launch(&f.options(false)).unwrap();
    let r = call(&f.socket(), &Request::ReopenLog, None).unwrap();
    assert!(!r.ok, "a created container has nothing to reopen: {r:?}");
    assert!(call(&f.socket(), &Request::Start, None).unwrap().ok);
    wait_until("output in the log", Duration::from_secs(10), || {
        f.log_lines().len() >= 2
    });
    let moved = f.tmp.path().join("ctr.log.1");
    std::fs::rename(f.log(), &moved).unwrap();
    let r = call(&f.socket(), &Request::ReopenLog, None).unwrap();
    assert!(r.ok, "{r:?}");
    wait_until("output in the new file", Duration::from_secs(10), || {
        f.log_lines().len() >= 2
    });
    let old = std::fs::read_to_string(&moved).unwrap();
    assert!(
        old.lines().next().unwrap().ends_with(" stdout F line0"),
        "{old}"
    );
    assert_ne!(f.log_lines()[0].2, "line0");
    assert!(
        call(
            &f.socket(),
            &Request::Kill {
                signal: 9,
                all: false
            },
            None
        )
        .unwrap()
        .ok
    );
    wait_until("the monitor to exit", Duration::from_secs(10), || {
        !l.monitor.alive()
    });
}
