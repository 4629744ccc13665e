//! Hard links from a layer to files of the layers below it. A snapshot holds one layer's
//! diff, so such a link cannot be made inside it: the unpacker records it (a
//! [`DeferredLink`]) and the snapshot gets a copy of the target when it is committed.

use crate::error::{Error, IoResultExt, Result};
use crate::fsops::{self, join};
use rustix::fs::{self as rfs, Mode, OFlags};
use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// A hard link whose target is not in this layer (it lives in a lower layer).
#[derive(Debug, Clone)]
pub struct DeferredLink {
    /// The link's own path components.
    pub link: Vec<OsString>,
    /// The target's path components.
    pub target: Vec<OsString>,
}

/// Makes the link `l` in the snapshot `root` a copy of its target, found in the first of
/// `lowers` (snapshot directories, top first) that has it; both paths are resolved
/// confined to their snapshot.
pub fn copy_up(root: &OwnedFd, l: &DeferredLink, lowers: &[&Path]) -> Result<()> {
    for lower in lowers {
        let lfd = fsops::open_trusted_dir(lower).op("open lower snapshot")?;
        let src =
            match fsops::confined(&lfd).open(join(&l.target), libc::O_RDONLY | libc::O_NOFOLLOW) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(Error::io("open link target", e)),
            };
        let st = rfs::fstat(src.as_fd()).op("stat link target")?;
        if rfs::FileType::from_raw_mode(st.st_mode) != rfs::FileType::RegularFile {
            return Err(Error::Unsafe {
                entry: join(&l.link).to_string_lossy().into_owned(),
                msg: "hard link to a non-regular file".into(),
            });
        }
        let (base, parent) = l.link.split_last().expect("non-empty link");
        // An O_PATH descriptor of the parent: enough for the `*at` calls below.
        let pfd = fsops::confined(root)
            .mkdir_all(join(parent), 0o755)
            .op("open link parent")?;
        let _ = fsops::remove_all_at(&pfd, base);
        let dst = rfs::openat(
            pfd.as_fd(),
            base,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .op("create link copy")?;
        let mut from = fs::File::from(src);
        let mut to = fs::File::from(dst);
        std::io::copy(&mut from, &mut to).op("copy link target")?;
        // SAFETY: the ids come from the kernel's stat of an existing file, so they are valid
        // (never the "unchanged" value -1).
        let (u, g) = unsafe { (rfs::Uid::from_raw(st.st_uid), rfs::Gid::from_raw(st.st_gid)) };
        let _ = rfs::fchown(&to, Some(u), Some(g));
        rfs::fchmod(&to, Mode::from_raw_mode(st.st_mode & 0o7777)).op("chmod link copy")?;
        return Ok(());
    }
    Err(Error::NotFound(format!(
        "hard link target {:?}",
        join(&l.target)
    )))
}
