//! `--systemd-cgroup` on a host where systemd answers on D-Bus: the container's scope is
//! registered with StartTransientUnit (unit name, slice, the init's pid, delegation, limits)
//! and stopped at delete; a refusal or a failed job fails create with one line and leaves
//! nothing. Our machines run no systemd, so the far end is Debian's dbus-daemon on a private
//! socket with a stand-in for systemd's Manager API (crates/testkit/fixtures/mock_systemd.py, on
//! python3-dbus), which records what the runtime asked for.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// The systemd stand-in, with the calls it recorded as JSON.
struct FakeSystemd(strata_testkit::systemd::FakeSystemd);

impl FakeSystemd {
    fn start() -> Option<FakeSystemd> {
        strata_testkit::systemd::FakeSystemd::start().map(FakeSystemd)
    }

    fn address(&self) -> String {
        self.0.address()
    }

    /// The calls recorded so far.
    fn calls(&self) -> Vec<Value> {
        self.0
            .call_lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn calls_of(&self, method: &str, unit: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["method"] == method && c["name"] == unit)
            .collect()
    }
}

/// The test's slice (one per test process) and its removal from every hierarchy.
struct Slice(String);

impl Drop for Slice {
    fn drop(&mut self) {
        remove_cgroup(&format!("/{}", self.0));
    }
}

fn runtime(rt: &Rt, sd: &FakeSystemd, args: &[&str]) -> std::process::Output {
    let mut c = rt.cmd();
    c.env("STRATA_RUNC_SYSTEMD_BUS", sd.address())
        .arg("--systemd-cgroup")
        .args(args);
    output_via_files(&mut c)
}

#[test]
fn scope_is_registered_with_systemd_and_stopped_at_delete() {
    if !root() {
        return;
    }
    let Some(sd) = FakeSystemd::start() else {
        return;
    };
    let slice = Slice(format!("stratatest{}.slice", std::process::id()));
    let rt = Rt::new();

    // A unit systemd starts: the init's pid, the slice, delegation and the limits.
    let mut b = Bundle::new("sd", &["sleep", "30"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("{}:strata:sd1", slice.0));
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864},
            "cpu": {"shares": 512},
            "pids": {"limit": 64}
        });
    });
    let o = runtime(
        &rt,
        &sd,
        &["create", "-b", b.path().to_str().unwrap(), "sd1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = rt.state("sd1")["pid"].as_i64().unwrap();
    let unit = "strata-sd1.scope";
    let starts = sd.calls_of("StartTransientUnit", unit);
    assert_eq!(starts.len(), 1, "{:?}", sd.calls());
    let p = &starts[0]["props"];
    assert_eq!(p["Slice"], json!(slice.0));
    assert_eq!(p["PIDs"], json!([pid]));
    assert_eq!(p["Delegate"], json!(true));
    assert_eq!(p["MemoryLimit"], json!(67108864));
    assert_eq!(p["CPUShares"], json!(512));
    assert_eq!(p["TasksMax"], json!(64));
    assert_eq!(starts[0]["mode"], json!("replace"));
    // cgroupfs has the limits too, at the systemd path, with the init in it.
    let dir = Path::new("/sys/fs/cgroup/memory").join(&slice.0).join(unit);
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
            .unwrap()
            .trim(),
        "67108864"
    );
    assert!(std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap()
        .lines()
        .any(|l| l == pid.to_string()));

    let o = runtime(&rt, &sd, &["delete", "--force", "sd1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sd.calls_of("StopUnit", unit).len(), 1, "{:?}", sd.calls());
    assert!(!dir.exists(), "{} left behind", dir.display());

    // systemd refuses the unit, or its job fails: one line, nothing left, a started unit stopped.
    for (id, stopped) in [("refuse1", 0), ("jobfail1", 1)] {
        let mut b = Bundle::new(id, &["true"]);
        b.edit(|c| c["linux"]["cgroupsPath"] = json!(format!("{}:strata:{id}", slice.0)));
        let o = runtime(&rt, &sd, &["create", "-b", b.path().to_str().unwrap(), id]);
        let err = String::from_utf8_lossy(&o.stderr);
        let unit = format!("strata-{id}.scope");
        assert_eq!(o.status.code(), Some(1), "{id}: {err}");
        assert!(
            err.contains("systemd") && err.contains(&unit),
            "{id}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{id}: {err}");
        assert!(!rt.root.path().join(id).exists(), "{id}: state dir left");
        let dir = Path::new("/sys/fs/cgroup/memory")
            .join(&slice.0)
            .join(&unit);
        assert!(!dir.exists(), "{id}: cgroup left");
        assert_eq!(
            sd.calls_of("StopUnit", &unit).len(),
            stopped,
            "{id}: {:?}",
            sd.calls()
        );
    }
}
