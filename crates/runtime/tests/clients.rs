//! Real clients drive strata-runc unchanged: podman (`--runtime`) and containerd's runc shim
//! (`ctr run --runc-binary`).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use strata_testkit::ChildGuard;

fn busybox_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "id", "hostname", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Removes a cgroup subtree in every hierarchy, children first.
fn remove_cgroup_tree(rel: &str) {
    fn rm(p: &Path) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    rm(&e.path());
                }
            }
            let _ = std::fs::remove_dir(p);
        }
    }
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            rm(&h.path().join(rel));
        }
    }
}

struct Podman {
    dir: tempfile::TempDir,
    parent: String,
}

impl Podman {
    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["--storage-driver", "vfs", "--runtime", bin()]);
        c
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = output_via_files(self.cmd().args(["rm", "-af"]));
        let _ = output_via_files(self.cmd().args(["rmi", "-af"]));
        remove_cgroup_tree(self.parent.trim_start_matches('/'));
    }
}

#[test]
fn podman_runs_containers_with_strata_runc() {
    if !root()
        || !require(
            Command::new("podman").arg("--version").output().is_ok(),
            "podman",
        )
    {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("strata-test-podman")
        .tempdir()
        .unwrap();
    let rootfs = dir.path().join("rootfs");
    busybox_rootfs(&rootfs);
    // SAFETY: getrlimit into a zeroed struct.
    let hard = unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_max
    };
    // podman's default ulimits exceed this host's hard limits (no CAP_SYS_RESOURCE).
    std::fs::write(
        dir.path().join("containers.conf"),
        format!("[containers]\ndefault_ulimits = [\"nofile={hard}:{hard}\", \"nproc=32768:32768\"]\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"),
    )
    .unwrap();
    let p = Podman {
        parent: format!("/strata-test-podman-{}", std::process::id()),
        dir,
    };
    let tar = p.dir.path().join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let o = output_via_files(p.cmd().args([
        "import",
        tar.to_str().unwrap(),
        "localhost/strata-test-bb",
    ]));
    assert!(o.status.success(), "podman import: {}", text(&o));

    let o = output_via_files(p.cmd().args([
        "run", "--rm", "--network", "none", "--cgroup-parent", &p.parent, "--memory", "40m", "--hostname", "pm",
        "localhost/strata-test-bb", "sh", "-c", "hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; exit 6",
    ]));
    assert_eq!(o.status.code(), Some(6), "podman run: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "pm\n41943040\n");

    let o = output_via_files(p.cmd().args([
        "run",
        "-d",
        "--name",
        "strata-pm",
        "--network",
        "none",
        "--cgroup-parent",
        &p.parent,
        "localhost/strata-test-bb",
        "sleep",
        "1000",
    ]));
    assert!(o.status.success(), "podman run -d: {}", text(&o));
    let o =
        output_via_files(
            p.cmd()
                .args(["exec", "strata-pm", "sh", "-c", "echo exec-ok; exit 4"]),
        );
    assert_eq!(o.status.code(), Some(4), "podman exec: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "exec-ok\n");
    let o = output_via_files(p.cmd().args(["pause", "strata-pm"]));
    assert!(o.status.success(), "podman pause: {}", text(&o));
    let o =
        output_via_files(
            p.cmd()
                .args(["inspect", "--format", "{{.State.Status}}", "strata-pm"]),
        );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "paused");
    assert!(output_via_files(p.cmd().args(["unpause", "strata-pm"]))
        .status
        .success());
    let o = output_via_files(p.cmd().args(["rm", "-f", "strata-pm"]));
    assert!(o.status.success(), "podman rm -f: {}", text(&o));
}

struct Containerd {
    dir: tempfile::TempDir,
    /// Killed and reaped first, before its state and cgroups are removed.
    child: Option<ChildGuard>,
    ns: String,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        drop(self.child.take());
        let _ = std::fs::remove_dir_all(format!("/run/containerd/runc/{}", self.ns));
        remove_cgroup_tree(&self.ns);
        let _ = &self.dir;
    }
}

#[test]
fn containerd_runs_containers_with_strata_runc() {
    if !root()
        || !require(
            Command::new("containerd").arg("--version").output().is_ok(),
            "containerd",
        )
    {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("strata-test-ctrd")
        .tempdir()
        .unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n[debug]\n  address = \"{d}/d.sock\"\n  level = \"warn\"\n\
             [metrics]\n  address = \"\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
    let child = ChildGuard::spawn(
        Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    )
    .unwrap();
    let ns = format!("strata-test-{}", std::process::id());
    let c = Containerd {
        dir,
        child: Some(child),
        ns,
    };
    let sock = format!("{d}/c.sock");
    // Up to 30 s: containerd starts slowly on a loaded machine.
    for _ in 0..600 {
        if Path::new(&sock).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rootfs = c.dir.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let o = output_via_files(
        Command::new("ctr")
            .args([
                "-a",
                &sock,
                "-n",
                &c.ns,
                "run",
                "--rm",
                "--runc-binary",
                bin(),
                "--cgroup",
                &format!("/{}/ct", c.ns),
                "--rootfs",
            ])
            .arg(&rootfs)
            .args(["ct", "sh", "-c", "echo hello-from-containerd; exit 3"]),
    );
    assert_eq!(o.status.code(), Some(3), "ctr run: {}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "hello-from-containerd\n"
    );
}
