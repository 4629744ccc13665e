//! `exec`: a new process in a running container, through the runtime (`strata-runc exec`,
//! a single-threaded process of its own: joining a container's namespaces needs one). With
//! `-t` its terminal's master comes back on a console socket and is relayed here.

use super::{open_engine, sibling};
use crate::Global;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use strata_engine::container::stop;
use strata_engine::spec::user;

/// `exec`'s options.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Keep STDIN open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// User (name or uid, with an optional :group).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Give the process extended privileges (all capabilities).
    #[arg(long)]
    pub privileged: bool,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The exit status docker gives an exec whose command could not be run (126, 127), read
/// from the runtime's error in its log; `None` if the command ran.
fn exec_failure(log: &std::path::Path) -> Option<(i32, String)> {
    let s = std::fs::read_to_string(log).ok()?;
    let msg = s
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error")
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .next_back()?;
    let lower = msg.to_ascii_lowercase();
    let code = if lower.contains("no such file") || lower.contains("not found") {
        127
    } else if lower.contains("permission denied") || lower.contains("exec format") {
        126
    } else {
        125
    };
    Some((code, msg))
}

/// `exec`.
pub fn exec(g: &Global, a: ExecArgs) -> Result<i32> {
    let e = open_engine(g)?;
    let c = stop::load(&e, &a.container)?;
    if !c.state.status.is_live() {
        bail!("container {} is not running: start it first", c.name);
    }
    let tmp = tempdir(&e.paths.runroot)?;
    let log = tmp.join("exec.log");
    let mut cmd = Command::new(sibling("strata-runc", "STRATA_RUNC"));
    cmd.arg("--root").arg(e.paths.runtime_root());
    cmd.arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "exec"]);
    for v in &a.env {
        if let Some(kv) = strata_engine::container::parse::env(v) {
            cmd.args(["--env", &kv]);
        }
    }
    if let Some(w) = &a.workdir {
        cmd.args(["--cwd", w]);
    }
    if let Some(u) = &a.user {
        let r = user::resolve(&e.paths.rootfs(&c.id), u)?;
        cmd.args(["--user", &format!("{}:{}", r.uid, r.gid)]);
        for gid in r.additional_gids {
            cmd.args(["--additional-gids", &gid.to_string()]);
        }
    }
    if a.privileged {
        for cap in strata_engine::spec::security::ALL_CAPS {
            cmd.args(["--cap", cap]);
        }
    }
    if a.detach {
        cmd.arg("--detach");
    }
    let console = if a.tty {
        let sock = tmp.join("console.sock");
        let l = UnixListener::bind(&sock).context("exec: console socket")?;
        cmd.arg("--tty").arg("--console-socket").arg(&sock);
        Some(l)
    } else {
        None
    };
    cmd.arg(&c.id).args(&a.command);
    if !a.interactive || a.tty {
        cmd.stdin(Stdio::null());
    }
    let mut child = cmd.spawn().context("exec: start strata-runc")?;
    let relay = match console {
        Some(l) => Some(relay_console(l, a.interactive)?),
        None => None,
    };
    let status = child.wait()?;
    if let Some(h) = relay {
        let _ = h.join();
    }
    let code = status.code().unwrap_or(255);
    let failed = (code != 0).then(|| exec_failure(&log)).flatten();
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some((code, msg)) = failed {
        eprintln!("Error: exec in container {}: {msg}", c.name);
        return Ok(code);
    }
    Ok(code)
}

/// A private temporary directory under the run root.
fn tempdir(runroot: &std::path::Path) -> Result<std::path::PathBuf> {
    let d = runroot
        .join("tmp")
        .join(format!("exec-{}", strata_engine::ids::new_id()));
    std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
    Ok(d)
}

/// Takes the pty master from the console socket and copies between it and our terminal.
fn relay_console(l: UnixListener, input: bool) -> Result<std::thread::JoinHandle<()>> {
    let (conn, _) = l.accept().context("exec: wait for the terminal")?;
    let master =
        strata_os::fdpass::recv_fd(conn.as_raw_fd()).context("exec: receive the terminal")?;
    if let Some((rows, cols)) = crate::tty::size(1) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer; the master is ours.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let raw = if input {
        crate::tty::RawMode::enter(0)
    } else {
        None
    };
    if input {
        // SAFETY: a duplicate of the master we own, for the input thread.
        let w = unsafe { OwnedFd::from_raw_fd(libc::dup(master.as_raw_fd())) };
        std::thread::spawn(move || {
            let mut w = std::fs::File::from(w);
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut w);
        });
    }
    Ok(std::thread::spawn(move || {
        let _raw = raw;
        let mut m = std::fs::File::from(master);
        let mut buf = [0u8; 16 * 1024];
        let mut out = std::io::stdout();
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
    }))
}
