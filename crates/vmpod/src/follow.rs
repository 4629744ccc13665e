//! A VM container's host files that change while it runs: the engine rewrites a container's
//! /etc/hosts in place when a peer joins or leaves its network, which a plain container sees
//! through its bind mount. The guest has a copy ([`crate::agent::host_file_mounts`]), so its
//! shim follows the host files with inotify and passes each new content to the guest
//! ([`Agent::update_file`]).

use crate::agent::Agent;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Follows `files` ((destination, host path)) of container `id`, just started with their
/// present content, from a thread of its own until the container or the guest is gone. (It
/// reports nothing: the shim's stderr is the container's.)
pub fn follow(agent: Arc<Agent>, id: String, files: Vec<(String, PathBuf)>) {
    if files.is_empty() {
        return;
    }
    let started: Vec<Option<Vec<u8>>> = files.iter().map(|(_, p)| std::fs::read(p).ok()).collect();
    std::thread::spawn(move || {
        let _ = watch(&agent, &id, &files, started);
    });
}

fn watch(
    agent: &Agent,
    id: &str,
    files: &[(String, PathBuf)],
    mut sent: Vec<Option<Vec<u8>>>,
) -> std::io::Result<()> {
    // SAFETY: inotify_init1 with a flag; the descriptor is owned at once.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut watches = Vec::new();
    for (_, src) in files {
        let c = std::ffi::CString::new(src.as_os_str().as_encoded_bytes())
            .map_err(|_| std::io::Error::other("a path with a NUL byte"))?;
        // SAFETY: inotify_add_watch with our descriptor and a NUL-terminated path.
        let wd = unsafe {
            libc::inotify_add_watch(
                fd.as_raw_fd(),
                c.as_ptr(),
                libc::IN_CLOSE_WRITE | libc::IN_MODIFY,
            )
        };
        watches.push(wd);
    }
    // A change made before the watches were set is passed on by a first look at them all.
    let mut changed = watches.clone();
    let mut buf = [0u8; 4096];
    loop {
        for (i, (dest, src)) in files.iter().enumerate() {
            if !changed.contains(&watches[i]) {
                continue;
            }
            let Ok(now) = std::fs::read(src) else {
                continue;
            };
            if sent[i].as_deref() == Some(now.as_slice()) {
                continue;
            }
            match agent.update_file(id, dest, &now) {
                Ok(()) => sent[i] = Some(now),
                // The container has ended, or the guest is gone: nothing more to follow.
                Err(_) => return Ok(()),
            }
        }
        // SAFETY: read into a buffer we own, at most its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        changed = changed_watches(&buf[..n as usize]);
        // The engine writes a file in a few calls: let it finish.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The watch descriptors of a buffer of inotify events.
fn changed_watches(mut b: &[u8]) -> Vec<i32> {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    let mut out = Vec::new();
    while b.len() >= HEADER {
        // SAFETY: at least one event header's bytes, read unaligned.
        let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
        out.push(ev.wd);
        let next = HEADER + ev.len as usize;
        b = b.get(next..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_by_their_name_lengths() {
        let mut b = Vec::new();
        for (wd, len) in [(1i32, 0u32), (2, 16)] {
            let ev = libc::inotify_event {
                wd,
                mask: libc::IN_MODIFY,
                cookie: 0,
                len,
            };
            // SAFETY: the event's bytes, as the kernel writes them.
            let raw: [u8; std::mem::size_of::<libc::inotify_event>()] =
                unsafe { std::mem::transmute(ev) };
            b.extend_from_slice(&raw);
            b.extend(std::iter::repeat_n(0, len as usize));
        }
        assert_eq!(changed_watches(&b), vec![1, 2]);
    }
}
