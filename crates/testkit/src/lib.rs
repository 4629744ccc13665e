//! What every crate's tests share (a dev-dependency only).
//!
//! - The prerequisite policy: a test whose prerequisite is missing (root, a tool, /dev/kvm,
//!   a kernel image) fails when `CI=true` and prints `SKIP:` and passes elsewhere, so CI
//!   never goes green on a test that did not run: [`require`], [`require_root`],
//!   [`require_tools`].
//! - Guards for what tests start: [`ChildGuard`] kills and reaps a child process on drop,
//!   even when the test panics; [`KillOnDrop`] does the same for a pid the test did not
//!   spawn itself but started (through a daemon's pid file, say).
//! - Fixtures: [`busybox_rootfs`] (a root filesystem from Debian's busybox-static) and
//!   [`workspace_bin`] (a binary of another crate of the workspace, for cross-layer tests).

pub mod cgroups;
pub mod registry;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this is a CI run (`CI=true`): then missing prerequisites fail.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The prerequisite policy: returns `ok`; when false, panics under CI=true and otherwise
/// prints `SKIP: <what>` (the test should then return early).
#[track_caller]
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if in_ci() {
        panic!("prerequisite missing under CI: {what}");
    }
    eprintln!("SKIP: {what}");
    false
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid never fails.
    unsafe { libc::geteuid() == 0 }
}

/// [`require`] for root.
#[track_caller]
pub fn require_root() -> bool {
    require(is_root(), "needs root")
}

/// Whether `tool` is on PATH (or is an existing path).
pub fn have_tool(tool: &str) -> bool {
    if tool.contains('/') {
        return std::path::Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// [`require`] for tools on PATH: names the missing ones.
#[track_caller]
pub fn require_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have_tool(t)).collect();
    require(missing.is_empty(), &format!("missing tools {missing:?}"))
}

/// Fills `rootfs` with a busybox-static root filesystem: /bin/busybox and its applets as
/// symlinks, the usual directories, and /etc/passwd and /etc/group with root and `user`
/// (uid and gid 1000).
pub fn busybox_rootfs(rootfs: &Path) {
    for d in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "mnt",
        "home/user",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is installed");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
    std::fs::write(rootfs.join("etc/hostname"), "localhost\n").unwrap();
}

/// A binary built from another crate of the workspace (`strata`, `strata-runc`,
/// `strata-monitor`), found beside the running test's own target directory. Panics with
/// what to run when it has not been built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>: the binaries are in target/<profile>.
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// Runs a command to its end with stdout and stderr sent to unnamed temporary files, not
/// pipes: a detached container (or any daemon the command leaves) keeps the command's output
/// descriptors open, and a pipe would then never see its end.
pub fn output_via_files(c: &mut Command) -> std::process::Output {
    use std::io::{Read, Seek};
    let mut out = tempfile::tempfile().expect("a temporary file");
    let mut err = tempfile::tempfile().expect("a temporary file");
    let status = c
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .status()
        .unwrap_or_else(|e| panic!("run {c:?}: {e}"));
    let (mut o, mut e) = (Vec::new(), Vec::new());
    out.rewind().expect("rewind");
    out.read_to_end(&mut o).expect("read the output");
    err.rewind().expect("rewind");
    err.read_to_end(&mut e).expect("read the output");
    std::process::Output {
        status,
        stdout: o,
        stderr: e,
    }
}

/// Spawns `cmd`, again while its program is "busy" (ETXTBSY): a test that has just
/// written an executable can find it held open for writing by a child that another test's
/// thread forked in that moment and that has not yet exec'd (closing it).
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    let t0 = std::time::Instant::now();
    loop {
        match cmd.spawn() {
            Err(e)
                if e.raw_os_error() == Some(libc::ETXTBSY)
                    && t0.elapsed() < Duration::from_secs(5) =>
            {
                std::thread::sleep(Duration::from_millis(10))
            }
            r => return r,
        }
    }
}

/// [`spawn`], then its exit status.
pub fn status(cmd: &mut Command) -> std::io::Result<std::process::ExitStatus> {
    spawn(cmd)?.wait()
}

/// A child process killed (SIGKILL) and reaped when the guard drops.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `cmd` under a guard ([`spawn`]).
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        spawn(cmd).map(ChildGuard)
    }

    /// Spawns `cmd` with stdin from /dev/null (the usual for daemons under test).
    pub fn spawn_quiet(cmd: &mut Command) -> std::io::Result<Self> {
        Self::spawn(cmd.stdin(Stdio::null()))
    }

    /// The child's pid.
    pub fn pid(&self) -> libc::pid_t {
        self.0.id() as libc::pid_t
    }

    /// Waits up to `limit` for the child to exit; its exit status if it did.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = self.0.try_wait() {
                return Some(st);
            }
            if t0.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `sig` to the child (if it still runs).
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill with a pid we spawned and have not reaped yet.
        unsafe { libc::kill(self.pid(), sig) };
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process the test started indirectly (known by pid and start time), killed with
/// SIGKILL on drop if it is still that process. Not reaped: it is not our child.
pub struct KillOnDrop {
    pid: libc::pid_t,
    start: Option<String>,
}

impl KillOnDrop {
    /// Guards `pid` as it is now (its start time tells it from a later process that
    /// reuses the pid).
    pub fn new(pid: libc::pid_t) -> Self {
        KillOnDrop {
            pid,
            start: start_time(pid),
        }
    }

    /// The guarded pid.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Stops guarding (the test ended the process itself).
    pub fn disarm(mut self) {
        self.start = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.start.is_some() && start_time(self.pid) == self.start {
            // SAFETY: kill of the very process we guard (same pid and start time).
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }
}

/// Field 22 of /proc/PID/stat (kept as text: only compared).
fn start_time(pid: libc::pid_t) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..]
        .split_whitespace()
        .nth(19)
        .map(str::to_string)
}

/// Processes whose command line mentions `needle` (a container id: its monitor and its
/// processes), to find what a test left running.
pub fn processes_with(needle: &str) -> Vec<libc::pid_t> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<libc::pid_t>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&c).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP GET of `/` on `addr` with a raw TCP client, retried until `limit` (the server
/// may still be starting); the response body.
pub fn http_get(addr: &str, limit: Duration) -> Option<String> {
    use std::io::{Read, Write};
    let t0 = Instant::now();
    loop {
        let got = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(
                &addr.parse().unwrap(),
                Duration::from_secs(2),
            )?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(s, "GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
            let mut resp = String::new();
            s.read_to_string(&mut resp)?;
            Ok(resp)
        })();
        match got {
            Ok(r) if r.starts_with("HTTP/1") => {
                return Some(
                    r.split_once("\r\n\r\n")
                        .map_or(r.clone(), |(_, b)| b.to_string()),
                )
            }
            _ if t0.elapsed() > limit => return None,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_kills_and_reaps() {
        let g = ChildGuard::spawn(Command::new("sleep").arg("100")).unwrap();
        let pid = g.pid();
        drop(g);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn tools_and_policy() {
        assert!(have_tool("sh"));
        assert!(!have_tool("no-such-tool-strata"));
        assert!(require(true, "x"));
    }
}
