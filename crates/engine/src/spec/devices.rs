//! `--device`: host devices in the container, allowed by its device cgroup
//! (`linux.resources.devices`) with the permissions asked for. A directory stands for every
//! device under it (podman's `--device /dev/snd`). With all permissions (`rwm`, the default)
//! the runtime makes the node (`linux.devices`); with fewer, the host's node is bind-mounted
//! instead, because an OCI runtime allows `rwm` on every node it makes (runc does, and so
//! does strata-runc), which would undo a read-only rule.

use crate::container::config::DeviceMapping;
use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The most devices one directory expands to (a guard against `--device /`).
const MAX_DEVICES: usize = 1024;

/// What `--device` adds to a container's spec.
#[derive(Default)]
pub struct Devices {
    /// `linux.devices` entries.
    pub nodes: Vec<Value>,
    /// Device cgroup allow rules.
    pub rules: Vec<Value>,
    /// Bind mounts of host nodes (`mounts` entries).
    pub binds: Vec<Value>,
}

/// The device nodes, bind mounts and cgroup allow rules for `maps`. A device given with
/// fewer permissions than `rwm` is the host's node bind-mounted (the runtime could not mknod
/// it), except `in_vm`: the guest has no host node, so every device is a node, and the
/// guest's agent binds its own node for those.
pub fn linux_devices(maps: &[DeviceMapping], in_vm: bool) -> Result<Devices> {
    let mut out = Devices::default();
    for m in maps {
        let (access, found) = nodes_of(m)?;
        for (host, target, kind, major, minor, meta) in found {
            if whole(access) || in_vm {
                out.nodes.push(json!({
                    "path": target,
                    "type": kind,
                    "major": major,
                    "minor": minor,
                    "fileMode": meta.mode() & 0o777,
                    "uid": meta.uid(),
                    "gid": meta.gid(),
                }));
            } else {
                out.binds.push(json!({
                    "destination": target, "type": "bind", "source": host,
                    "options": ["bind", "nosuid", "noexec"],
                }));
            }
            out.rules.push(json!({
                "allow": true, "type": kind, "major": major, "minor": minor, "access": access,
            }));
        }
    }
    Ok(out)
}

/// A VM container's devices as its VM shim takes them (`vm.json`'s `devices`): each node's
/// host path, its path in the container, its type (`b` becomes a disk of the VM, read-only
/// without `w`; `c` is the guest kernel's own node of that path) and its access.
pub fn vm_devices(maps: &[DeviceMapping]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for m in maps {
        let (access, found) = nodes_of(m)?;
        for (host, target, kind, ..) in found {
            out.push(
                json!({"hostPath": host, "containerPath": target, "type": kind, "access": access}),
            );
        }
    }
    Ok(out)
}

/// Whether `access` is all of `rwm`.
fn whole(access: &str) -> bool {
    ['r', 'w', 'm'].iter().all(|c| access.contains(*c))
}

/// One `--device`'s access (`rwm` by default) and the device nodes it names, checked: the
/// permissions, an absolute container path, at least one node.
fn nodes_of(m: &DeviceMapping) -> Result<(&str, Vec<Found>)> {
    let access = if m.permissions.is_empty() {
        "rwm"
    } else {
        m.permissions.as_str()
    };
    if !access.chars().all(|c| "rwm".contains(c)) {
        return Err(Error::Invalid(format!(
            "device {}: permissions {access:?} are not a combination of r, w and m",
            m.host_path
        )));
    }
    let target = if m.container_path.is_empty() {
        m.host_path.as_str()
    } else {
        m.container_path.as_str()
    };
    if !target.starts_with('/') {
        return Err(Error::Invalid(format!(
            "device {}: the container path {target:?} is not absolute",
            m.host_path
        )));
    }
    let mut found = Vec::new();
    collect(Path::new(&m.host_path), Path::new(target), &mut found)?;
    if found.is_empty() {
        return Err(Error::Invalid(format!(
            "device {}: no device node there",
            m.host_path
        )));
    }
    Ok((access, found))
}

type Found = (String, String, &'static str, u64, u64, std::fs::Metadata);

/// The device nodes at `host` (followed if a link; walked if a directory), each with the
/// path it takes under `target`.
fn collect(host: &Path, target: &Path, out: &mut Vec<Found>) -> Result<()> {
    let meta = std::fs::metadata(host)
        .map_err(|e| Error::Invalid(format!("device {}: {e}", host.display())))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        let entries = std::fs::read_dir(host)
            .map_err(|e| Error::Invalid(format!("device {}: {e}", host.display())))?;
        for entry in entries.flatten() {
            if out.len() >= MAX_DEVICES {
                return Err(Error::Invalid(format!(
                    "device {}: more than {MAX_DEVICES} device nodes",
                    host.display()
                )));
            }
            collect(&entry.path(), &target.join(entry.file_name()), out)?;
        }
        return Ok(());
    }
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(Error::Invalid(format!(
            "device {}: not a device node",
            host.display()
        )));
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    out.push((
        host.display().to_string(),
        target.display().to_string(),
        kind,
        major,
        minor,
        meta,
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host: &str, target: &str, perms: &str) -> DeviceMapping {
        DeviceMapping {
            host_path: host.into(),
            container_path: target.into(),
            permissions: perms.into(),
        }
    }

    #[test]
    fn a_device_becomes_a_node_and_an_allow_rule() {
        let d = linux_devices(&[map("/dev/null", "/dev/mynull", "rwm")], false).unwrap();
        assert_eq!(d.nodes[0]["path"], "/dev/mynull");
        let ids = (d.nodes[0]["major"].as_u64(), d.nodes[0]["minor"].as_u64());
        assert_eq!(ids, (Some(1), Some(3)));
        assert_eq!(
            (&d.rules[0]["access"], &d.rules[0]["type"]),
            (&json!("rwm"), &json!("c"))
        );
        let d = linux_devices(&[map("/dev/null", "", "")], false).unwrap();
        assert_eq!(d.nodes[0]["path"], "/dev/null");
        // Fewer permissions: the host's node, bind-mounted, and a rule with just those.
        let d = linux_devices(&[map("/dev/null", "/dev/ro", "r")], false).unwrap();
        assert!(d.nodes.is_empty());
        assert_eq!(d.binds[0]["source"], "/dev/null");
        assert_eq!(d.binds[0]["destination"], "/dev/ro");
        assert_eq!(d.rules[0]["access"], "r");
        // In a VM: a node (the guest's agent binds the guest's own), the same rule.
        let d = linux_devices(&[map("/dev/null", "/dev/ro", "r")], true).unwrap();
        assert!(d.binds.is_empty());
        assert_eq!(d.nodes[0]["path"], "/dev/ro");
        assert_eq!(d.rules[0]["access"], "r");
        let v = vm_devices(&[map("/dev/null", "/dev/ro", "rw")]).unwrap();
        assert_eq!(v[0]["access"], "rw");
    }

    #[test]
    fn bad_devices_are_refused_by_name() {
        for (m, what) in [
            (map("/etc/hostname", "", ""), "not a device node"),
            (map("/dev/nonexistent", "", ""), "No such file"),
            (map("/dev/null", "dev/x", ""), "not absolute"),
            (map("/dev/null", "", "rx"), "permissions"),
        ] {
            let err = linux_devices(&[m], false).err().unwrap().to_string();
            assert!(err.contains(what), "{err}");
        }
    }
}
