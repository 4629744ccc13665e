//! The cgroup v2 device controller (an eBPF program generated from the rules), tested on this
//! host's cgroup2 mount: the program works on any cgroup2 directory, hybrid hosts included.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.procs").exists() && !p.join("tasks").exists())
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn try_open(cg: &Path, dev: &str) -> String {
    let script = format!(
        "echo $$ > {}/cgroup.procs && (: < {dev}) 2>/dev/null && echo open || echo denied",
        cg.display()
    );
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn ebpf_device_program_allows_and_denies() {
    if !root() {
        return;
    }
    let Some(root2) = cgroup2_root() else {
        require(false, "a cgroup2 mount");
        return;
    };
    let dir = Dir(root2.join(format!("strata-test-bpf-{}", std::process::id())));
    std::fs::create_dir(&dir.0).unwrap();
    // Control: without a program /dev/kmsg (c 1:11) opens.
    assert_eq!(try_open(&dir.0, "/dev/kmsg"), "open");
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
        serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"}
        ]))
        .unwrap();
    strata_runtime::cgroups::v2::devices::attach(&dir.0, &rules).unwrap();
    assert_eq!(
        try_open(&dir.0, "/dev/kmsg"),
        "denied",
        "deny-all did not deny /dev/kmsg"
    );
    assert_eq!(
        try_open(&dir.0, "/dev/null"),
        "open",
        "default allow list lost /dev/null"
    );
    // Replacing the program (update): allow 1:11 read-only now.
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
        serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
        ]))
        .unwrap();
    strata_runtime::cgroups::v2::devices::attach(&dir.0, &rules).unwrap();
    assert_eq!(try_open(&dir.0, "/dev/kmsg"), "open");
    let script = format!(
        "echo $$ > {}/cgroup.procs && (: > /dev/kmsg) 2>/dev/null && echo open || echo denied",
        dir.0.display()
    );
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "denied",
        "write allowed by a read-only rule"
    );
}
