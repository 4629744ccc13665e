//! File-descriptor-relative operations confined to a root directory.
//!
//! Nothing here joins strings into paths inside an attacker-controlled tree: parents are
//! resolved with `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks (absolute or relative)
//! cannot leave the root, and the final component is always operated on with `*at`
//! calls that do not follow symlinks.

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, OwnedFd};

/// Lexically cleans an archive name into components under the root: leading `/`, `.`
/// and empty components are dropped, `..` pops (never above the root).
pub fn clean_components(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV
}

/// Opens the directory `comps` under `root` (confined). Empty `comps` is the root itself.
pub fn open_dir_in_root(root: &OwnedFd, comps: &[String]) -> Result<OwnedFd, Errno> {
    let path = if comps.is_empty() {
        ".".to_string()
    } else {
        comps.join("/")
    };
    rfs::openat2(
        root.as_fd(),
        path.as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        resolve_flags(),
    )
}

/// Opens (creating missing components with mode 0755) the directory `comps` under `root`.
/// Each component is created relative to an already confined parent fd.
pub fn mkdir_all_in_root(root: &OwnedFd, comps: &[String]) -> Result<OwnedFd, Errno> {
    match open_dir_in_root(root, comps) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e),
    }
    // Find the deepest existing prefix, then create downwards from it.
    let mut cur = open_dir_in_root(root, &[])?;
    for (i, c) in comps.iter().enumerate() {
        match open_dir_in_root(root, &comps[..=i]) {
            Ok(fd) => cur = fd,
            Err(Errno::NOENT) => {
                match rfs::mkdirat(cur.as_fd(), c.as_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                cur = rfs::openat(
                    cur.as_fd(),
                    c.as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// `lstat` of `name` in `dir`, `None` if absent.
pub fn lstat_at(dir: &OwnedFd, name: &str) -> Result<Option<rfs::Stat>, Errno> {
    match rfs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a stat is a directory.
pub fn is_dir(st: &rfs::Stat) -> bool {
    rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory
}

/// Removes `name` in `dir` whatever it is (a directory recursively), never following symlinks.
pub fn remove_all_at(dir: &OwnedFd, name: &str) -> Result<(), Errno> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if !is_dir(&st) {
        return rfs::unlinkat(dir.as_fd(), name, AtFlags::empty());
    }
    let sub = rfs::openat(
        dir.as_fd(),
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    clear_dir(&sub)?;
    rfs::unlinkat(dir.as_fd(), name, AtFlags::REMOVEDIR)
}

/// Removes every entry of the directory `dir`.
pub fn clear_dir(dir: &OwnedFd) -> Result<(), Errno> {
    let mut names = Vec::new();
    let mut rd = rfs::Dir::read_from(dir.as_fd())?;
    while let Some(e) = rd.read() {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    for n in names {
        remove_all_at(dir, &n)?;
    }
    Ok(())
}

/// Marks the directory `dir` as a top of directory hierarchies (`FS_TOPDIR_FL`,
/// `chattr +T`): ext4 then places each new subdirectory in a block group of its own
/// choosing (Orlov) instead of near its parent, and the subdirectory's files follow it. On
/// a journal-less ext4, allocating inodes in a group where many were freed in the last
/// half minute (a previous store's `rm -rf`, anyone's) skips each of those slowly, which
/// made unpacking 20,000 small files several times slower; a fresh group per snapshot
/// avoids most of it (spreading every directory of a snapshot was slower again: each new
/// group costs bitmap reads). A placement hint only (`STRATA_SPREAD_DIRS=0` turns it
/// off): filesystems without the flag ignore it, errors are ignored.
pub fn spread_children(dir: &OwnedFd) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("STRATA_SPREAD_DIRS").is_none_or(|v| v != "0")) {
        return;
    }
    if let Ok(flags) = rfs::ioctl_getflags(dir) {
        if !flags.contains(rfs::IFlags::TOPDIR) {
            let _ = rfs::ioctl_setflags(dir, flags | rfs::IFlags::TOPDIR);
        }
    }
}

/// Opens a directory path from outside the store (a trusted path).
pub fn open_trusted_dir(path: &std::path::Path) -> Result<OwnedFd, Errno> {
    rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean_components("/etc/passwd"), vec!["etc", "passwd"]);
        assert_eq!(clean_components("../../etc/./x"), vec!["etc", "x"]);
        assert_eq!(clean_components("a/../../b"), vec!["b"]);
        assert!(clean_components("./").is_empty());
    }
}
