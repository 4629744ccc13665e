//! Path resolution confined to a root directory: the one resolver of the stack.
//!
//! Nothing inside an attacker-controlled tree (a container's root filesystem, a volume, an
//! image layer being unpacked) is resolved as a string. Every lookup goes through
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from a descriptor of the root, so `..`
//! and absolute symlinks stay inside it, `/proc/self/...`-style magic links are refused, and
//! the object found is used through its descriptor rather than looked up again (the
//! CVE-2021-30465 class: a symlink swapped in between check and use). `no_xdev` adds
//! `RESOLVE_NO_XDEV` where a walk must not cross into another mount (layer unpacking).

use crate::cvt::os_cstr;
use crate::fd::{fd_path, openat, openat2};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How deep `mkdir_all` follows dangling symlinks before giving up (`ELOOP`), as the
/// kernel's own limit on nested links.
const MAX_LINK_DEPTH: u32 = 40;

/// A root directory that paths are resolved inside.
#[derive(Clone, Copy, Debug)]
pub struct Confined<'a> {
    root: BorrowedFd<'a>,
    resolve: u64,
}

/// `path` relative to the root: leading slashes dropped, empty meaning the root itself.
fn relative(path: &Path) -> &Path {
    let b = path.as_os_str().as_bytes();
    let start = b.iter().position(|&c| c != b'/').unwrap_or(b.len());
    if start == b.len() {
        Path::new(".")
    } else {
        Path::new(OsStr::from_bytes(&b[start..]))
    }
}

/// Splits a path into its parent and last component (`/a/b/c` gives `/a/b` and `c`;
/// trailing slashes ignored).
pub fn split_last(path: &Path) -> (&Path, &OsStr) {
    let b = path.as_os_str().as_bytes();
    let end = b.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
    let t = &b[..end];
    match t.iter().rposition(|&c| c == b'/') {
        Some(i) => (
            Path::new(OsStr::from_bytes(&t[..i])),
            OsStr::from_bytes(&t[i + 1..]),
        ),
        None => (Path::new(""), OsStr::from_bytes(t)),
    }
}

impl<'a> Confined<'a> {
    /// Resolves inside the directory `root` (`RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`).
    pub fn new(root: BorrowedFd<'a>) -> Self {
        Confined {
            root,
            resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        }
    }

    /// Also refuses to cross a mount point (`RESOLVE_NO_XDEV`).
    pub fn no_xdev(mut self) -> Self {
        self.resolve |= libc::RESOLVE_NO_XDEV;
        self
    }

    /// The root's descriptor.
    pub fn root(&self) -> RawFd {
        self.root.as_raw_fd()
    }

    /// Opens `path` (absolute or relative, interpreted inside the root) with `flags`.
    pub fn open<P: AsRef<Path>>(&self, path: P, flags: libc::c_int) -> io::Result<OwnedFd> {
        openat2(
            self.root(),
            relative(path.as_ref()),
            flags as u64,
            0,
            self.resolve,
        )
    }

    /// Opens the directory `path` for reading (and for the `*at` calls).
    pub fn open_dir<P: AsRef<Path>>(&self, path: P) -> io::Result<OwnedFd> {
        self.open(path, libc::O_RDONLY | libc::O_DIRECTORY)
    }

    /// Resolves `path` as a directory, creating missing components with `mode`; returns an
    /// `O_PATH` descriptor of it. A dangling symlink on the way has its target created,
    /// interpreted inside the root (as runc does for mount targets).
    pub fn mkdir_all<P: AsRef<Path>>(&self, path: P, mode: libc::mode_t) -> io::Result<OwnedFd> {
        self.mkdir_all_depth(path.as_ref(), mode, 0)
    }

    fn mkdir_all_depth(&self, path: &Path, mode: libc::mode_t, depth: u32) -> io::Result<OwnedFd> {
        if depth > MAX_LINK_DEPTH {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
        match self.open(path, dir_flags) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = split_last(path);
        if name.is_empty() || name == "." || name == ".." {
            return self.open(path, dir_flags);
        }
        let pfd = self.mkdir_all_depth(parent, mode, depth + 1)?;
        let c = os_cstr(name)?;
        // SAFETY: `c` is a valid C string and `pfd` an open directory descriptor.
        let r = unsafe { libc::mkdirat(pfd.as_raw_fd(), c.as_ptr(), mode) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
            // A dangling symlink: create what it points to, interpreted inside the root.
            if let Ok(target) = std::fs::read_link(fd_path(pfd.as_raw_fd()).join(name)) {
                let inside = if target.is_absolute() {
                    target
                } else {
                    parent.join(target)
                };
                self.mkdir_all_depth(&inside, mode, depth + 1)?;
            }
        }
        // Resolve again from the root: if `name` was swapped for a symlink meanwhile,
        // RESOLVE_IN_ROOT still keeps the result inside.
        self.open(path, dir_flags)
    }

    /// Resolves `path` as a non-directory, creating an empty regular file (and the missing
    /// parents) if it does not exist; returns an `O_PATH` descriptor.
    pub fn create_file<P: AsRef<Path>>(&self, path: P, mode: libc::mode_t) -> io::Result<OwnedFd> {
        let path = path.as_ref();
        match self.open(path, libc::O_PATH) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (dir, name) = self.parent_dir(path)?;
        match openat(
            dir.as_raw_fd(),
            &name,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            mode,
        ) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        self.open(path, libc::O_PATH)
    }

    /// The parent directory of `path` (opened for the `*at` calls, created if missing) and
    /// its last component.
    pub fn parent_dir<P: AsRef<Path>>(&self, path: P) -> io::Result<(OwnedFd, OsString)> {
        let (parent, name) = split_last(path.as_ref());
        let pfd = self.mkdir_all(parent, 0o755)?;
        let dir = openat(pfd.as_raw_fd(), ".", libc::O_DIRECTORY | libc::O_RDONLY, 0)?;
        Ok((dir, name.to_os_string()))
    }

    /// Where `fd` (found through this root) really is on the host, for messages.
    pub fn host_path(fd: RawFd) -> io::Result<PathBuf> {
        std::fs::read_link(fd_path(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::open;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn root_fd(p: &Path) -> OwnedFd {
        open(p, libc::O_PATH | libc::O_DIRECTORY, 0).unwrap()
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        Confined::host_path(fd.as_raw_fd()).unwrap()
    }

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        (t, root)
    }

    #[test]
    fn splitting_and_relative_paths() {
        assert_eq!(
            split_last(Path::new("/a/b/c")),
            (Path::new("/a/b"), OsStr::new("c"))
        );
        assert_eq!(
            split_last(Path::new("c/")),
            (Path::new(""), OsStr::new("c"))
        );
        assert_eq!(relative(Path::new("///")), Path::new("."));
        assert_eq!(relative(Path::new("//etc/x")), Path::new("etc/x"));
    }

    #[test]
    fn absolute_symlink_stays_inside_root() {
        let (_t, root) = tree();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // /evil -> /etc, an absolute link that would escape to the host's /etc as a string.
        symlink("/etc", root.join("evil")).unwrap();
        let r = root_fd(&root);
        let fd = Confined::new(r.as_fd())
            .mkdir_all("/evil/sub", 0o755)
            .unwrap();
        assert_eq!(real(&fd), root.join("etc/sub"));
        assert!(!Path::new("/etc/sub").exists());
    }

    #[test]
    fn dotdot_symlink_stays_inside_root() {
        let (t, root) = tree();
        symlink("../../../../..", root.join("up")).unwrap();
        let r = root_fd(&root);
        let fd = Confined::new(r.as_fd())
            .create_file("/up/up/target", 0o644)
            .unwrap();
        assert_eq!(real(&fd), root.join("target"));
        assert!(!t.path().join("target").exists());
    }

    #[test]
    fn dangling_absolute_symlink_is_created_inside_root() {
        let (t, root) = tree();
        let host = t.path().join("host-only");
        symlink(&host, root.join("evil")).unwrap();
        let r = root_fd(&root);
        let fd = Confined::new(r.as_fd())
            .mkdir_all("/evil/sub", 0o755)
            .unwrap();
        assert!(!host.exists(), "created on the host");
        let inside = root.join(host.strip_prefix("/").unwrap()).join("sub");
        assert_eq!(real(&fd), inside);
    }

    #[test]
    fn symlink_loops_end() {
        let (_t, root) = tree();
        symlink("/b", root.join("a")).unwrap();
        symlink("/a", root.join("b")).unwrap();
        let r = root_fd(&root);
        assert!(Confined::new(r.as_fd()).mkdir_all("/a/x", 0o755).is_err());
    }

    #[test]
    fn magic_links_are_refused() {
        let (_t, root) = tree();
        symlink("/proc/self/root/etc", root.join("m")).unwrap();
        let r = root_fd(&root);
        // Inside the root, /proc/self does not exist, so this cannot reach the host's /etc.
        assert!(Confined::new(r.as_fd())
            .open("/m/passwd", libc::O_PATH)
            .is_err());
    }

    #[test]
    fn no_xdev_refuses_a_mount_crossing() {
        // /proc is another mount than the temporary directory's file system: reach it by
        // a symlink and the confined walk (which follows it to the root's own /proc, absent
        // here) fails; from "/" the crossing itself is what no_xdev refuses.
        let slash = open("/", libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let plain = Confined::new(slash.as_fd());
        assert!(plain.open("/proc/self", libc::O_PATH).is_ok());
        let e = plain
            .no_xdev()
            .open("/proc/self", libc::O_PATH)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
    }

    #[test]
    fn non_utf8_names_are_created_as_they_are() {
        let (_t, root) = tree();
        let r = root_fd(&root);
        let name = Path::new(OsStr::from_bytes(b"/d\xff/f\xfe"));
        Confined::new(r.as_fd()).create_file(name, 0o600).unwrap();
        assert!(root.join(OsStr::from_bytes(b"d\xff/f\xfe")).is_file());
    }
}
