//! The REST API over a unix socket: configure, start, pause/resume, metrics, stop, errors;
//! snapshot of a paused VM and restore into a new VMM process that continues the guest.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_testkit::ChildGuard;

/// A VMM child whose stdout lines are collected; killed (by pid) on drop.
struct Vmm {
    child: ChildGuard,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Vmm {
    fn spawn(args: &[&str]) -> Vmm {
        let mut child = Command::new(vmm_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Vmm {
            child: ChildGuard(child),
            lines,
            reader: Some(reader),
        }
    }

    fn counts(&self) -> Vec<u64> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("COUNT="))
            // A line cut by the pause is completed by the restored process: skip fragments.
            .filter(|v| v.len() == 8)
            .map(|v| u64::from_str_radix(v, 16).unwrap())
            .collect()
    }

    fn wait_count(&self, n: u64) -> u64 {
        let t0 = Instant::now();
        loop {
            if let Some(c) = self.counts().last().copied().filter(|c| *c >= n) {
                return c;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "guest did not reach COUNT={n}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_exit(&mut self) -> (Option<i32>, String) {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.0.try_wait().unwrap() {
                // Every line the guest printed has been read once the pipe is drained.
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                let mut err = String::new();
                self.child
                    .0
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (st.code(), err);
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "vmm did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn wait_socket(p: &Path) {
    let t0 = Instant::now();
    while UnixStream::connect(p).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "api socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One HTTP request; returns (status, body).
fn http(sock: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = UnixStream::connect(sock).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

fn sock_path(name: &str) -> PathBuf {
    let p = scratch().join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn configure_start_pause_resume_metrics_stop() {
    if !require_kvm() {
        return;
    }
    let k = guest("count");
    let sock = sock_path("api1.sock");
    let mut vmm = Vmm::spawn(&["--api-sock", sock.to_str().unwrap()]);
    wait_socket(&sock);
    // A client that connects and sends nothing cannot wedge the API (5 s read timeout).
    let idle = UnixStream::connect(&sock).unwrap();
    let t0 = Instant::now();
    let (st, body) = http(&sock, "GET", "/", "");
    assert!(t0.elapsed() < Duration::from_secs(15));
    drop(idle);
    assert_eq!(st, 200);
    assert!(body.contains("\"Not started\""), "{body}");
    assert_eq!(
        http(
            &sock,
            "PUT",
            "/machine-config",
            r#"{"vcpu_count": 1, "mem_size_mib": 32}"#
        )
        .0,
        204
    );
    let bs = format!(
        r#"{{"kernel_image_path": "{}", "boot_args": "console=ttyS0"}}"#,
        k.display()
    );
    assert_eq!(http(&sock, "PUT", "/boot-source", &bs).0, 204);
    assert_eq!(http(&sock, "PUT", "/entropy", "{}").0, 204);
    // Errors are 4xx with a fault message, and change nothing.
    let (st, body) = http(&sock, "PUT", "/machine-config", r#"{"vcpu_count": "#);
    assert_eq!(st, 400);
    assert!(
        body.contains("fault_message") && body.contains("malformed json"),
        "{body}"
    );
    assert_eq!(http(&sock, "GET", "/nope", "").0, 404);
    assert_eq!(
        http(&sock, "PATCH", "/vm", r#"{"state": "Paused"}"#).0,
        400,
        "not started yet"
    );
    assert_eq!(
        http(
            &sock,
            "PUT",
            "/actions",
            r#"{"action_type": "InstanceStart"}"#
        )
        .0,
        204
    );
    vmm.wait_count(2);
    assert_eq!(
        http(&sock, "PUT", "/machine-config", r#"{"vcpu_count": 2}"#).0,
        400,
        "config is frozen once started"
    );
    // Pause: the guest stops printing.
    assert_eq!(http(&sock, "PATCH", "/vm", r#"{"state": "Paused"}"#).0, 204);
    // Lines printed before the pause may still be in the pipe.
    std::thread::sleep(Duration::from_millis(200));
    let at_pause = vmm.counts().len();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(vmm.counts().len(), at_pause, "guest ran while paused");
    assert!(http(&sock, "GET", "/", "").1.contains("\"Paused\""));
    let (st, m) = http(&sock, "GET", "/metrics", "");
    assert_eq!(st, 200);
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert!(m["vcpu_exits"]["pio"].as_u64().unwrap() > 10, "{m}");
    assert_eq!(m["virtio"].as_array().unwrap().len(), 1);
    // Resume: it continues.
    assert_eq!(
        http(&sock, "PUT", "/actions", r#"{"action_type": "Resume"}"#).0,
        204
    );
    let last = *vmm.counts().last().unwrap();
    vmm.wait_count(last + 2);
    assert_eq!(
        http(&sock, "PUT", "/actions", r#"{"action_type": "Stop"}"#).0,
        204
    );
    let (code, err) = vmm.wait_exit();
    assert_eq!(code, Some(0), "{err}");
    assert!(!sock.exists(), "api socket left behind");
}

#[test]
fn snapshot_of_paused_vm_restores_in_a_new_process() {
    if !require_kvm() {
        return;
    }
    let k = guest("count");
    let sock = sock_path("api2.sock");
    let snap = scratch().join("count.snap.json");
    let mem = scratch().join("count.mem");
    let mut vmm = Vmm::spawn(&[
        "--api-sock",
        sock.to_str().unwrap(),
        "--kernel",
        k.to_str().unwrap(),
        "--mem",
        "32",
    ]);
    wait_socket(&sock);
    vmm.wait_count(3);
    let req = format!(
        r#"{{"snapshot_path": "{}", "mem_file_path": "{}"}}"#,
        snap.display(),
        mem.display()
    );
    assert_eq!(
        http(&sock, "PUT", "/snapshot/create", &req).0,
        400,
        "only a paused vm"
    );
    assert_eq!(http(&sock, "PATCH", "/vm", r#"{"state": "Paused"}"#).0, 204);
    let (st, body) = http(&sock, "PUT", "/snapshot/create", &req);
    assert_eq!(st, 204, "{body}");
    assert_eq!(
        http(&sock, "PUT", "/actions", r#"{"action_type": "Stop"}"#).0,
        204
    );
    assert_eq!(vmm.wait_exit().0, Some(0));
    let last = *vmm.counts().last().unwrap();
    assert_eq!(std::fs::metadata(&mem).unwrap().len(), 32 << 20);

    // A new process continues the guest right after the last line it printed.
    let t0 = Instant::now();
    let mut restored = Vmm::spawn(&["--restore", snap.to_str().unwrap()]);
    let (code, err) = restored.wait_exit();
    let elapsed = t0.elapsed();
    assert_eq!(code, Some(0), "{err}");
    let counts = restored.counts();
    // If the snapshot cut a line, the restored process first prints the rest of it.
    let cut = !restored.lines.lock().unwrap()[0].starts_with("COUNT=");
    let expect = if cut { last + 2 } else { last + 1 };
    assert_eq!(counts.first().copied(), Some(expect), "{counts:?}");
    assert_eq!(counts.last().copied(), Some(40));
    assert!(restored.lines.lock().unwrap().iter().any(|l| l == "DONE"));
    eprintln!("restore ran {} lines in {elapsed:?}", counts.len());

    // Through the API: load paused, check, resume; the guest runs to its end again.
    let sock3 = sock_path("api3.sock");
    let mut api = Vmm::spawn(&["--api-sock", sock3.to_str().unwrap()]);
    wait_socket(&sock3);
    let load = format!(
        r#"{{"snapshot_path": "{}", "resume_vm": false}}"#,
        snap.display()
    );
    let (st, body) = http(&sock3, "PUT", "/snapshot/load", &load);
    assert_eq!(st, 204, "{body}");
    assert!(http(&sock3, "GET", "/", "").1.contains("\"Paused\""));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        api.counts().is_empty(),
        "a paused restore must not run the guest"
    );
    assert_eq!(
        http(&sock3, "PATCH", "/vm", r#"{"state": "Resumed"}"#).0,
        204
    );
    let (code, err) = api.wait_exit();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(api.counts().last().copied(), Some(40));

    // A snapshot whose memory file does not match is refused before anything runs.
    std::fs::write(&mem, b"short").unwrap();
    let o = run_vmm(&["--restore", snap.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("memory file is 5 bytes"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_file(&mem);
}
