//! Disk usage of a layer directory: allocated bytes and inodes, each inode once (hard
//! links), read through descriptors confined to the directory, one open at a time.

use super::active::Usage;
use crate::error::{Error, Result};
use crate::fsops;
use rustix::fs::{self as rfs, AtFlags, FileType};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The usage of the tree under the directory `root` (`root` itself included).
pub fn usage(root: &OwnedFd) -> Result<Usage> {
    let err = |e: rustix::io::Errno| Error::io("measure snapshot", e.into());
    let st = rfs::fstat(root.as_fd()).map_err(err)?;
    let mut u = Usage {
        bytes: st.st_blocks as u64 * 512,
        inodes: 1,
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut dirs: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        let d = fsops::confined(root)
            .open(&rel, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .map_err(|e| Error::io(format!("measure {rel:?}"), e))?;
        let mut rd = rfs::Dir::read_from(d.as_fd()).map_err(err)?;
        while let Some(e) = rd.read() {
            let e = e.map_err(err)?;
            let name = e.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            let st = rfs::statat(d.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
            if st.st_nlink > 1 && !seen.insert((st.st_dev, st.st_ino)) {
                continue;
            }
            u.inodes += 1;
            u.bytes += st.st_blocks as u64 * 512;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                dirs.push(rel.join(OsStr::from_bytes(name.to_bytes())));
            }
        }
    }
    Ok(u)
}
