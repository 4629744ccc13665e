//! `linux.sysctl`: only keys that belong to a namespace the container has may be set.

use oci_spec::runtime::LinuxNamespaceType as T;

/// Fails unless `key` is namespaced by one of `ns` (the container's namespaces).
pub fn check_namespaced(key: &str, ns: &[T]) -> Result<(), String> {
    let k = key.replace('/', ".");
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let need = if ipc.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        T::Ipc
    } else if k.starts_with("net.") {
        T::Network
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        T::Uts
    } else {
        return Err(format!(
            "sysctl {key:?} is not namespaced: it would change the host, refusing"
        ));
    };
    if ns.contains(&need) {
        Ok(())
    } else {
        Err(format!(
            "sysctl {key:?} needs the container to have its own {need} namespace"
        ))
    }
}

/// Writes the sysctls through the container's /proc/sys (checked to be procfs).
pub fn apply(map: &std::collections::HashMap<String, String>) -> crate::Result<()> {
    for (k, v) in map {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        crate::rootfs::paths::write_proc(&path, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_keys() {
        assert!(check_namespaced("net.ipv4.ip_forward", &[T::Network]).is_ok());
        assert!(check_namespaced("net.ipv4.ip_forward", &[T::Ipc]).is_err());
        assert!(check_namespaced("fs.mqueue.msg_max", &[T::Ipc]).is_ok());
        assert!(check_namespaced("vm.swappiness", &[T::Ipc, T::Network]).is_err());
    }
}
