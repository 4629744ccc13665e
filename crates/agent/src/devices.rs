//! A container's devices in the guest. The host's spec names each node with the host's
//! device numbers, which mean nothing here; its annotation
//! ([`strata_agent::DEVICES_ANNOTATION`]) says where each one is in the guest: a disk of the
//! VM by serial (a block device the host attached: virtio, or SCSI in a pod's VM), or the
//! guest kernel's node of a path under /dev. The spec's nodes and device cgroup rules take
//! the guest's numbers; a node with no place in the guest is refused. A node its rules do
//! not let the container make (given with fewer permissions than `rwm`) becomes a bind mount
//! of the guest's node, as the engine binds the host's node for a plain container: the
//! runtime could not mknod it.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use strata_runtime::cgroups::v2::devices::{allows, rule, Rule};

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Where a device is in the guest.
fn resolve(source: &str) -> io::Result<PathBuf> {
    if let Some(serial) = source.strip_prefix("serial:") {
        return crate::container::disk_by_serial(serial, Duration::from_secs(10));
    }
    if let Some(serial) = source.strip_prefix("scsi:") {
        return crate::container::scsi_disk_by_serial(serial, Duration::from_secs(30));
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
    let mut guest_nodes = Vec::new();
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
        guest_nodes.push(guest);
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
    bind_unmakeable(spec, &guest_nodes);
    Ok(())
}

/// Turns the nodes (placed: guest numbers; `guest` their nodes in the guest, in order) that
/// the spec's device rules give no mknod (`m`) into read-write bind mounts of the guest's
/// nodes; the rules still say what the container may do with them.
fn bind_unmakeable(spec: &mut serde_json::Value, guest: &[PathBuf]) {
    let rules = cgroup_rules(&spec["linux"]["resources"]["devices"]);
    let Some(nodes) = spec["linux"]["devices"].as_array_mut() else {
        return;
    };
    let mut binds = Vec::new();
    let mut kept = Vec::new();
    for (node, guest) in nodes.drain(..).zip(guest) {
        if may_mknod(&rules, &node) {
            kept.push(node);
        } else {
            binds.push(serde_json::json!({
                "destination": node["path"],
                "type": "bind",
                "source": guest,
                "options": ["bind", "nosuid", "noexec"],
            }));
        }
    }
    *nodes = kept;
    if binds.is_empty() {
        return;
    }
    if !spec["mounts"].is_array() {
        spec["mounts"] = serde_json::json!([]);
    }
    if let Some(ms) = spec["mounts"].as_array_mut() {
        ms.extend(binds);
    }
}

/// The spec's device cgroup rules as the runtime's filter compares them (none if they do not
/// parse: then the runtime refuses the spec anyway).
fn cgroup_rules(rules: &serde_json::Value) -> Vec<Rule> {
    serde_json::from_value::<Vec<oci_spec::runtime::LinuxDeviceCgroup>>(rules.clone())
        .map(|rs| rs.iter().map(rule).collect())
        .unwrap_or_default()
}

/// Whether `rules` let the container mknod `node`, as the runtime's filter decides it.
fn may_mknod(rules: &[Rule], node: &serde_json::Value) -> bool {
    let typ = match node["type"].as_str() {
        Some("b") => 1,
        _ => 2,
    };
    let n = |k: &str| node[k].as_u64().unwrap_or(u64::MAX) as u32;
    allows(rules, typ, n("major"), n("minor"), 1)
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

    #[test]
    fn a_node_given_without_mknod_is_the_guests_node_bound() {
        let ann = serde_json::json!({"/dev/ro": "/dev/null", "/dev/all": "/dev/zero"}).to_string();
        let mut spec = serde_json::json!({
            "annotations": {(strata_agent::DEVICES_ANNOTATION): ann},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {
                "devices": [
                    {"path": "/dev/ro", "type": "c", "major": 9, "minor": 9},
                    {"path": "/dev/all", "type": "c", "major": 9, "minor": 8},
                ],
                "resources": {"devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 9, "minor": 9, "access": "r"},
                    {"allow": true, "type": "c", "major": 9, "minor": 8, "access": "rwm"},
                ]},
            },
        });
        place(&mut spec).unwrap();
        let nodes = spec["linux"]["devices"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "{spec}");
        assert_eq!(nodes[0]["path"], "/dev/all");
        let bind = &spec["mounts"][1];
        assert_eq!(bind["destination"], "/dev/ro", "{spec}");
        assert_eq!(bind["source"], "/dev/null");
        assert_eq!(bind["type"], "bind");
        // Its rule, renumbered, still says read only.
        assert_eq!(spec["linux"]["resources"]["devices"][1]["major"], 1);
        assert_eq!(spec["linux"]["resources"]["devices"][1]["access"], "r");
    }

    #[test]
    fn later_rules_decide_mknod() {
        let node = serde_json::json!({"type": "b", "major": 7, "minor": 0});
        let r = |v: serde_json::Value| may_mknod(&cgroup_rules(&v), &node);
        assert!(!r(serde_json::json!([])));
        assert!(r(serde_json::json!([{"allow": true, "access": "rwm"}])));
        assert!(!r(serde_json::json!([
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "b", "major": 7, "minor": -1, "access": "m"},
        ])));
        assert!(!r(
            serde_json::json!([{"allow": true, "type": "c", "access": "m"}])
        ));
        assert!(r(
            serde_json::json!([{"allow": true, "type": "b", "major": 7, "access": "rm"}])
        ));
    }
}
