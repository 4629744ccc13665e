//! Bad input: one line naming the cause, exit status 1 (as runc), and nothing left behind
//! (state dir, cgroup, process).

mod common;
use common::*;
use serde_json::json;

fn assert_clean_failure(rt: &Rt, id: &str, err: &str, needle: &str) {
    assert!(
        err.contains(needle),
        "error {err:?} does not mention {needle:?}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "error is not one line: {err:?}"
    );
    assert!(
        !rt.root.path().join(id).exists(),
        "state dir of {id} left behind"
    );
    assert!(
        !host_cgroup("memory", id).exists(),
        "cgroup of {id} left behind"
    );
}

#[test]
fn missing_and_malformed_config() {
    let rt = Rt::new();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("rootfs")).unwrap();
    let o = rt.run(&["create", "-b", d.path().to_str().unwrap(), "nocfg"]);
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(
        &rt,
        "nocfg",
        &String::from_utf8_lossy(&o.stderr),
        "config.json not found",
    );
    std::fs::write(
        d.path().join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"process\": ",
    )
    .unwrap();
    let o = rt.run(&["create", "-b", d.path().to_str().unwrap(), "badcfg"]);
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(
        &rt,
        "badcfg",
        &String::from_utf8_lossy(&o.stderr),
        "malformed config",
    );
}

#[test]
fn bundle_without_rootfs() {
    let rt = Rt::new();
    let b = Bundle::new("norootfs", &["/bin/true"]);
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    let o = rt.run(&["run", "-b", b.path().to_str().unwrap(), "norootfs"]);
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(
        &rt,
        "norootfs",
        &String::from_utf8_lossy(&o.stderr),
        "rootfs",
    );
}

#[test]
fn unknown_and_duplicate_ids() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    for cmd in [
        vec!["state", "ghost"],
        vec!["start", "ghost"],
        vec!["kill", "ghost"],
        vec!["delete", "ghost"],
        vec!["exec", "ghost", "true"],
    ] {
        let o = rt.run(&cmd);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("container ghost does not exist"),
            "{cmd:?}"
        );
    }
    let o = rt.run(&["state", "../etc"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid container id"));
    let b = Bundle::new("dup", &["/bin/sleep", "100"]);
    rt.ok(&["create", "-b", b.path().to_str().unwrap(), "dup"]);
    let o = rt.run(&["create", "-b", b.path().to_str().unwrap(), "dup"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("container dup already exists"));
    // The first container is untouched.
    assert_eq!(rt.status("dup"), "created");
    rt.ok(&["delete", "dup"]);
}

#[test]
fn program_that_cannot_be_executed() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let b = Bundle::new("noexec", &["/bin/no-such-program"]);
    let o = rt.run(&["create", "-b", b.path().to_str().unwrap(), "noexec"]);
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(
        &rt,
        "noexec",
        &String::from_utf8_lossy(&o.stderr),
        "/bin/no-such-program",
    );
    let b = Bundle::new("notinpath", &["nosuchcmd"]);
    let o = rt.run(&["run", "-b", b.path().to_str().unwrap(), "notinpath"]);
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(
        &rt,
        "notinpath",
        &String::from_utf8_lossy(&o.stderr),
        "executable file not found in $PATH",
    );
}

#[test]
fn resources_the_host_cannot_grant() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    // A CFS quota below the kernel's 1 ms minimum.
    let mut b = Bundle::new("badquota", &["/bin/true"]);
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({"quota": 500, "period": 100000}));
    let o = rt.run(&["run", "-b", b.path().to_str().unwrap(), "badquota"]);
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(&rt, "badquota", &String::from_utf8_lossy(&o.stderr), "cpu");
    // Raising a hard rlimit needs CAP_SYS_RESOURCE, which this host does not grant.
    let mut b = Bundle::new("rlim", &["/bin/true"]);
    b.edit(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "hard": 1u64 << 30, "soft": 1024}])
    });
    let o = rt.run(&["run", "-b", b.path().to_str().unwrap(), "rlim"]);
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        // a host with CAP_SYS_RESOURCE: nothing to check
        return;
    }
    assert_eq!(o.status.code(), Some(1));
    assert_clean_failure(&rt, "rlim", &err, "RLIMIT_NOFILE");
    assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
}

#[test]
fn log_file_gets_runc_json_errors() {
    let rt = Rt::new();
    let log = rt.root.path().join("log.json");
    let o = rt.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "ghost",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert_eq!(v["msg"], "container ghost does not exist");
}

#[test]
fn usage_errors_are_one_line_with_runc_status() {
    let rt = Rt::new();
    for (args, needle) in [
        (&["start"][..], "start --help"),
        (&["--bogus", "list"], "unknown global flag"),
        (&["update", "--memory", "lots", "c1"], "--memory"),
        (&["kill", "c1", "KILL", "extra"], "kill --help"),
        (&["list", "--format", "xml"], "table or json"),
        (&["nosuchcommand"], "unknown command"),
    ] {
        let o = rt.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
    }
    let o = rt.run(&["exec", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--console-socket path"));
}
