//! PID 1's duty: processes orphaned in the guest (a detached exec's process once the
//! runtime that started it is gone) become the agent's children, and their zombies are
//! reaped here. The agent's own children are waited for by the requests that started
//! them: they are spawned through [`spawn`], which records them, and the reaper leaves
//! recorded ones alone.

use std::collections::HashSet;
use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::time::Duration;

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

/// Reaps orphans every second, in the background.
pub fn start() {
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_secs(1));
        reap_orphans();
    });
}

/// Reaps the zombies among this process's children that it did not spawn itself.
fn reap_orphans() {
    let me = std::process::id();
    let k = known();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
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
