//! Path resolution confined to a container's root filesystem.
//!
//! Nothing inside an attacker-controlled tree is resolved as a string: every lookup goes through
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from an fd of the root, so `..` and
//! absolute symlinks stay inside, and the object found is used through its descriptor
//! (`/proc/self/fd/N`) rather than looked up again (CVE-2021-30465 class: symlink swaps of mount
//! targets between check and use).

use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Opens `path` (absolute or relative, interpreted inside `root`) with `flags`.
pub fn open_in_root(root: RawFd, path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let p = path.trim_start_matches('/');
    let p = if p.is_empty() { "." } else { p };
    sys::openat2(root, p, flags as u64, 0, RESOLVE)
}

/// Splits a path into its parent and last component (`"/a/b/c"` gives `("/a/b", "c")`).
fn split_last(path: &str) -> (&str, &str) {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => ("", t),
    }
}

/// Resolves `path` inside `root` as a directory, creating missing components with `mode`.
/// Returns an `O_PATH` descriptor of the directory.
pub fn mkdir_all(root: RawFd, path: &str, mode: libc::mode_t) -> io::Result<OwnedFd> {
    mkdir_all_depth(root, path, mode, 0)
}

fn mkdir_all_depth(root: RawFd, path: &str, mode: libc::mode_t, depth: u32) -> io::Result<OwnedFd> {
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    match open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let (parent, name) = split_last(path);
    if name.is_empty() || name == "." || name == ".." {
        return open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY);
    }
    let pfd = mkdir_all_depth(root, parent, mode, depth + 1)?;
    let c = sys::cstr(name)?;
    // SAFETY: `c` is a valid C string and `pfd` an open directory descriptor.
    let r = unsafe { libc::mkdirat(pfd.as_raw_fd(), c.as_ptr(), mode) };
    if r == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
        // A dangling symlink: create what it points to, interpreted inside the root.
        if let Ok(target) = std::fs::read_link(format!("{}/{name}", sys::fd_path(pfd.as_raw_fd())))
        {
            let t = target.to_string_lossy();
            let inside = if t.starts_with('/') {
                t.into_owned()
            } else {
                format!("{parent}/{t}")
            };
            mkdir_all_depth(root, &inside, mode, depth + 1)?;
        }
    }
    // Resolve again from the root: if `name` was swapped for a symlink meanwhile, RESOLVE_IN_ROOT
    // still keeps the result inside.
    open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY)
}

/// Resolves `path` inside `root` as a non-directory, creating an empty regular file (and the
/// missing parents) if it does not exist. Returns an `O_PATH` descriptor.
pub fn create_file(root: RawFd, path: &str, mode: libc::mode_t) -> io::Result<OwnedFd> {
    match open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let (parent, name) = split_last(path);
    let pfd = mkdir_all(root, parent, 0o755)?;
    let dir = sys::openat(pfd.as_raw_fd(), ".", libc::O_DIRECTORY | libc::O_RDONLY, 0)?;
    match sys::openat(
        dir.as_raw_fd(),
        name,
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
        mode,
    ) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    open_in_root(root, path, libc::O_PATH)
}

/// The parent directory (as an fd opened for `*at` calls) and last component of `path`,
/// creating missing parents.
pub fn parent_dir(root: RawFd, path: &str) -> io::Result<(OwnedFd, String)> {
    let (parent, name) = split_last(path);
    let pfd = mkdir_all(root, parent, 0o755)?;
    let dir = sys::openat(pfd.as_raw_fd(), ".", libc::O_DIRECTORY | libc::O_RDONLY, 0)?;
    Ok((dir, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root_fd(p: &std::path::Path) -> OwnedFd {
        sys::open(p.to_str().unwrap(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap()
    }

    fn real(fd: &OwnedFd) -> std::path::PathBuf {
        std::fs::read_link(sys::fd_path(fd.as_raw_fd())).unwrap()
    }

    #[test]
    fn absolute_symlink_stays_inside_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // /evil -> /etc, an absolute link that would escape to the host's /etc as a string.
        symlink("/etc", root.join("evil")).unwrap();
        let r = root_fd(&root);
        let fd = mkdir_all(r.as_raw_fd(), "/evil/sub", 0o755).unwrap();
        assert_eq!(real(&fd), root.join("etc/sub"));
        assert!(!std::path::Path::new("/etc/sub").exists());
    }

    #[test]
    fn dotdot_symlink_stays_inside_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        let r = root_fd(&root);
        let fd = create_file(r.as_raw_fd(), "/up/up/target", 0o644).unwrap();
        assert_eq!(real(&fd), root.join("target"));
        assert!(!t.path().join("target").exists());
    }

    #[test]
    fn dangling_absolute_symlink_is_created_inside_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let host = t.path().join("host-only");
        symlink(&host, root.join("evil")).unwrap();
        let r = root_fd(&root);
        let fd = mkdir_all(r.as_raw_fd(), "/evil/sub", 0o755).unwrap();
        assert!(!host.exists(), "created on the host");
        let inside = root.join(host.strip_prefix("/").unwrap()).join("sub");
        assert_eq!(real(&fd), inside);
    }

    #[test]
    fn magic_links_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        symlink("/proc/self/root/etc", root.join("m")).unwrap();
        let r = root_fd(&root);
        // Inside the root, /proc/self does not exist, so this cannot reach the host's /etc.
        assert!(open_in_root(r.as_raw_fd(), "/m/passwd", libc::O_PATH).is_err());
    }
}
