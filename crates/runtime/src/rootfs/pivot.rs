//! Switching the process's root to the container's rootfs.

use crate::error::{Context, Result};
use crate::sys;

/// `pivot_root` into `rootfs` (already a mount point) and detach the old root, using the
/// `pivot_root(".", ".")` idiom so no directory is needed inside the container.
pub fn pivot_root(rootfs: &str) -> Result<()> {
    let old =
        sys::open("/", libc::O_DIRECTORY | libc::O_RDONLY, 0).ctx(|| "open old root".into())?;
    let new = sys::open(rootfs, libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .ctx(|| format!("open rootfs {rootfs}"))?;
    use std::os::fd::AsRawFd;
    // SAFETY: fchdir on a directory descriptor we hold.
    sys::cvt(unsafe { libc::fchdir(new.as_raw_fd()) }).ctx(|| "chdir rootfs".into())?;
    let dot = c".";
    // SAFETY: both arguments are valid C strings.
    sys::cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })
        .ctx(|| format!("pivot_root {rootfs}"))?;
    // The old root is now stacked under "."; make it a slave so the unmount does not propagate
    // to the host, then detach it.
    // SAFETY: fchdir on a directory descriptor we hold.
    sys::cvt(unsafe { libc::fchdir(old.as_raw_fd()) }).ctx(|| "chdir old root".into())?;
    sys::mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)
        .ctx(|| "make old root rslave".into())?;
    sys::umount2(".", libc::MNT_DETACH).ctx(|| "detach old root".into())?;
    // SAFETY: fchdir on a directory descriptor we hold.
    sys::cvt(unsafe { libc::fchdir(new.as_raw_fd()) }).ctx(|| "chdir new root".into())?;
    sys::chdir_root()
}

/// Without a mount namespace of its own: chroot into the rootfs (pivot_root or a move would
/// change the runtime's own namespace).
pub fn chroot(rootfs: &str) -> Result<()> {
    let c = sys::cstr(rootfs).ctx(|| rootfs.to_string())?;
    // SAFETY: valid C string.
    sys::cvt(unsafe { libc::chroot(c.as_ptr()) }).ctx(|| format!("chroot {rootfs}"))?;
    sys::chdir_root()
}

/// `--no-pivot`: move the rootfs mount over / and chroot into it (for ramdisk roots, where
/// pivot_root is impossible).
pub fn move_root(rootfs: &str) -> Result<()> {
    let c = sys::cstr(rootfs).ctx(|| rootfs.to_string())?;
    // SAFETY: valid C string.
    sys::cvt(unsafe { libc::chdir(c.as_ptr()) }).ctx(|| format!("chdir {rootfs}"))?;
    sys::mount(Some(rootfs), "/", None, libc::MS_MOVE, None).ctx(|| "move rootfs to /".into())?;
    let dot = c".";
    // SAFETY: valid C string.
    sys::cvt(unsafe { libc::chroot(dot.as_ptr()) }).ctx(|| "chroot".into())?;
    sys::chdir_root()
}
