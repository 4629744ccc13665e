//! Switching to the process's user: supplementary groups, gid, uid, umask.

use crate::error::{Error, Result};
use oci_spec::runtime::User;
use strata_os::cvt;

/// Sets groups, gid and uid, keeping capabilities across the uid change (they are set to the
/// spec's sets right after). `setgroups_allowed` is false in a user namespace whose
/// /proc/self/setgroups is "deny".
pub fn switch(u: &User, setgroups_allowed: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    if setgroups_allowed {
        let groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
        // SAFETY: pointer and length describe `groups`.
        cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })
            .map_err(|e| Error::io(format!("setgroups {groups:?}"), e))?;
    }
    // SAFETY: plain syscalls with integer ids.
    cvt(unsafe { libc::setresgid(u.gid(), u.gid(), u.gid()) })
        .map_err(|e| Error::io(format!("setgid {}", u.gid()), e))?;
    // SAFETY: as above.
    cvt(unsafe { libc::setresuid(u.uid(), u.uid(), u.uid()) })
        .map_err(|e| Error::io(format!("setuid {}", u.uid()), e))?;
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if let Some(m) = u.umask() {
        // SAFETY: umask never fails.
        unsafe { libc::umask(m as libc::mode_t) };
    }
    Ok(())
}
