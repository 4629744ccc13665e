//! Entry metadata helpers: ids, times, umask, and the xattr policy.

use super::apply::lossy;
use crate::error::{Error, Result};
use crate::snapshot::format::xattr_allowed;
use rustix::fs::{self as rfs, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

fn sys(op: &str, name: &[u8], e: Errno) -> Error {
    Error::io(format!("{op} {:?}", lossy(name)), e.into())
}

pub(crate) fn uid(u: u64) -> rfs::Uid {
    // SAFETY: any u32 is a valid uid for fchown; the only special value (-1, "unchanged")
    // cannot be produced because tar ids are clamped below u32::MAX.
    unsafe { rfs::Uid::from_raw(u.min(u32::MAX as u64 - 1) as u32) }
}

pub(crate) fn gid(g: u64) -> rfs::Gid {
    // SAFETY: as for `uid`.
    unsafe { rfs::Gid::from_raw(g.min(u32::MAX as u64 - 1) as u32) }
}

pub(crate) fn ts(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

pub(crate) fn has_xattrs<R: Read>(e: &mut tar::Entry<'_, R>) -> bool {
    match e.pax_extensions() {
        Ok(Some(exts)) => exts
            .flatten()
            .any(|x| x.key().is_ok_and(|k| k.starts_with("SCHILY.xattr."))),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The process umask, read without changing it (all bits set if unknown, which forces chmod).
pub(crate) fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o777)
    })
}

pub(crate) fn set_xattrs<R: Read>(
    fd: &OwnedFd,
    e: &mut tar::Entry<'_, R>,
    name: &[u8],
) -> Result<()> {
    let Ok(Some(exts)) = e.pax_extensions() else {
        return Ok(());
    };
    for ext in exts.flatten() {
        let Ok(key) = ext.key() else { continue };
        let Some(xname) = key.strip_prefix("SCHILY.xattr.") else {
            continue;
        };
        if !xattr_allowed(xname) {
            return Err(Error::Unsafe {
                entry: lossy(name).into(),
                msg: format!("xattr {xname} refused"),
            });
        }
        rfs::fsetxattr(fd.as_fd(), xname, ext.value_bytes(), XattrFlags::empty())
            .map_err(|err| sys(&format!("set xattr {xname} on"), name, err))?;
    }
    Ok(())
}
