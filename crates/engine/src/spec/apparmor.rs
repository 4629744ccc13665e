//! AppArmor profiles (`--security-opt apparmor=NAME`, the CRI's `apparmor`): applied by the
//! OCI runtime as `process.apparmorProfile` on hosts whose kernel has AppArmor on, and
//! accepted without effect where it is off (as runc and containerd do there). A profile
//! must be loaded on the host before a container names it.

use crate::error::{Error, Result};

/// The name that asks for no profile.
pub const UNCONFINED: &str = "unconfined";

/// Whether the host's kernel has AppArmor on.
pub fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Checks that profile `name` can be applied: loaded, where AppArmor is on.
pub fn check(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Invalid(
            "apparmor profile: an empty name [layer: apparmor]".into(),
        ));
    }
    if name == UNCONFINED || !enabled() {
        return Ok(());
    }
    let loaded =
        std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap_or_default();
    if is_loaded(&loaded, name) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "apparmor profile {name:?} is not loaded on this host (load it with apparmor_parser first) [layer: apparmor]"
        )))
    }
}

/// Whether `name` is among the profiles the kernel lists (`NAME (enforce)` lines).
fn is_loaded(profiles: &str, name: &str) -> bool {
    profiles
        .lines()
        .any(|l| l.rsplit_once(" (").map_or(l, |(n, _)| n) == name)
}

/// The profile a container's process runs under, if any (none where AppArmor is off).
pub fn process_profile(name: Option<&str>) -> Option<&str> {
    name.filter(|n| *n != UNCONFINED && enabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_found_among_the_loaded_ones() {
        let loaded = "docker-default (enforce)\ncri-test deny-write (complain)\n";
        assert!(is_loaded(loaded, "docker-default"));
        assert!(is_loaded(loaded, "cri-test deny-write"));
        assert!(!is_loaded(loaded, "docker"));
        assert!(!is_loaded("", "docker-default"));
        assert!(check("").is_err());
        assert!(check(UNCONFINED).is_ok());
        assert_eq!(process_profile(Some(UNCONFINED)), None);
    }
}
