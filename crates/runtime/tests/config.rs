//! What config.json asks for is what the container gets: namespaces, mounts, user, capabilities,
//! rlimits, seccomp, hooks, devices, sysctl.

mod common;
use common::*;
use serde_json::json;

fn run_ok(b: &Bundle, id: &str) -> String {
    let rt = Rt::new();
    let (code, out, err) = rt.run_bundle(b, id);
    assert_eq!(code, 0, "container {id} failed: {err}");
    out
}

#[test]
fn namespaces_hostname_and_pid1() {
    if !root() {
        return;
    }
    let mut b = Bundle::new(
        "ns",
        &[
            "/bin/sh",
            "-c",
            "hostname; echo $$; readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
        ],
    );
    b.edit(|c| {
        c["hostname"] = json!("nshost");
        c["domainname"] = json!("example.org");
    });
    let out = run_ok(&b, "ns");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "nshost");
    assert_eq!(l[1], "1");
    assert_ne!(
        l[2],
        std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert_ne!(
        l[3],
        std::fs::read_link("/proc/self/ns/uts")
            .unwrap()
            .to_str()
            .unwrap()
    );
}

#[test]
fn joins_another_containers_namespaces_by_path() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let a = Bundle::new("pod-infra", &["/bin/sleep", "1000"]);
    rt.ok(&["run", "-d", "-b", a.path().to_str().unwrap(), "pod-infra"]);
    let pid = rt.state("pod-infra")["pid"].as_i64().unwrap();
    let infra_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let infra_ipc = std::fs::read_link(format!("/proc/{pid}/ns/ipc")).unwrap();
    let mut b = Bundle::new(
        "pod-app",
        &[
            "/bin/sh",
            "-c",
            "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc",
        ],
    );
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "mount"}, {"type": "uts"},
            {"type": "network", "path": format!("/proc/{pid}/ns/net")},
            {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}
        ]);
    });
    let (code, out, err) = rt.run_bundle(&b, "pod-app");
    assert_eq!(code, 0, "{err}");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(
        l,
        vec![infra_net.to_str().unwrap(), infra_ipc.to_str().unwrap()]
    );
}

#[test]
fn user_namespace_maps_ids() {
    if !root() {
        return;
    }
    let mut b = Bundle::new(
        "userns",
        &["/bin/sh", "-c", "id -u; cat /proc/self/uid_map"],
    );
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // sysfs and a new cgroup ns need privileges an unprivileged user ns lacks here
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
    });
    std::os::unix::fs::chown(b.rootfs(), Some(100000), Some(100000)).unwrap();
    let out = run_ok(&b, "userns");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "0");
    let map: Vec<&str> = l[1].split_whitespace().collect();
    assert_eq!(map, vec!["0", "100000", "65536"]);
}

#[test]
fn mounts_in_order_with_options_masked_and_readonly_paths() {
    if !root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), "from-host").unwrap();
    let script = "cat /data/f; echo; touch /data/x 2>/dev/null && echo data-rw || echo data-ro; \
        grep ' /scratch ' /proc/self/mountinfo | grep -q nosuid && echo scratch-nosuid; \
        [ -s /proc/kcore ] && echo kcore-visible || echo kcore-masked; \
        echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-rw || echo sys-ro; \
        touch /newfile 2>/dev/null && echo root-rw || echo root-ro";
    let mut b = Bundle::new("mnt", &["/bin/sh", "-c", script]);
    let srcp = src.path().to_str().unwrap().to_string();
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": srcp, "options": ["rbind", "ro"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}));
        c["root"]["readonly"] = json!(true);
    });
    let out = run_ok(&b, "mnt");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "from-host",
            "data-ro",
            "scratch-nosuid",
            "kcore-masked",
            "sys-ro",
            "root-ro"
        ]
    );
    assert!(!src.path().join("x").exists());
}

#[test]
fn user_capabilities_nnp_rlimits_umask() {
    if !root() {
        return;
    }
    let script = "id -u; id -g; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; ulimit -n; umask";
    let mut b = Bundle::new("caps", &["/bin/sh", "-c", script]);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 23});
        let caps = json!(["CAP_KILL", "CAP_NET_RAW"]);
        c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps});
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
        c["process"]["noNewPrivileges"] = json!(true);
    });
    let out = run_ok(&b, "caps");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(&l[..3], &["1000", "1000", "1000 5 7"]);
    // CAP_KILL = 5, CAP_NET_RAW = 13
    let mask = format!("{:016x}", (1u64 << 5) | (1u64 << 13));
    assert!(l.contains(&format!("CapEff:\t{mask}").as_str()), "{out}");
    assert!(l.contains(&format!("CapBnd:\t{mask}").as_str()), "{out}");
    assert!(l.contains(&"NoNewPrivs:\t1"), "{out}");
    assert_eq!(l[l.len() - 2], "256");
    assert_eq!(l[l.len() - 1], "0027");
}

#[test]
fn seccomp_profile_with_errno_and_argument_filter() {
    if !root() {
        return;
    }
    let script = "mkdir /tmp/d 2>&1 | grep -q 'not implemented' && echo mkdir-enosys; \
        touch /tmp/ok && echo touch-allowed; \
        kill -WINCH $$ 2>/dev/null && echo winch-ok || echo winch-denied; kill -0 $$ && echo zero-ok";
    let mut b = Bundle::new("sec", &["/bin/sh", "-c", script]);
    b.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                // kill(pid, SIGWINCH) is refused, kill(pid, 0) is not: the argument decides
                // (a signal, not a nice value: the runner's niceness must not matter).
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 28, "op": "SCMP_CMP_EQ"}]}
            ]
        });
    });
    let out = run_ok(&b, "sec");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["mkdir-enosys", "touch-allowed", "winch-denied", "zero-ok"]
    );
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    if !root() {
        return;
    }
    let log = tempfile::tempdir().unwrap();
    let lp = log.path().join("hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo {name} $s >> {}", lp.display())]});
    let mut b = Bundle::new("hooks", &["/bin/true"]);
    b.edit(|c| {
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")]
        });
    });
    run_ok(&b, "hooks");
    let text = std::fs::read_to_string(&lp).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        vec!["prestart", "createRuntime", "poststart", "poststop"]
    );
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap().split_once(' ').unwrap().1).unwrap();
    assert_eq!(first["id"], "hooks");
    assert_eq!(first["status"], "created");
    assert!(first["pid"].as_i64().unwrap() > 0);
}

#[test]
fn devices_created_and_device_cgroup_enforced() {
    if !root() {
        return;
    }
    let script = "head -c 1 /dev/mynull >/dev/null && echo mynull-ok; \
        head -c 1 /dev/mymem >/dev/null 2>&1 && echo mem-open || echo mem-denied; \
        ls -l /dev/mynull | cut -c1";
    let mut b = Bundle::new("dev", &["/bin/sh", "-c", script]);
    b.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 438},
            {"path": "/dev/mymem", "type": "c", "major": 1, "minor": 1, "fileMode": 384}
        ]);
        // deny 1:1 after the implicit allow of the spec's devices
        c["linux"]["resources"]["devices"] = json!([
            {"allow": false, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 1, "access": "rwm"}
        ]);
    });
    let out = run_ok(&b, "dev");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["mynull-ok", "mem-denied", "c"]
    );
}

#[test]
fn namespaced_sysctl_is_applied() {
    if !root() {
        return;
    }
    let mut b = Bundle::new("sysctl", &["/bin/cat", "/proc/sys/net/ipv4/ip_forward"]);
    b.edit(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["readonlyPaths"] = json!([]);
    });
    assert_eq!(run_ok(&b, "sysctl").trim(), "1");
}

#[test]
fn cgroup_limits_visible_inside() {
    if !root() {
        return;
    }
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max";
    let mut b = Bundle::new("lim", &["/bin/sh", "-c", script]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 50331648, "reservation": 16777216});
        c["linux"]["resources"]["pids"] = json!({"limit": 42});
        c["linux"]["resources"]["cpu"] = json!({"quota": 20000, "period": 100000, "shares": 512});
    });
    let out = run_ok(&b, "lim");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "50331648");
    assert_eq!(l[1], "42");
    if l.len() > 2 {
        assert_eq!(&l[2..], &["20000", "512"]);
    }
}
