//! Spec conformance (issue 14): FIFO devices, inherited namespaces, every rootfsPropagation
//! mode, the user's seccomp filter against the runtime's own checks, resources the host cannot
//! grant, failing poststart/poststop hooks, and poststart after the user process's exec.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use strata_runtime::cgroups::Layout;

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

/// Detaches every mount at or under a directory when dropped (declare it after the bundle it
/// guards, so it goes first).
struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        for _ in 0..100 {
            let Some(p) = mounts_under(&self.0).into_iter().next() else {
                return;
            };
            let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
            // SAFETY: valid C string; a lazy unmount of a mount this test made.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                return;
            }
        }
    }
}

// 1. FIFO devices.

#[test]
fn fifo_device_is_created_with_mode_and_owner() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new("fifo", &["/bin/stat", "-c", "%F %a %u %g", "/dev/test3"]);
    b.edit(|c| {
        // The default spec denies every device: the FIFO must not need a device rule.
        c["linux"]["devices"] = json!([{"path": "/dev/test3", "type": "p", "major": 8,
            "minor": 666, "fileMode": 0o660, "uid": 1, "gid": 2}]);
    });
    let (code, out, err) = rt.run_bundle(&b, "fifo");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "fifo 660 1 2");
}

#[test]
fn fifo_devices_get_no_device_cgroup_rule() {
    let spec: oci_spec::runtime::Spec = serde_json::from_value(json!({
        "ociVersion": "1.2.0", "root": {"path": "rootfs"},
        "linux": {"devices": [
            {"path": "/dev/test3", "type": "p", "major": 8, "minor": 666},
            {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}
        ], "resources": {"devices": [{"allow": false, "access": "rwm"}]}}
    }))
    .unwrap();
    let mut res = spec.linux().as_ref().unwrap().resources().clone().unwrap();
    strata_runtime::spec::allow_spec_devices(&mut res, &spec);
    let text: Vec<String> = res
        .devices()
        .iter()
        .flatten()
        .map(strata_runtime::cgroups::v1::devices::rule_text)
        .collect();
    assert_eq!(text, vec!["a *:* rwm", "b 8:0 rwm"]);
}

/// A FIFO rule in the resources is ignored by the v2 device program too, never read as "any
/// type": allowing `p 1:11` must not open the character device 1:11 (/dev/kmsg).
#[test]
fn v2_device_program_ignores_fifo_rules() {
    if !root() {
        return;
    }
    let unified = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.procs").exists() && !p.join("tasks").exists());
    let Some(unified) = unified else {
        require(false, "a cgroup2 mount");
        return;
    };
    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let cg = Dir(unified.join(cgroup_of("fifo-ebpf").trim_start_matches('/')));
    std::fs::create_dir(&cg.0).unwrap();
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_value(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "p", "major": 1, "minor": 11, "access": "rwm"}
    ]))
    .unwrap();
    strata_runtime::cgroups::v2::devices::attach(&cg.0, &rules).unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && (: < /dev/kmsg) 2>/dev/null && echo open || echo denied",
        cg.0.display()
    );
    let o = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "denied");
}

// 2. Namespaces left out are inherited.

fn no_mount_namespace(list: Value, id: &str) {
    let mut b = Bundle::new(id, &["/bin/sleep", "1000"]);
    let _unmount = Unmount(b.path().to_path_buf());
    // Dropped first: the container goes before the mounts and the bundle.
    let rt = Rt::new();
    std::fs::write(b.rootfs().join("marker"), "inside\n").unwrap();
    b.edit(|c| c["linux"]["namespaces"] = list);
    rt.ok(&["run", "-d", "-b", b.path().to_str().unwrap(), id]);
    let pid = rt.state(id)["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        std::fs::read_link("/proc/self/ns/mnt").unwrap(),
        "the container did not inherit the runtime's mount namespace"
    );
    // Its root is the bundle's rootfs, for the init and for exec.
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/root/marker")).unwrap(),
        "inside\n"
    );
    let out = rt.ok(&["exec", id, "/bin/cat", "/marker"]);
    assert_eq!(out, "inside\n");
    rt.ok(&["delete", "--force", id]);
    // What the runtime mounted in its own namespace goes with the container.
    assert_eq!(mounts_under(b.path()), Vec::<PathBuf>::new());
}

#[test]
fn namespaces_left_out_are_inherited_mount_included() {
    if !root() {
        return;
    }
    no_mount_namespace(
        json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]),
        "nomntns",
    );
}

#[test]
fn an_empty_namespace_list_inherits_every_namespace() {
    if !root() {
        return;
    }
    no_mount_namespace(json!([]), "nons");
}

// 3. rootfsPropagation.

fn root_tag(mountinfo: &str) -> String {
    let l = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in {mountinfo}"));
    // Optional fields sit between the mount options and " - ".
    let head = l.split(" - ").next().unwrap();
    head.split(' ').skip(6).collect::<Vec<_>>().join(" ")
}

#[test]
fn every_rootfs_propagation_mode_with_dot_and_subdirectory_roots() {
    if !root() {
        return;
    }
    let b = Bundle::new("propm", &["/bin/cat", "/proc/self/mountinfo"]);
    // The bundle on a shared mount, so that "slave" is told apart from "private".
    let dir = b.path().to_str().unwrap().to_string();
    let _unmount = Unmount(b.path().to_path_buf());
    for args in [vec!["--bind", &dir, &dir], vec!["--make-shared", &dir]] {
        let st = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let rt = Rt::new();
    for (dot, bundle) in [(false, b.path().to_path_buf()), (true, b.rootfs())] {
        for mode in ["shared", "slave", "private", "unbindable"] {
            let id = format!("prop-{mode}-{}", if dot { "dot" } else { "sub" });
            let mut c = b.config.clone();
            c["root"]["path"] = json!(if dot { "." } else { "rootfs" });
            c["linux"]["rootfsPropagation"] = json!(mode);
            c["linux"]["cgroupsPath"] = json!(cgroup_of(&id));
            std::fs::write(bundle.join("config.json"), c.to_string()).unwrap();
            let mut cmd = rt.cmd();
            cmd.args(["run", "-b"]).arg(&bundle).arg(&id);
            let o = output_via_files(&mut cmd);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{id}: {err}");
            let tag = root_tag(&String::from_utf8_lossy(&o.stdout));
            let ok = match mode {
                "shared" => tag.contains("shared:"),
                "slave" => tag.contains("master:") && !tag.contains("shared:"),
                "private" => tag.is_empty(),
                _ => tag.contains("unbindable"),
            };
            assert!(ok, "{id}: / is {tag:?}");
        }
    }
    assert_eq!(mounts_under(b.path()).len(), 1, "container mounts left");
}

// 4. The user's seccomp filter and the runtime's own checks.

#[test]
fn seccomp_errno_on_getcwd_does_not_trip_the_cwd_check() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let mut b = Bundle::new("getcwd", &["/bin/echo", "ran"]);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["cwd"] = json!("/tmp");
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let (code, out, err) = rt.run_bundle(&b, "getcwd");
    assert_eq!((code, out.as_str()), (0, "ran\n"), "{err}");
}

// 5. Resources the host cannot grant.

/// The container's cgroup directories that exist in any hierarchy.
fn cgroup_dirs_left(id: &str) -> Vec<PathBuf> {
    let rel = cgroup_of(id);
    let rel = rel.trim_start_matches('/');
    let mut v = vec![];
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if h.path().join(rel).exists() {
            v.push(h.path().join(rel));
        }
    }
    if Path::new("/sys/fs/cgroup").join(rel).exists() {
        v.push(Path::new("/sys/fs/cgroup").join(rel));
    }
    v
}

/// `create` that must fail: returns stderr after checking nothing is left behind.
fn create_refused(rt: &Rt, b: &Bundle, id: &str) -> String {
    let o = rt.run(&["create", "-b", b.path().to_str().unwrap(), id]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "create {id} succeeded");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(!rt.root.path().join(id).exists(), "state of {id} left");
    assert_eq!(cgroup_dirs_left(id), Vec::<PathBuf>::new(), "cgroups left");
    err
}

#[test]
fn network_resources_without_their_hierarchy_are_refused() {
    if !root() {
        return;
    }
    let layout = Layout::detect();
    let rt = Rt::new();
    for (ctrl, file, net) in [
        ("net_cls", "net_cls.classid", json!({"classID": 1048577})),
        (
            "net_prio",
            "net_prio.ifpriomap",
            json!({"priorities": [{"name": "lo", "priority": 7}]}),
        ),
    ] {
        let id = format!("{}-res", ctrl.replace('_', ""));
        let mut b = Bundle::new(&id, &["/bin/sleep", "1000"]);
        b.edit(|c| c["linux"]["resources"]["network"] = net);
        if layout.v1(ctrl).is_none() {
            let err = create_refused(&rt, &b, &id);
            assert!(err.contains(ctrl) && err.contains("network"), "{err}");
            continue;
        }
        // Where the hierarchy exists the value is there to read.
        rt.ok(&["run", "-d", "-b", b.path().to_str().unwrap(), &id]);
        let v = std::fs::read_to_string(host_cgroup(ctrl, &id).join(file)).unwrap();
        assert!(v.contains("1048577") || v.contains("lo 7"), "{file}: {v}");
        rt.ok(&["delete", "--force", &id]);
    }
}

fn hugetlb_bundle(id: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(id, args);
    b.edit(|c| {
        c["linux"]["resources"]["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4194304}])
    });
    b
}

#[test]
fn hugetlb_limits_without_a_hugetlb_hierarchy_are_refused() {
    if !root() {
        return;
    }
    let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists();
    if !require(
        hybrid && !Path::new("/sys/fs/cgroup/hugetlb").exists(),
        "a hybrid cgroup host without a v1 hugetlb hierarchy",
    ) {
        return;
    }
    let rt = Rt::new();
    let b = hugetlb_bundle("nohuge", &["/bin/true"]);
    // The runtime in a private mount namespace where the unified mount is hidden (as the
    // benchmark runs crun): no hierarchy carries hugetlb there.
    let o = output_via_files(
        std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg("umount /sys/fs/cgroup/unified && exec \"$@\"")
            .arg("sh")
            .arg(bin())
            .arg("--root")
            .arg(rt.root.path())
            .args(["create", "-b", b.path().to_str().unwrap(), "nohuge"]),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "create succeeded without hugetlb");
    assert!(err.contains("hugetlb") && err.contains("2MB"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!rt.root.path().join("nohuge").exists());
    assert_eq!(cgroup_dirs_left("nohuge"), Vec::<PathBuf>::new());
}

#[test]
fn hugetlb_limit_is_set_on_a_hybrid_host() {
    if !root() {
        return;
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    let hybrid = unified.join("cgroup.controllers").exists()
        && std::fs::read_to_string(unified.join("cgroup.controllers"))
            .unwrap()
            .contains("hugetlb");
    if !require(
        hybrid,
        "a hybrid cgroup host with hugetlb in the unified hierarchy",
    ) {
        return;
    }
    // The runtime enables hugetlb in the unified root's subtree_control: put it back as it was.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            if !self.0 {
                let _ = std::fs::write("/sys/fs/cgroup/unified/cgroup.subtree_control", "-hugetlb");
            }
        }
    }
    let _restore = Restore(
        std::fs::read_to_string(unified.join("cgroup.subtree_control"))
            .unwrap()
            .contains("hugetlb"),
    );
    let rt = Rt::new();
    let b = hugetlb_bundle("huge", &["/bin/sleep", "1000"]);
    rt.ok(&["run", "-d", "-b", b.path().to_str().unwrap(), "huge"]);
    let dir = unified.join(cgroup_of("huge").trim_start_matches('/'));
    let v = std::fs::read_to_string(dir.join("hugetlb.2MB.max")).unwrap();
    assert_eq!(v.trim(), "4194304");
    rt.ok(&["delete", "--force", "huge"]);
    assert!(!dir.exists());
}

// 6. Failing poststart and poststop hooks.

fn sh_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["PATH=/usr/bin:/bin"]})
}

#[test]
fn failing_poststart_and_poststop_hooks_do_not_stop_the_rest() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let log = tempfile::tempdir().unwrap();
    let lp = log.path().join("hooks.log");
    let mut b = Bundle::new("hookfail", &["/bin/true"]);
    let append = |s: &str| sh_hook(&format!("echo {s} >> {}", lp.display()));
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [sh_hook("exit 3"), append("poststart-2")],
            "poststop": [sh_hook("exit 4"), append("poststop-2")]
        });
    });
    let (code, _, err) = rt.run_bundle(&b, "hookfail");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&lp).unwrap_or_default(),
        "poststart-2\npoststop-2\n",
        "{err}"
    );
    assert!(
        err.contains("poststart hook") && err.contains("poststop hook"),
        "{err}"
    );
    assert!(!rt.root.path().join("hookfail").exists());
}

// 7. poststart after the user process is executed.

#[test]
fn poststart_runs_after_the_user_process_is_executed() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let log = tempfile::tempdir().unwrap();
    let out = log.path().join("cmdline");
    let mut b = Bundle::new("poststart", &["/bin/sleep", "1000"]);
    b.edit(|c| {
        c["hooks"] = json!({
            // Inside the container, between start and the user's exec: a slow one.
            "startContainer": [{"path": "/bin/sleep", "args": ["sleep", "1"]}],
            "poststart": [sh_hook(&format!(
                "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); tr '\\0' ' ' < /proc/$pid/cmdline > {}",
                out.display()
            ))]
        });
    });
    rt.ok(&["run", "-d", "-b", b.path().to_str().unwrap(), "poststart"]);
    let seen = std::fs::read_to_string(&out).unwrap();
    rt.ok(&["delete", "--force", "poststart"]);
    assert_eq!(
        seen.trim(),
        "/bin/sleep 1000",
        "poststart saw the init before its exec"
    );
}
