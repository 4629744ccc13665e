//! Test harness: busybox-static bundles, a private state root per test, and cleanup of every
//! container, cgroup and temp dir a test makes, even when it fails. The prerequisite policy
//! (fail under CI=true, SKIP elsewhere) and the rootfs come from strata-testkit.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
pub use strata_testkit::output_via_files;
pub use strata_testkit::require;

/// The runtime binary under test: cargo's build, or the one `STRATA_RUNC_BIN` names (how the
/// static release build of crates/runtime/bench/build-static.sh is put through the same tests).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("STRATA_RUNC_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_strata-runc").to_string())
    })
}

/// Whether we run as root (the integration tests need it).
pub fn root() -> bool {
    require(
        strata_testkit::is_root(),
        "integration tests must run as root",
    )
}

/// The cgroup of a test container: one top-level cgroup per container (tests never share a
/// parent, so one test's cleanup cannot race another's create).
pub fn cgroup_of(name: &str) -> String {
    format!("/strata-test-{}-{name}", std::process::id())
}

/// A temporary busybox bundle.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// A bundle running `args`, with the runtime's default spec (terminal off, rootfs
    /// writable, cgroup under this test's parent).
    pub fn new(name: &str, args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("strata-test-bundle")
            .tempdir()
            .unwrap();
        strata_testkit::busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new(bin())
            .args(["spec", "-b"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        config["linux"]["cgroupsPath"] = json!(cgroup_of(name));
        let b = Bundle { dir, config };
        b.save();
        b
    }

    /// Applies an edit to config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.save();
        self
    }

    fn save(&self) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

/// A private state root; dropping it force-deletes its containers and removes this test's
/// cgroups.
pub struct Rt {
    pub root: tempfile::TempDir,
}

impl Default for Rt {
    fn default() -> Self {
        Rt::new()
    }
}

impl Rt {
    pub fn new() -> Rt {
        Rt {
            root: tempfile::Builder::new()
                .prefix("strata-test-root")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }

    /// Runs the runtime with `args`. Output goes through files, not pipes: a created or
    /// detached container keeps the runtime's stdio open, and a pipe would never see EOF.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        output_via_files(&mut c)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "strata-runc {args:?} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `state` JSON of a container.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// `run` of a bundle: (exit code, stdout, stderr).
    pub fn run_bundle(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        let mut c = self.cmd();
        c.args(["run", "-b"]).arg(b.path()).arg(id);
        let o = output_via_files(&mut c);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.root.path()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
                remove_cgroup(&cgroup_of(&id));
            }
        }
    }
}

/// Removes a test container's cgroup in every hierarchy (a safety net: delete removes it).
pub fn remove_cgroup(path: &str) {
    let rel = path.trim_start_matches('/');
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            let _ = std::fs::remove_dir(h.path().join(rel));
        }
    }
    let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(rel));
}

/// Host path of the container's cgroup in a v1 controller (or the v2 dir).
pub fn host_cgroup(controller: &str, name: &str) -> PathBuf {
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    let rel = cgroup_of(name);
    let rel = rel.trim_start_matches('/');
    if v1.exists() {
        v1.join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(rel)
    }
}
