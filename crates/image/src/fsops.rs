//! File-descriptor-relative operations inside the trees of the store (a layer being
//! unpacked, a snapshot, an active snapshot's upper directory), shared by `unpack`,
//! `snapshot` and the snapshotter.
//!
//! Nothing here joins strings into paths inside an attacker-controlled tree: paths are
//! resolved by [`strata_os::Confined`] (`openat2(RESOLVE_IN_ROOT | RESOLVE_NO_XDEV)`), so
//! `..` and symlinks (absolute or relative) cannot leave the root, and the final component
//! is always operated on with `*at` calls that do not follow symlinks. Names are bytes
//! (`OsString`), never a lossy UTF-8 copy.

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use strata_os::Confined;

/// The components joined with `/` (relative; empty for the root itself).
pub fn join(comps: &[OsString]) -> PathBuf {
    let mut b: Vec<u8> = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            b.push(b'/');
        }
        b.extend_from_slice(c.as_bytes());
    }
    PathBuf::from(OsString::from_vec(b))
}

/// The resolver of a store tree: confined to `root`, never crossing a mount.
pub fn confined(root: &OwnedFd) -> Confined<'_> {
    Confined::new(root.as_fd()).no_xdev()
}

/// Opens the directory `comps` under `root` (confined). Empty `comps` is the root itself.
pub fn open_dir_in(root: &OwnedFd, comps: &[OsString]) -> Result<OwnedFd, Errno> {
    confined(root).open_dir(join(comps)).map_err(errno)
}

/// The errno of an I/O error from the OS crate (`EIO` if it has none).
pub fn errno(e: std::io::Error) -> Errno {
    Errno::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EIO))
}

/// `lstat` of `name` in `dir`, `None` if absent.
pub fn lstat_at(dir: &OwnedFd, name: &OsStr) -> Result<Option<rfs::Stat>, Errno> {
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
pub fn remove_all_at(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
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
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsString::from_vec(n.to_vec()));
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
    fn joining_keeps_bytes() {
        let c = vec![OsString::from_vec(b"d\xff".to_vec()), OsString::from("f")];
        assert_eq!(join(&c).as_os_str().as_bytes(), b"d\xff/f");
        assert_eq!(join(&[]).as_os_str(), "");
    }
}
