//! podman in a private store (vfs, runc, cgroupfs) with limits this host accepts, for the
//! differential tests.

use super::{busybox_archive, output_via_files};
use std::process::Command;

/// podman in a private store, with a config this host accepts (its hard rlimits).
pub struct Podman {
    /// Its store and configuration.
    pub dir: tempfile::TempDir,
}

impl Podman {
    /// podman in a new private store, with the busybox image loaded.
    pub fn new() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("strata-e2e-podman")
            .tempdir()
            .unwrap();
        // SAFETY: getrlimit into a zeroed struct.
        let hard = unsafe {
            let mut r: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_max
        };
        std::fs::write(
            dir.path().join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={hard}:{hard}\", \"nproc=32768:32768\"]\n\
                 log_driver = \"k8s-file\"\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n"
            ),
        )
        .unwrap();
        let p = Podman { dir };
        let o = output_via_files(p.cmd().args([
            "load",
            "-q",
            "-i",
            busybox_archive().to_str().unwrap(),
        ]));
        assert!(
            o.status.success(),
            "podman load: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        p
    }

    /// podman with this store.
    pub fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .stdin(std::process::Stdio::null());
        c
    }

    /// (exit code, stdout, stderr).
    pub fn status(&self, args: &[&str]) -> (i32, String, String) {
        let o = output_via_files(self.cmd().args(args));
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = output_via_files(self.cmd().args(["rm", "-af", "-t", "0"]));
        let _ = output_via_files(self.cmd().args(["rmi", "-af"]));
    }
}
