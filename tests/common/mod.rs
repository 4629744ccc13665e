//! What the end-to-end tests share: an engine under a private root and run root with the
//! busybox image loaded (built offline from busybox-static), the `strata` CLI pointed at
//! them, and clean-up of everything the tests made there, even when they fail.
#![allow(dead_code)]

pub mod cri;
pub mod docker;
pub mod podman;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
pub use strata_testkit::output_via_files;
use strata_testkit::{require_root, require_tools, workspace_bin};

/// The busybox image archive (built once per machine, under the target directory).
pub fn busybox_archive() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let out = workspace_bin("strata").parent().unwrap().join("e2e-images");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/busybox-image.sh");
        let st = Command::new(script)
            .arg(&out)
            .status()
            .expect("run busybox-image.sh");
        assert!(st.success(), "busybox-image.sh failed");
        out.join("busybox.oci.tar")
    })
    .clone()
}

/// The static agent a VM guest's initramfs carries (built once; `STRATA_AGENT` names it).
pub fn vm_agent() -> &'static PathBuf {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/agent/build-static.sh");
        let out = std::process::Command::new(script)
            .output()
            .expect("build the agent");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .trim(),
        )
    })
}

/// A pty pair (master, slave) of `rows` x `cols`.
pub fn pty(rows: u16, cols: u16) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two descriptors; the name and termios pointers may be null.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two descriptors we now own.
    unsafe {
        {
            use std::os::fd::FromRawFd;
            (
                std::os::fd::OwnedFd::from_raw_fd(m),
                std::os::fd::OwnedFd::from_raw_fd(s),
            )
        }
    }
}

/// Spawns `cmd` with the pty `slave` as its stdio and controlling terminal (so that a
/// resize of the master sends it SIGWINCH), as a user's shell runs a client.
pub fn spawn_on_terminal(
    cmd: &mut Command,
    slave: std::os::fd::OwnedFd,
) -> strata_testkit::ChildGuard {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and TIOCSCTTY between fork and exec, on the child's own descriptor 0.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        })
    };
    strata_testkit::ChildGuard::spawn(cmd).unwrap()
}

#[allow(unused_imports)] // not every test crate sharing this module uses it
pub use strata_testkit::free_port;

/// Resizes the terminal whose master is `m` to `rows` x `cols`, then asks the shell on it
/// for its size until it says so (the resize followed to the container), within `limit`.
pub fn resize_and_see(m: &mut std::fs::File, (rows, cols): (u16, u16), limit: std::time::Duration) {
    use std::io::Write;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    let rc = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(m), libc::TIOCSWINSZ, &ws) };
    assert_eq!(rc, 0);
    let want = format!("{rows} {cols}");
    let t0 = std::time::Instant::now();
    loop {
        m.write_all(b"stty size\n").unwrap();
        let seen = read_until(m, &want, std::time::Duration::from_millis(1000));
        if seen.contains(&want) {
            return;
        }
        assert!(t0.elapsed() < limit, "resize followed: {seen:?}");
        // A client that had not yet asked for SIGWINCH when the size changed missed it (the
        // docker CLI watches for it only once its session is up): tell it again, as a
        // terminal does on its next resize.
        // SAFETY: tcgetpgrp on the master's descriptor; kill with a process group id.
        unsafe {
            let pgrp = libc::tcgetpgrp(std::os::fd::AsRawFd::as_raw_fd(m));
            if pgrp > 0 {
                libc::kill(-pgrp, libc::SIGWINCH);
            }
        }
    }
}

/// Reads from `fd` until `needle` has been seen or `limit` passes; everything read.
pub fn read_until(fd: &mut std::fs::File, needle: &str, limit: std::time::Duration) -> String {
    let t0 = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) && t0.elapsed() < limit {
        let mut p = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(fd),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } == 1 {
            match std::io::Read::read(fd, &mut buf) {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Whether the end-to-end prerequisites are here (root, umoci, busybox).
pub fn prerequisites() -> bool {
    require_root() && require_tools(&["umoci", "busybox", "jq"])
}

/// An engine with its own root, run root and cgroup root (removed when it is dropped).
pub struct Engine {
    pub dir: tempfile::TempDir,
    /// The cgroup its containers and pods go under (`STRATA_CGROUP_ROOT`).
    pub cgroup_root: String,
}

impl Engine {
    /// A fresh engine with the busybox image loaded as `localhost/busybox`.
    pub fn new() -> Engine {
        let dir = tempfile::Builder::new()
            .prefix("strata-e2e")
            .tempdir()
            .unwrap();
        let e = Engine {
            cgroup_root: strata_testkit::cgroups::test_root(dir.path()),
            dir,
        };
        e.ok(&["load", "-q", "-i", busybox_archive().to_str().unwrap()]);
        e
    }

    /// The engine's cgroups left in any hierarchy (`<cgroup root>/<id>`, `.../pod-<id>`).
    pub fn cgroups_left(&self) -> Vec<String> {
        strata_testkit::cgroups::under(&self.cgroup_root)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The CLI with this engine's roots.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(workspace_bin("strata"));
        c.env("STRATA_ROOT", self.root())
            .env("STRATA_RUNROOT", self.runroot())
            .env("STRATA_CGROUP_ROOT", &self.cgroup_root)
            .env(
                "STRATA_REGISTRIES_CONF",
                self.dir.path().join("registries.toml"),
            )
            .stdin(Stdio::null());
        c
    }

    /// Runs the CLI; output through files (a detached container keeps pipes open).
    pub fn run(&self, args: &[&str]) -> Output {
        output_via_files(self.cmd().args(args))
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "strata {args:?} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// (exit code, stdout, stderr).
    pub fn status(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.run(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `inspect` of one container as JSON.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        v[0].clone()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Pods first (with their infra), then whatever containers are left. "pod rm -a"
        // with no pod fails; that is fine here.
        let _ = self.cmd().args(["pod", "rm", "-a", "-f"]).output();
        if let Ok(o) = self.cmd().args(["rm", "-a", "-f"]).output() {
            if !o.status.success() {
                eprintln!("clean-up: {}", String::from_utf8_lossy(&o.stderr));
            }
        }
        // Its networks (the default one is made on first use): their bridges and NAT rules.
        if let Ok(o) = self
            .cmd()
            .args(["network", "ls", "--format", "json"])
            .output()
        {
            let list: serde_json::Value =
                serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
            for n in list.as_array().into_iter().flatten() {
                if let Some(name) = n["name"].as_str().or(n["Name"].as_str()) {
                    let _ = self.cmd().args(["network", "rm", "-f", name]).output();
                }
            }
        }
        // Mounts the engine may have left (a failed test): the netns directory's own bind.
        let _ = strata_os_umount(&self.runroot().join("netns"));
        strata_testkit::cgroups::remove_root(&self.cgroup_root);
    }
}

fn strata_os_umount(p: &Path) -> std::io::Result<()> {
    let st = Command::new("umount")
        .arg("-l")
        .arg(p)
        .stderr(Stdio::null())
        .status()?;
    let _ = st;
    Ok(())
}

/// Mount points under `dir` (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&d))
        .collect()
}

/// Processes whose command line mentions `needle` (to find leftovers of a test's engine).
#[allow(unused_imports)]
pub use strata_testkit::processes_with;
