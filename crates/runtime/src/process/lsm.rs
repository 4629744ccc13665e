//! AppArmor and SELinux labels: applied where the host has the LSM, accepted (and logged)
//! where it has not, as the issue asks.

use crate::error::Result;

fn lsm_enabled(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .map(|s| s.split(',').any(|x| x.trim() == name))
        .unwrap_or(false)
}

/// Sets the AppArmor profile for the next exec.
pub fn apparmor(profile: &str) -> Result<()> {
    if profile.is_empty() {
        return Ok(());
    }
    if !lsm_enabled("apparmor") {
        crate::logging::debug(&format!(
            "apparmor profile {profile:?} ignored: AppArmor is not enabled on this host"
        ));
        return Ok(());
    }
    let path = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    crate::rootfs::paths::write_proc(path, &format!("exec {profile}"))
}

/// Sets the SELinux label for the next exec.
pub fn selinux(label: &str) -> Result<()> {
    if label.is_empty() {
        return Ok(());
    }
    if !lsm_enabled("selinux") {
        crate::logging::debug(&format!(
            "selinux label {label:?} ignored: SELinux is not enabled on this host"
        ));
        return Ok(());
    }
    crate::rootfs::paths::write_proc("/proc/self/attr/exec", label)
}
