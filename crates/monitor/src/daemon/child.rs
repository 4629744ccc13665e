//! Work done in a forked copy of the monitor: creating and starting the container, and the
//! runtime calls around it. The runtime's create path needs a single-threaded caller (the
//! monitor is one), and running it in a child keeps the runtime's code and data out of the
//! long-lived monitor's resident memory: the monitor itself only touches its poll loop.

use std::os::fd::AsRawFd;

/// The longest result a child sends (well under a pipe's capacity).
pub const MAX_RESULT: usize = 16 * 1024;

/// Runs `f` in a forked child and returns what it returned. The child's result crosses a
/// pipe as text (at most [`MAX_RESULT`] bytes, so it never fills the pipe); the child exits
/// without running destructors. The parent waits for the child to exit, then reads: not for
/// the pipe's end, since a container init forked by the child holds a copy of the pipe
/// until its own exec.
pub fn in_child<F>(f: F) -> Result<String, String>
where
    F: FnOnce() -> Result<String, String>,
{
    let (r, w) = strata_os::fd::pipe().map_err(|e| format!("monitor: pipe: {e}"))?;
    // SAFETY: the monitor is single-threaded (no thread is ever started in it).
    let pid =
        unsafe { strata_os::process::clone_fork(0) }.map_err(|e| format!("monitor: fork: {e}"))?;
    if pid == 0 {
        drop(r);
        let mut msg = match f() {
            Ok(s) => format!("o{s}"),
            Err(e) => format!("e{e}"),
        };
        if msg.len() > MAX_RESULT {
            let mut end = MAX_RESULT;
            while !msg.is_char_boundary(end) {
                end -= 1;
            }
            msg.truncate(end);
        }
        let _ = strata_os::fd::write_all(w.as_raw_fd(), msg.as_bytes());
        // SAFETY: ends the forked child at once, without destructors or atexit handlers.
        unsafe { libc::_exit(0) }
    }
    drop(w);
    let waited = strata_os::process::waitpid(pid, 0);
    let mut out = Vec::new();
    let _ = strata_os::fd::set_nonblocking(r.as_raw_fd(), true);
    let mut buf = [0u8; 1024];
    while let Ok(n) = strata_os::fd::read(r.as_raw_fd(), &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    match text.split_at_checked(1) {
        Some(("o", rest)) => Ok(rest.to_string()),
        Some(("e", rest)) => Err(rest.to_string()),
        _ => Err(match waited {
            Ok((_, st)) => format!(
                "monitor: the child doing the work died (status {})",
                strata_os::process::exit_code(st)
            ),
            Err(e) => format!("monitor: the child doing the work was lost: {e}"),
        }),
    }
}
