//! /dev inside the container: the default devices, `linux.devices`, and the standard links.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use strata_os::cvt::{cstr, os_cstr};
use strata_os::fd::fd_path;
use strata_os::{cvt, mount, Confined};

/// A device node to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Absolute path in the container.
    pub path: PathBuf,
    /// 'c', 'b' or 'p'.
    pub kind: char,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The devices every container gets (runc's list).
pub fn defaults() -> Vec<Node> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .iter()
    .map(|&(p, ma, mi)| Node {
        path: p.into(),
        kind: 'c',
        major: ma,
        minor: mi,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Converts a spec device.
pub fn from_spec(d: &LinuxDevice) -> Node {
    let kind = match d.typ() {
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::P => 'p',
        _ => 'c',
    };
    Node {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    }
}

/// Creates the nodes inside the root. With `bind_from_host` (inside a user namespace, where
/// mknod is not allowed) the host's node is bind-mounted onto an empty file instead.
pub fn create(root: Confined, nodes: &[Node], bind_from_host: bool) -> Result<()> {
    for n in nodes {
        if !under_dev(&n.path) {
            return Err(Error::Spec(format!(
                "device {}: must be under /dev",
                n.path.display()
            )));
        }
        let what = || format!("device {}", n.path.display());
        // A FIFO is made in place, user namespace or not: it is not the host's device.
        if bind_from_host && n.kind != 'p' {
            let t = root.create_file(&n.path, 0o000).ctx(what)?;
            mount::bind(&n.path, &fd_path(t.as_raw_fd()), 0).ctx(what)?;
            continue;
        }
        let (dir, name) = root.parent_dir(&n.path).ctx(what)?;
        let c = os_cstr(&name).ctx(what)?;
        // SAFETY: `c` is a valid C string and `dir` a directory fd.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
        let fmt = match n.kind {
            'b' => libc::S_IFBLK,
            'p' => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        let dev = libc::makedev(n.major as u32, n.minor as u32);
        // SAFETY: `c` is a valid C string and `dir` a directory fd.
        cvt(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), fmt | n.mode, dev) }).ctx(what)?;
        // mknod is subject to the umask: set the mode exactly, then the owner.
        // SAFETY: as above; AT_SYMLINK_NOFOLLOW keeps the call on the node itself.
        cvt(unsafe { libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), n.mode, 0) }).ctx(what)?;
        // SAFETY: as above.
        cvt(unsafe {
            libc::fchownat(
                dir.as_raw_fd(),
                c.as_ptr(),
                n.uid,
                n.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .ctx(what)?;
    }
    Ok(())
}

/// Whether a device path is under /dev (`/dev` itself is not a device).
fn under_dev(p: &Path) -> bool {
    p.starts_with("/dev") && p != Path::new("/dev")
}

/// The standard links: /dev/fd, stdin, stdout, stderr, ptmx.
pub fn links(root: Confined) -> Result<()> {
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        let (dir, name) = root.parent_dir(link).ctx(|| format!("link {link}"))?;
        let n = os_cstr(&name).ctx(|| link.to_string())?;
        let t = cstr(target).ctx(|| link.to_string())?;
        if link == "/dev/ptmx" {
            // SAFETY: valid C string and directory fd.
            unsafe { libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), 0) };
        }
        // SAFETY: valid C strings and directory fd.
        let r = unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) };
        if r == -1 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(Error::io(format!("link {link}"), e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn defaults_are_runc_set() {
        let d = defaults();
        assert_eq!(d.len(), 6);
        assert!(d
            .iter()
            .any(|n| n.path == Path::new("/dev/null") && n.major == 1 && n.minor == 3));
    }

    #[test]
    fn device_outside_dev_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let r = strata_os::fd::open(t.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let mut n = defaults().remove(0);
        n.path = "/etc/evil".into();
        assert!(create(Confined::new(r.as_fd()), &[n], false).is_err());
    }
}
