//! PID 1's duty: processes orphaned in the guest (a detached exec's process once the
//! runtime that started it is gone) become the agent's children, and their zombies are
//! reaped here. The agent's own children are waited for by the requests that started
//! them: they are spawned through [`spawn`], which records them, and the reaper leaves
//! recorded ones alone. The reaper looks only after a `SIGCHLD` and only among the agent's
//! children: under TCG a look through every process of the guest each second was a steady
//! tax on its one vCPU and its translation cache.

use std::collections::HashSet;
use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Set by the `SIGCHLD` handler: a child has ended since the reaper last looked (true at
/// first, so whatever ended before the handler was there is looked for once).
static CHILD_ENDED: AtomicBool = AtomicBool::new(true);

extern "C" fn on_sigchld(_: libc::c_int) {
    CHILD_ENDED.store(true, Ordering::Relaxed);
}

/// The agent's own children, not yet waited for.
static KNOWN: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn known() -> std::sync::MutexGuard<'static, Option<HashSet<u32>>> {
    KNOWN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Spawns `cmd`, recorded as the agent's (so the reaper does not take its exit status).
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut k = known();
    let c = cmd.spawn()?;
    k.get_or_insert_with(HashSet::new).insert(c.id());
    Ok(c)
}

/// Waits for a child [`spawn`] started.
pub fn wait(c: &mut Child) -> io::Result<ExitStatus> {
    let st = c.wait();
    if let Some(k) = known().as_mut() {
        k.remove(&c.id());
    }
    st
}

/// Runs `cmd` to its end.
pub fn status(cmd: &mut Command) -> io::Result<ExitStatus> {
    wait(&mut spawn(cmd)?)
}

/// Reaps orphans in the background, within a second of a `SIGCHLD`.
pub fn start() -> io::Result<()> {
    // SAFETY: a handler that only stores to an atomic (async-signal-safe). SA_RESTART
    // restarts the agent's reads, writes and accepts; poll, sleeps and sockets with a
    // timeout still see EINTR (std's sleep and read_exact retry it).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigchld as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_secs(1));
        if CHILD_ENDED.swap(false, Ordering::Relaxed) {
            reap_orphans();
        }
    });
    Ok(())
}

/// This process's children: each of its threads' (`/proc/self/task/*/children`, where an
/// orphan given to PID 1 shows under the thread it went to).
fn children() -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(list) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Reaps the zombies among this process's children that it did not spawn itself.
fn reap_orphans() {
    let me = std::process::id();
    let k = known();
    for pid in children() {
        if k.as_ref().is_some_and(|k| k.contains(&pid)) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, then parent pid.
        let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let (state, ppid) = (rest.next(), rest.next().and_then(|p| p.parse::<u32>().ok()));
        if state == Some("Z") && ppid == Some(me) {
            let mut st = 0;
            // SAFETY: waitpid on a zombie child of this process, without blocking.
            unsafe { libc::waitpid(pid as i32, &mut st, libc::WNOHANG) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_of_any_thread_is_listed() {
        let mut main = Command::new("sleep").arg("5").spawn().unwrap();
        let mut other = std::thread::spawn(|| Command::new("sleep").arg("5").spawn().unwrap())
            .join()
            .unwrap();
        let listed = children();
        for c in [&mut main, &mut other] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert!(listed.contains(&main.id()), "{listed:?}");
        assert!(listed.contains(&other.id()), "{listed:?}");
    }
}
