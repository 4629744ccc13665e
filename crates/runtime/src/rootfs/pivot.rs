//! Switching the process's root to the container's rootfs.

use crate::error::{Context, Result};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use strata_os::{cvt, cvt_long, fd, mount, path_cstr, process};

/// `pivot_root` into `rootfs` (already a mount point) and detach the old root, using the
/// `pivot_root(".", ".")` idiom so no directory is needed inside the container.
pub fn pivot_root(rootfs: &Path) -> Result<()> {
    let old =
        fd::open("/", libc::O_DIRECTORY | libc::O_RDONLY, 0).ctx(|| "open old root".into())?;
    let new = fd::open(rootfs, libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .ctx(|| format!("open rootfs {}", rootfs.display()))?;
    fchdir(new.as_raw_fd()).ctx(|| "chdir rootfs".into())?;
    let dot = c".";
    // SAFETY: both arguments are valid C strings.
    cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })
        .ctx(|| format!("pivot_root {}", rootfs.display()))?;
    // The old root is now stacked under "."; make it a slave so the unmount does not propagate
    // to the host, then detach it.
    fchdir(old.as_raw_fd()).ctx(|| "chdir old root".into())?;
    let here = Path::new(".");
    mount::change(here, libc::MS_SLAVE | libc::MS_REC).ctx(|| "make old root rslave".into())?;
    mount::umount2(here, libc::MNT_DETACH).ctx(|| "detach old root".into())?;
    fchdir(new.as_raw_fd()).ctx(|| "chdir new root".into())?;
    chdir_root()
}

/// Without a mount namespace of its own: chroot into the rootfs (pivot_root or a move would
/// change the runtime's own namespace).
pub fn chroot(rootfs: &Path) -> Result<()> {
    chroot_to(rootfs).ctx(|| format!("chroot {}", rootfs.display()))?;
    chdir_root()
}

/// `--no-pivot`: move the rootfs mount over / and chroot into it (for ramdisk roots, where
/// pivot_root is impossible).
pub fn move_root(rootfs: &Path) -> Result<()> {
    process::chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    mount::mount(
        Some(rootfs.as_os_str()),
        Path::new("/"),
        None,
        libc::MS_MOVE,
        None,
    )
    .ctx(|| "move rootfs to /".into())?;
    chroot_to(Path::new(".")).ctx(|| "chroot".into())?;
    chdir_root()
}

/// Into the root directory of the container: `fd` is a descriptor of it (opened before the
/// namespaces were joined), for `exec` into a container without a mount namespace of its own.
pub fn chroot_fd(fd: RawFd) -> Result<()> {
    fchdir(fd).ctx(|| "chdir to the container's root".into())?;
    chroot_to(Path::new(".")).ctx(|| "chroot to the container's root".into())
}

/// `chdir("/")`, once the root is the container's.
pub fn chdir_root() -> Result<()> {
    process::chdir("/").ctx(|| "chdir /".into())
}

fn fchdir(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fchdir on an integer descriptor; failure is reported through errno.
    cvt(unsafe { libc::fchdir(fd) }).map(drop)
}

fn chroot_to(path: &Path) -> std::io::Result<()> {
    let c = path_cstr(path)?;
    // SAFETY: `c` is a valid C string for the duration of the call.
    cvt(unsafe { libc::chroot(c.as_ptr()) }).map(drop)
}
