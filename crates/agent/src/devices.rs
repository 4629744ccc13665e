//! A container's devices in the guest. The host's spec names each node with the host's
//! device numbers, which mean nothing here; its annotation
//! ([`strata_agent::DEVICES_ANNOTATION`]) says where each one is in the guest: a disk of the
//! VM by serial (a block device the host attached), or the guest kernel's node of a path
//! under /dev. The spec's nodes and device cgroup rules take the guest's numbers; a node
//! with no place in the guest is refused.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Where a device is in the guest.
fn resolve(source: &str) -> io::Result<PathBuf> {
    if let Some(serial) = source.strip_prefix("serial:") {
        return crate::container::disk_by_serial(serial, Duration::from_secs(10));
    }
    let p = Path::new(source);
    let plain = p
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !p.starts_with("/dev/") || !plain {
        return Err(invalid(format!(
            "device source {source:?}: not a path under /dev"
        )));
    }
    Ok(p.to_path_buf())
}

/// Gives the spec's device nodes (and their cgroup rules) the guest's device numbers.
pub fn place(spec: &mut serde_json::Value) -> io::Result<()> {
    let map: BTreeMap<String, String> =
        match spec["annotations"][strata_agent::DEVICES_ANNOTATION].as_str() {
            Some(s) => serde_json::from_str(s)
                .map_err(|e| invalid(format!("the devices annotation: {e}")))?,
            None => BTreeMap::new(),
        };
    let mut renumbered = Vec::new();
    for node in spec["linux"]["devices"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let path = node["path"].as_str().unwrap_or_default().to_string();
        let kind = node["type"].as_str().unwrap_or_default().to_string();
        let source = map
            .get(&path)
            .ok_or_else(|| invalid(format!("device {path}: the VM was given no such device")))?;
        let guest = resolve(source)?;
        let meta = std::fs::metadata(&guest)
            .map_err(|e| invalid(format!("device {path}: {}: {e}", guest.display())))?;
        let same_kind = match kind.as_str() {
            "b" => meta.file_type().is_block_device(),
            "c" | "u" => meta.file_type().is_char_device(),
            _ => false,
        };
        if !same_kind {
            return Err(invalid(format!(
                "device {path}: {} in the guest is not a {kind} device",
                guest.display()
            )));
        }
        let (major, minor) = (
            libc::major(meta.rdev()) as u64,
            libc::minor(meta.rdev()) as u64,
        );
        let old = (node["major"].as_u64(), node["minor"].as_u64());
        renumbered.push((kind, old, (major, minor)));
        node["major"] = major.into();
        node["minor"] = minor.into();
    }
    for rule in spec["linux"]["resources"]["devices"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let here = (rule["major"].as_u64(), rule["minor"].as_u64());
        if let Some((_, _, (major, minor))) = renumbered
            .iter()
            .find(|(kind, old, _)| rule["type"] == kind.as_str() && *old == here)
        {
            rule["major"] = (*major).into();
            rule["minor"] = (*minor).into();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_rules_take_the_guests_numbers() {
        // /dev/null is 1:3 here as in any guest; the host's spec said 9:9.
        let ann = serde_json::json!({"/dev/mine": "/dev/null"}).to_string();
        let mut spec = serde_json::json!({
            "annotations": {(strata_agent::DEVICES_ANNOTATION): ann},
            "linux": {
                "devices": [{"path": "/dev/mine", "type": "c", "major": 9, "minor": 9}],
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 9, "minor": 9, "access": "rwm"},
                ]},
            },
        });
        place(&mut spec).unwrap();
        assert_eq!(spec["linux"]["devices"][0]["major"], 1);
        assert_eq!(spec["linux"]["devices"][0]["minor"], 3);
        assert_eq!(spec["linux"]["resources"]["devices"][1]["major"], 1);
        assert_eq!(spec["linux"]["resources"]["devices"][1]["minor"], 3);
        assert!(spec["linux"]["resources"]["devices"][0]["major"].is_null());
    }

    #[test]
    fn devices_without_a_place_or_outside_dev_are_refused() {
        let mut spec = serde_json::json!({"linux": {"devices": [{"path": "/dev/x", "type": "c"}]}});
        assert!(place(&mut spec).is_err(), "not in the annotation");
        for bad in ["/etc/passwd", "/dev/../etc/passwd", "dev/null"] {
            let ann = serde_json::json!({"/dev/x": bad}).to_string();
            let mut spec = serde_json::json!({
                "annotations": {(strata_agent::DEVICES_ANNOTATION): ann},
                "linux": {"devices": [{"path": "/dev/x", "type": "c"}]},
            });
            assert!(place(&mut spec).is_err(), "{bad}");
        }
        // A block node the guest has as a character device.
        let ann = serde_json::json!({"/dev/x": "/dev/null"}).to_string();
        let mut spec = serde_json::json!({
            "annotations": {(strata_agent::DEVICES_ANNOTATION): ann},
            "linux": {"devices": [{"path": "/dev/x", "type": "b"}]},
        });
        assert!(place(&mut spec).is_err());
    }
}
