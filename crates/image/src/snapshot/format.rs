//! The snapshot format: a layer's diff kept as an overlayfs upper directory, so that
//! snapshots stack as overlay lower directories as they are. A deleted path is a whiteout
//! (a character device 0/0 of that name), a directory that hides everything below it is
//! marked opaque (`trusted.overlay.opaque=y`). In a layer tar (OCI image spec) the same
//! facts are `.wh.<name>` files and a `.wh..wh..opq` file in the directory; the unpacker
//! turns the tar form into this one, the snapshotter's diff turns it back.

use rustix::fs::{self as rfs, FileType, Mode, XattrFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::os::fd::AsFd;

/// The xattr that marks a directory opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The prefix of a whiteout's name in a layer tar.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of the opaque-directory marker in a layer tar.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// Whether an xattr is layer content (in a layer tar, or kept from an upper directory).
/// Overlay's own attributes are not: from an archive they could forge opaque markers or
/// redirects in a snapshot, and in an upper directory they are overlayfs' bookkeeping.
pub fn xattr_allowed(name: &str) -> bool {
    (name.starts_with("user.") || name.starts_with("security.") || name.starts_with("trusted."))
        && !name.starts_with("trusted.overlay.")
        && !name.starts_with("user.overlay.")
}

/// Whether a stat is a whiteout (a character device 0/0).
pub fn is_whiteout(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

/// Whether the directory `dir` (an open descriptor, not `O_PATH`) is marked opaque.
pub fn is_opaque<Fd: AsFd>(dir: Fd) -> bool {
    let mut v = [0u8; 4];
    matches!(rfs::fgetxattr(dir, OPAQUE_XATTR, &mut v), Ok(1) if v[0] == b'y')
}

/// Marks the directory `dir` opaque.
pub fn mark_opaque<Fd: AsFd>(dir: Fd) -> Result<(), Errno> {
    rfs::fsetxattr(dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
}

/// Creates the whiteout `name` in the directory `dir` (nothing may be there).
pub fn make_whiteout<Fd: AsFd>(dir: Fd, name: &OsStr) -> Result<(), Errno> {
    rfs::mknodat(
        dir,
        name,
        FileType::CharacterDevice,
        Mode::empty(),
        rfs::makedev(0, 0),
    )
}
