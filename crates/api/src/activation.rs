//! Socket activation (systemd's `strata-docker.socket`, or `systemd-socket-activate`): the
//! listening unix socket arrives as descriptor 3 with `LISTEN_PID` naming this process and
//! `LISTEN_FDS=1`; the service serves it as it is (its owner, group and mode are the socket
//! unit's) and leaves it in place when it exits. And the group a socket the service makes
//! itself is given to (`--group`, dockerd's `-G`).

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// The path of the unix socket passed to this process, if it was socket-activated (then
/// [`listener`] takes it). The activation variables are removed (children must not take
/// them for theirs). Refused: more than one socket, or one that is not a unix socket (a TCP
/// listener is served only with TLS: use `tcp://` and `--tlsverify`).
pub fn activated() -> Result<Option<PathBuf>, String> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    for k in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(k);
    }
    if !ours || count == 0 {
        return Ok(None);
    }
    if count > 1 {
        return Err(format!(
            "socket activation: {count} sockets passed: the service serves one unix socket [layer: api]"
        ));
    }
    // SAFETY: a zeroed sockaddr_un, filled by getsockname on descriptor 3.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `addr`.
    let r = unsafe {
        libc::getsockname(
            FIRST_FD,
            &mut addr as *mut libc::sockaddr_un as *mut libc::sockaddr,
            &mut len,
        )
    };
    if r != 0 || addr.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return Err("socket activation: descriptor 3 is not a unix socket (a TCP listener is served only with TLS: serve tcp://IP:PORT with --tlsverify) [layer: api]".into());
    }
    // SAFETY: fcntl on the descriptor passed to us: close-on-exec, as ours are.
    unsafe { libc::fcntl(FIRST_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    let path: Vec<u8> = addr
        .sun_path
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Ok(Some(PathBuf::from(std::ffi::OsString::from_vec(path))))
}

/// The passed socket as a listener; called once, after [`activated`] found it.
pub fn listener() -> std::os::unix::net::UnixListener {
    // SAFETY: descriptor 3 is the passed unix socket ([`activated`] checked it), owned from
    // here on by this listener alone.
    unsafe { std::os::unix::net::UnixListener::from_raw_fd(FIRST_FD) }
}

/// The id of group `name` (or a number), for `--group`.
pub fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let c = std::ffi::CString::new(name).map_err(|_| format!("group {name:?}: not a name"))?;
    // SAFETY: getgrnam with a NUL-terminated name; the entry is read at once (this runs
    // before any other thread exists).
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    if g.is_null() {
        return Err(format!(
            "group {name:?}: no such group (create it, or pass a gid) [layer: api]"
        ));
    }
    // SAFETY: a non-null entry from getgrnam.
    Ok(unsafe { (*g).gr_gid })
}
