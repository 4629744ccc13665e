//! Network namespaces the engine makes, as `ip netns add` does: a new namespace is unshared
//! by a short-lived thread of its own (namespaces are per thread, so the engine's other
//! threads stay in the host's), its loopback brought up, and bind-mounted on a file under
//! `<runroot>/netns/` so it outlives the thread; containers join it by that path.

use crate::error::{IoContext, Result};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Brings the loopback interface up in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    let sock = strata_os::owned(
        // SAFETY: plain socket(2) call.
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) },
    )?;
    // SAFETY: a zeroed ifreq is valid; its name is set below within its 16 bytes.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the flags of the named interface in `req`.
    strata_os::cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the flags union member is the one SIOCGIFFLAGS filled.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`.
    strata_os::cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// The mount id of the file system mount `p` is on (`mnt_id` of an open descriptor).
fn mount_id(p: &Path) -> std::io::Result<u64> {
    let f = std::fs::File::open(p)?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", f.as_raw_fd()))?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no mnt_id in fdinfo"))
}

/// Makes `dir` a shared mount of its own (once: a bind of a directory onto itself is on the
/// same device as its parent, so only the mount ids tell it is done), so namespace mounts
/// under it propagate to other mount namespaces and their removal too (what `ip netns`
/// does for /run/netns).
///
/// Callers at the same time (a build's parallel stages, concurrent runs) take turns on an
/// exclusive `flock` of the directory itself (the bind's root is the same inode): without
/// it two could both find it unmounted and stack two binds, one of which outlives removal.
fn shared_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let guard = std::fs::File::open(dir)?;
    // SAFETY: flock on a descriptor this function owns; released when `guard` is closed.
    while unsafe { libc::flock(guard.as_raw_fd(), libc::LOCK_EX) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    if mount_id(dir)? != mount_id(parent)? {
        return Ok(());
    }
    strata_os::mount::bind(dir, dir, libc::MS_REC)?;
    strata_os::mount::change(dir, libc::MS_SHARED | libc::MS_REC)
}

/// Creates the network namespace `<dir>/<name>` with its loopback up; returns its path.
pub fn create(dir: &Path, name: &str) -> Result<PathBuf> {
    shared_dir(dir).ctx(|| format!("network: prepare {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::File::create(&path).ctx(|| format!("network: create {}", path.display()))?;
    let p = path.clone();
    let made = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || -> std::io::Result<()> {
            strata_os::process::unshare(libc::CLONE_NEWNET)?;
            loopback_up()?;
            strata_os::mount::bind(Path::new("/proc/thread-self/ns/net"), &p, 0)
        })
        .ctx(|| "network: start the namespace thread".into())?
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")));
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        return Err(e).ctx(|| format!("network: create namespace {}", path.display()));
    }
    Ok(path)
}

/// Removes a namespace made by [`create`] (idempotent).
pub fn remove(path: &Path) -> Result<()> {
    if strata_os::mount::is_mountpoint(path) || is_nsfs(path) {
        let _ = strata_os::mount::umount2(path, libc::MNT_DETACH);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx(|| format!("network: remove {}", path.display())),
    }
}

/// Whether `path` is a bound namespace (nsfs), which `is_mountpoint` cannot tell for files.
fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e736673;
    strata_os::fd::open(path, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .ok()
        .and_then(|fd| strata_os::fd::fstatfs_type(fd.as_raw_fd()).ok())
        == Some(NSFS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many mounts are on `dir` (stacked binds count each).
    fn binds_of(dir: &Path) -> usize {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(dir.to_str().unwrap()))
            .count()
    }

    #[test]
    fn a_namespace_with_loopback_up_is_made_and_removed() {
        if !strata_testkit::require_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("netns");
        let p = create(&dir, "n1").unwrap();
        assert!(is_nsfs(&p));
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", p.display()))
            .args([
                "cat",
                "/sys/class/net/lo/operstate",
                "/sys/class/net/lo/flags",
            ])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        let flags =
            u32::from_str_radix(s.lines().nth(1).unwrap().trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & 1, 1, "lo is up: {s}");
        // The engine's own thread stayed in the host's namespace.
        assert_ne!(
            std::fs::read_link("/proc/self/ns/net").unwrap(),
            std::fs::read_link(&p).unwrap_or_default()
        );
        // A second namespace does not bind the directory again (it was bound once).
        let p2 = create(&dir, "n2").unwrap();
        let binds = binds_of(&dir);
        remove(&p2).unwrap();
        remove(&p).unwrap();
        assert!(!p.exists());
        remove(&p).unwrap();
        let _ = strata_os::mount::umount2(&dir, libc::MNT_DETACH);
        assert_eq!(
            binds, 1,
            "the netns directory is bound once, not once per namespace"
        );
    }

    #[test]
    fn namespaces_made_at_the_same_time_bind_the_directory_once() {
        if !strata_testkit::require_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("netns");
        let made: Vec<PathBuf> = (0..8)
            .map(|i| {
                let d = dir.clone();
                std::thread::spawn(move || create(&d, &format!("n{i}")).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let binds = binds_of(&dir);
        for p in &made {
            remove(p).unwrap();
        }
        for _ in 0..binds {
            let _ = strata_os::mount::umount2(&dir, libc::MNT_DETACH);
        }
        assert_eq!(
            binds, 1,
            "concurrent creators stacked binds of the directory"
        );
    }
}
