//! Containers and execs with a terminal in the guest: the OCI runtime makes the pty and
//! sends its master to a console socket of the agent's (as it sends it to the monitor's on
//! a host); the agent relays what the master reads as the process's stream 1, writes the
//! process's input to it, and sizes it when the host's terminal is resized.

use crate::{fail, inputs, pump_from, Out};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The pty masters of running execs, by exec id (for [`resize`]).
fn terminals() -> &'static Mutex<HashMap<String, File>> {
    static T: OnceLock<Mutex<HashMap<String, File>>> = OnceLock::new();
    T.get_or_init(Mutex::default)
}

/// Runs `cmd` (the runtime's run or exec in a fresh agent process), telling it the console
/// socket `sock`, with a terminal of `size` (rows, columns) if given, its input and resizes
/// under `key`; its output, then its exit status (with a container run's `oom_mark`, as
/// for a run without a terminal). `what` names it in errors.
pub fn relay(
    out: &Out,
    tag: u64,
    mut cmd: Command,
    (key, sock, oom_mark): (&str, &Path, Option<&Path>),
    size: Option<(u16, u16)>,
    what: &str,
) -> io::Result<()> {
    let _ = std::fs::remove_file(sock);
    let l = UnixListener::bind(sock)?;
    l.set_nonblocking(true)?;
    let child = crate::reaper::spawn(
        cmd.arg("--console-socket")
            .arg(sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(sock);
            return fail(out, tag, format!("{what}: {e}"));
        }
    };
    let master = take_master(&l, &mut child);
    let _ = std::fs::remove_file(sock);
    let master = match master {
        Ok(m) => m,
        Err(e) => {
            let _ = child.kill();
            let _ = crate::reaper::wait(&mut child);
            return fail(out, tag, format!("{what}: {e}"));
        }
    };
    if let Some(m) = &master {
        if let Some((rows, cols)) = size.filter(|s| s.0 > 0 && s.1 > 0) {
            set_size(m, rows, cols)?;
        }
        inputs()
            .lock()
            .map_err(|_| io::Error::other("inputs lock"))?
            .insert(key.to_string(), Box::new(m.try_clone()?));
        terminals()
            .lock()
            .map_err(|_| io::Error::other("terminals lock"))?
            .insert(key.to_string(), m.try_clone()?);
    }
    let r = pump_from(out, tag, &mut child, (master, oom_mark));
    if let Ok(mut m) = inputs().lock() {
        m.remove(key);
    }
    if let Ok(mut t) = terminals().lock() {
        t.remove(key);
    }
    r
}

/// The master the runtime sends; `None` if the runtime ended first (its error is on its
/// stderr, which the exec's output carries).
fn take_master(l: &UnixListener, child: &mut Child) -> io::Result<Option<File>> {
    let t0 = Instant::now();
    loop {
        match l.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false)?;
                conn.set_read_timeout(Some(Duration::from_secs(10)))?;
                let fd = strata_os::fdpass::recv_fd(conn.as_raw_fd())?;
                return Ok(Some(File::from(fd)));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if child.try_wait()?.is_some() {
                    return Ok(None);
                }
                if t0.elapsed() > Duration::from_secs(30) {
                    return Err(io::Error::other("no terminal from the runtime in 30 s"));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sizes the terminal of the process under `key` (an exec's id, a container's).
pub fn resize(key: &str, rows: u16, cols: u16) -> io::Result<()> {
    let t = terminals()
        .lock()
        .map_err(|_| io::Error::other("terminals lock"))?;
    let m = t
        .get(key)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such exec with a terminal"))?;
    set_size(m, rows, cols)
}

/// Sets pty master `m`'s window size.
fn set_size(m: &File, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ on a pty master this map owns, with a valid winsize.
    if unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
