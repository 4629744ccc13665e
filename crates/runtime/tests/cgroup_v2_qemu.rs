//! The cgroup v2 driver, tested where cgroup v2 is the only hierarchy: our machines are a v1
//! hybrid, so the test boots Debian's stock cloud kernel under QEMU (TCG) from an initramfs
//! holding busybox-static, the `strata-runc` binary under test with its shared libraries, and
//! OCI bundles. The guest (tests/qemu/guest-tests.sh) mounts cgroup2 at /sys/fs/cgroup, runs
//! the containers and prints `RESULT key=value` lines on the serial console; this test
//! asserts on them and prints the whole console on failure.
//!
//! It first caught two bugs in the v2 device program (fixed in bf94282): the verifier's log
//! (level 1, 4 KiB buffer) overflowed and BPF_PROG_LOAD failed with ENOSPC for any rule list,
//! and a wildcard rule such as the default spec's deny-all left unreachable instructions
//! behind it, which the verifier refuses (EINVAL). Every container below carries device
//! rules, so both stay covered.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata_testkit::{require, require_root, require_tools, ChildGuard};

const KERNEL_DIR: &str = "/var/cache/strata/kernel/boot";
/// Boot plus every container under TCG; the whole test stays under ~3 minutes.
const GUEST_TIMEOUT: Duration = Duration::from_secs(170);

fn qemu_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qemu")
}

fn find_kernel() -> Option<PathBuf> {
    let mut k: Vec<PathBuf> = std::fs::read_dir(KERNEL_DIR)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    k.sort();
    k.pop()
}

/// The default spec from `strata-runc spec`, made non-interactive and pointed at the shared
/// read-only rootfs of the guest.
fn base_spec(runc: &str, scratch: &Path) -> Value {
    let out = Command::new(runc)
        .arg("spec")
        .current_dir(scratch)
        .output()
        .expect("run strata-runc spec");
    assert!(out.status.success(), "strata-runc spec: {out:?}");
    let text = std::fs::read_to_string(scratch.join("config.json")).expect("read spec");
    let mut v: Value = serde_json::from_str(&text).expect("parse spec");
    v["process"]["terminal"] = json!(false);
    v["root"] = json!({"path": "/rootfs", "readonly": true});
    v
}

fn bundle(root: &Path, base: &Value, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) {
    let mut v = base.clone();
    v["process"]["args"] = json!(args);
    v["hostname"] = json!(name);
    v["linux"]["cgroupsPath"] = json!(format!("/strata-v2/{name}"));
    edit(&mut v);
    let dir = root.join("bundles").join(name);
    std::fs::create_dir_all(&dir).expect("bundle dir");
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&v).unwrap(),
    )
    .expect("write config.json");
}

/// Device rules that deny every char and block device without a wildcard rule (the program
/// then ends with the default deny instead of the wildcard rule's block).
fn deny_typed() -> Value {
    json!([
        {"allow": false, "type": "c", "access": "rwm"},
        {"allow": false, "type": "b", "access": "rwm"}
    ])
}

/// CAP_MKNOD and CAP_SYS_RAWIO (which /dev/mem needs), so the device program alone decides.
fn add_caps(v: &mut Value) {
    for set in ["bounding", "effective", "permitted"] {
        let caps = v["process"]["capabilities"][set]
            .as_array_mut()
            .expect("the default spec has capability sets");
        caps.push(json!("CAP_MKNOD"));
        caps.push(json!("CAP_SYS_RAWIO"));
    }
}

/// Adds `extra` to the spec's resources, keeping its device rules.
fn resources(v: &mut Value, extra: Value) {
    let r = v["linux"]["resources"]
        .as_object_mut()
        .expect("the default spec has linux.resources");
    for (k, x) in extra.as_object().expect("resources object") {
        r.insert(k.clone(), x.clone());
    }
}

fn make_bundles(root: &Path, base: &Value) {
    let testkmsg = json!([{
        "path": "/dev/testkmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438
    }]);
    let deny_full = json!({"allow": false, "type": "c", "major": 1, "minor": 7, "access": "rwm"});
    // Every container but b keeps the default spec's wildcard deny-all device rule.
    // (a) limits read from inside the container's cgroup namespace.
    bundle(root, base, "a", &["/bin/sh", "/checks.sh", "limits"], |v| {
        resources(
            v,
            json!({
                "memory": {"limit": 67108864},
                "pids": {"limit": 32},
                "cpu": {"quota": 50000, "period": 100000, "shares": 1024}
            }),
        );
    });
    // (b) device control with typed deny rules: the linux.devices node is allowed implicitly,
    // a node the container makes itself is not; /dev/full is denied by a rule, but the
    // default allow list comes after the spec's rules and the last match decides (as runc).
    bundle(
        root,
        base,
        "b",
        &["/bin/sh", "/checks.sh", "devices", "b"],
        |v| {
            v["linux"]["devices"] = testkmsg.clone();
            add_caps(v);
            let mut rules = deny_typed();
            rules.as_array_mut().unwrap().push(deny_full.clone());
            v["linux"]["resources"] = json!({ "devices": rules });
        },
    );
    // (b') the same with the default spec's rule list (a wildcard deny-all first).
    bundle(
        root,
        base,
        "w",
        &["/bin/sh", "/checks.sh", "devices", "w"],
        |v| {
            v["linux"]["devices"] = testkmsg.clone();
            add_caps(v);
            v["linux"]["resources"]["devices"]
                .as_array_mut()
                .expect("the default spec has a device rule list")
                .push(deny_full.clone());
        },
    );
    // (c) live update (memory, pids, the device program); (d) pause and resume.
    for name in ["c", "d"] {
        bundle(root, base, name, &["/bin/sleep", "600"], |v| {
            add_caps(v);
            resources(
                v,
                json!({
                    "memory": {"limit": 67108864},
                    "pids": {"limit": 32}
                }),
            );
        });
    }
    // (f) the other v2 interface files, read from inside.
    bundle(
        root,
        base,
        "f",
        &[
            "/bin/sh",
            "/checks.sh",
            "files",
            "f",
            "memory.low",
            "memory.swap.max",
            "memory.high",
            "cpuset.cpus",
            "cpuset.mems",
            "io.weight",
            "hugetlb.2MB.max",
        ],
        |v| {
            resources(
                v,
                json!({
                    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
                    "cpu": {"cpus": "0", "mems": "0"},
                    "blockIO": {"weight": 500},
                    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                    "unified": {"memory.high": "62914560"}
                }),
            );
        },
    );
    // (g) cpu realtime has no v2 equivalent: refused.
    bundle(root, base, "g", &["/bin/true"], |v| {
        resources(
            v,
            json!({
                "cpu": {"realtimeRuntime": 1000, "realtimePeriod": 1000000}
            }),
        );
    });
    // (h) --systemd-cgroup's slice:prefix:name; (i) no cgroupsPath at all.
    bundle(root, base, "h", &["/bin/sleep", "600"], |v| {
        v["linux"]["cgroupsPath"] = json!("machine-strata.slice:strata:h");
        resources(v, json!({ "memory": {"limit": 50331648} }));
    });
    bundle(root, base, "i", &["/bin/sleep", "600"], |v| {
        v["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        resources(v, json!({ "pids": {"limit": 7} }));
    });
    // (e) OOM kill.
    bundle(root, base, "e", &["/bin/sh", "/checks.sh", "oom"], |v| {
        resources(v, json!({ "memory": {"limit": 16777216} }));
    });
}

/// Boots the guest and returns its console output and whether QEMU exited by itself.
fn boot(kernel: &Path, initrd: &Path) -> (String, bool) {
    let child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-M", "q35", "-m", "512", "-smp", "1"])
        .args(["-nographic", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qemu-system-x86_64");
    // Kills and reaps QEMU (by its own pid, through the Child) whatever happens.
    let mut q = ChildGuard(child);
    let out = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut readers = Vec::new();
    for mut pipe in [
        Box::new(q.0.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(q.0.stderr.take().unwrap()),
    ] {
        let out = Arc::clone(&out);
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }));
    }
    let start = Instant::now();
    let mut exited = false;
    while start.elapsed() < GUEST_TIMEOUT {
        if let Ok(Some(_)) = q.0.try_wait() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(q); // kills QEMU if it is still running; the pipes then close
    for r in readers {
        let _ = r.join();
    }
    let text = String::from_utf8_lossy(&out.lock().unwrap()).replace('\r', "");
    eprintln!(
        "guest finished in {:.1} s (exited by itself: {exited})",
        start.elapsed().as_secs_f64()
    );
    (text, exited)
}

fn results(console: &str) -> HashMap<String, String> {
    console
        .lines()
        .filter_map(|l| l.find("RESULT ").map(|i| &l[i + 7..]))
        .filter_map(|r| r.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn cgroup_v2_driver_in_a_qemu_guest() {
    if !require_root() {
        return;
    }
    let Some(kernel) = find_kernel() else {
        require(
            false,
            &format!("no {KERNEL_DIR}/vmlinuz-* (scripts/setup.d/vmm.sh unpacks it)"),
        );
        return;
    };
    if !require_tools(&["qemu-system-x86_64", "cpio", "gzip", "strip"]) {
        return;
    }
    if !require(
        Path::new("/bin/busybox").is_file(),
        "/bin/busybox (busybox-static) is missing",
    ) {
        return;
    }

    let runc = env!("CARGO_BIN_EXE_strata-runc");
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("root");
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let base = base_spec(runc, &scratch);
    make_bundles(&root, &base);
    let initrd = tmp.path().join("initramfs.cpio.gz");
    let st = Command::new("sh")
        .arg(qemu_dir().join("build-initramfs.sh"))
        .arg(&root)
        .arg(runc)
        .arg(&initrd)
        .status()
        .expect("run build-initramfs.sh");
    assert!(st.success(), "build-initramfs.sh: {st}");

    let (console, exited) = boot(&kernel, &initrd);
    let r = results(&console);
    let get = |k: &str| r.get(k).map(String::as_str).unwrap_or("<missing>");
    let mut failures: Vec<String> = Vec::new();
    let mut check = |what: &str, ok: bool, seen: String| {
        if !ok {
            failures.push(format!("{what}: got {seen}"));
        }
    };
    let eq = |k: &str, want: &str| (get(k) == want, format!("{k}={} (want {want})", get(k)));

    for (k, want) in [
        ("boot", "ok"),
        ("done", "1"),
        // (a) limits, seen from inside through the cgroup namespace.
        ("a.exit", "0"),
        ("a.memory.max", "67108864"),
        ("a.pids.max", "32"),
        ("a.cpu.max", "50000 100000"),
        ("a.cpu.weight", "39"),
        ("a.self_cgroup", "0::/"),
        ("a.cgroup_gone", "yes"),
        // (b) devices: the eBPF program allows /dev/null and the linux.devices node, and
        // denies a node the container makes itself, with typed rules (b) and with the default
        // spec's wildcard deny-all (w).
        ("b.exit", "0"),
        ("b.null", "ok"),
        ("b.kmsg_node", "character special file 1:b"),
        ("b.kmsg", "open"),
        ("b.mknod", "ok"),
        ("b.cgroup_gone", "yes"),
        ("w.exit", "0"),
        ("w.null", "ok"),
        ("w.kmsg_node", "character special file 1:b"),
        ("w.kmsg", "open"),
        ("w.mknod", "ok"),
        ("w.cgroup_gone", "yes"),
        // (c) update applies live.
        ("c.run", "0"),
        ("c.before", "67108864"),
        ("c.update", "0"),
        ("c.after", "33554432"),
        ("c.update_pids", "0"),
        ("c.pids_after", "10"),
        ("c.dev_before", "denied"),
        ("c.update_devices", "0"),
        ("c.dev_after", "open"),
        ("c.delete", "0"),
        ("c.cgroup_gone", "yes"),
        // (d) pause and resume through cgroup.freeze.
        ("d.run", "0"),
        ("d.pause", "0"),
        ("d.paused_status", "paused"),
        ("d.freeze", "1"),
        ("d.events", "frozen 1"),
        ("d.resume", "0"),
        ("d.resumed_status", "running"),
        ("d.thawed", "0"),
        ("d.delete", "0"),
        ("d.cgroup_gone", "yes"),
        // (f) the other v2 files (OCI swap is memory+swap, v2 counts swap alone; blkio
        // weight 500 is io.weight 4950 by runc's conversion).
        ("f.exit", "0"),
        ("f.memory.low", "33554432"),
        ("f.memory.swap.max", "67108864"),
        ("f.memory.high", "62914560"),
        ("f.cpuset.cpus", "0"),
        ("f.cpuset.mems", "0"),
        ("f.io.weight", "default 4950"),
        ("f.hugetlb.2MB.max", "4194304"),
        ("f.cgroup_gone", "yes"),
        // (g) refused, and nothing left behind.
        ("g.cgroup_gone", "yes"),
        // (h) systemd-style path placed with the cgroupfs driver; ps; exec joins the cgroup.
        ("h.run", "0"),
        ("h.memory.max", "50331648"),
        ("h.exec_cgroup", "0::/"),
        ("h.delete", "0"),
        ("h.cgroup_gone", "yes"),
        // (i) no cgroupsPath.
        ("i.run", "0"),
        ("i.pids.max", "7"),
        ("i.delete", "0"),
        ("i.cgroup_gone", "yes"),
        // (e) the OOM killer ends the container's init: SIGKILL, 128 + 9.
        ("e.exit", "137"),
        ("e.cgroup_gone", "yes"),
        ("leftover", ""),
    ] {
        let (ok, seen) = eq(k, want);
        check(k, ok, seen);
    }
    for c in ["memory", "pids", "cpu"] {
        check(
            "controllers",
            get("controllers").split(',').any(|x| x == c),
            format!("{} (want {c} among them)", get("controllers")),
        );
    }
    // ps lists exactly the container's init, the one pid in its cgroup.
    let init = get("h.init_pid").trim_end_matches(',');
    check(
        "h.ps",
        !init.is_empty() && !init.contains(',') && get("h.ps") == format!("[{init}]"),
        format!("ps {} (cgroup.procs {})", get("h.ps"), get("h.init_pid")),
    );
    for k in ["b.mem", "w.mem"] {
        check(
            k,
            get(k).contains("/dev/mem2") && get(k).contains("Operation not permitted"),
            format!("{} (want EPERM from the device program)", get(k)),
        );
    }
    check(
        "g",
        get("g.exit") != "0" && get("g.stderr").contains("realtime"),
        format!("exit {}, stderr {}", get("g.exit"), get("g.stderr")),
    );
    check(
        "e.stderr",
        get("e.stderr").contains("OOM killer"),
        format!("{} (want the OOM kill reported)", get("e.stderr")),
    );
    check(
        "qemu",
        exited,
        "still running at the timeout (killed)".into(),
    );
    // /dev/full (c 1:7) is denied by a rule, but the default allow list is appended after the
    // spec's rules and the last matching rule decides, as in runc: it stays usable.
    eprintln!("b.full (informational) = {}", get("b.full"));
    if !failures.is_empty() {
        panic!(
            "cgroup v2 in the qemu guest ({}):\n  {}\n--- guest console ---\n{console}",
            kernel.display(),
            failures.join("\n  ")
        );
    }
    for l in console.lines().filter(|l| l.contains("RESULT ")) {
        eprintln!("{l}");
    }
    eprintln!(
        "{} RESULT lines checked",
        console.matches("RESULT ").count()
    );
}
