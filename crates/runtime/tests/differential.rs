//! The same bundle under Debian's runc and under strata-runc: same exit status, same output
//! (credentials, capabilities, limits, hostname, mount points, cgroup values).

mod common;
use common::*;
use serde_json::json;
use std::process::Command;

const SCRIPT: &str = "hostname; id; ulimit -n; umask; \
    grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
    awk '{print $2, $3}' /proc/self/mounts | sort; \
    ls /dev | sort | tr '\\n' ' '; echo; \
    cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null; \
    cat /proc/sys/net/ipv4/ip_forward; \
    exit 7";

fn bundle(name: &str) -> Bundle {
    let mut b = Bundle::new(name, &["/bin/sh", "-c", SCRIPT]);
    b.edit(|c| {
        c["hostname"] = json!("difftest");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1000, "soft": 900}]);
        c["linux"]["resources"]["memory"] = json!({"limit": 41943040});
        c["linux"]["resources"]["pids"] = json!({"limit": 33});
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["readonlyPaths"] =
            json!(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"]);
    });
    b
}

#[test]
fn same_behaviour_as_runc() {
    if !root()
        || !require(
            std::path::Path::new("/usr/sbin/runc").exists(),
            "runc (Debian package runc)",
        )
    {
        return;
    }
    let ours = bundle("diff-strata");
    let rt = Rt::new();
    let (code_s, out_s, err_s) = rt.run_bundle(&ours, "diff-strata");

    let theirs = bundle("diff-runc");
    let runc_root = tempfile::tempdir().unwrap();
    let mut c = Command::new("/usr/sbin/runc");
    c.arg("--root")
        .arg(runc_root.path())
        .args(["run", "-b"])
        .arg(theirs.path())
        .arg("diff-runc");
    let o = output_via_files(&mut c);
    let _ = Command::new("/usr/sbin/runc")
        .arg("--root")
        .arg(runc_root.path())
        .args(["delete", "-f", "diff-runc"])
        .output();
    remove_cgroup(&cgroup_of("diff-runc"));
    let (code_r, out_r, err_r) = (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(code_r, 7, "runc: {err_r}");
    assert_eq!(code_s, 7, "strata-runc: {err_s}");
    let lines_s: Vec<&str> = out_s.lines().collect();
    let lines_r: Vec<&str> = out_r.lines().collect();
    let diff: Vec<String> = lines_r
        .iter()
        .filter(|l| !lines_s.contains(l))
        .map(|l| format!("- {l}"))
        .chain(
            lines_s
                .iter()
                .filter(|l| !lines_r.contains(l))
                .map(|l| format!("+ {l}")),
        )
        .collect();
    assert!(
        diff.is_empty(),
        "runc (-) and strata-runc (+) differ:\n{}",
        diff.join("\n")
    );
}
