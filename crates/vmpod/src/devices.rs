//! A VM container's devices (`--device`; `vm.json`'s `devices`, from the engine): a block
//! device becomes a virtio-blk disk of its VM (a pod's container's: a SCSI disk its pod VM's
//! shim attaches, [`crate::scsi`]), which the guest finds by its serial; a character device
//! is the guest kernel's own node of the same path (/dev/fuse, /dev/net/tun). The spec sent to the guest says which is which
//! ([`strata_agent::DEVICES_ANNOTATION`], read and checked by the agent).

use crate::Error;
use std::path::PathBuf;

/// One device node given to a VM container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The node on the host.
    pub host: PathBuf,
    /// Its path in the container.
    pub container: String,
    /// A block device (else a character device).
    pub block: bool,
    /// Given without `w` (its disk is read-only).
    pub read_only: bool,
}

/// A block device as a disk of the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The serial the guest finds it by.
    pub serial: String,
    /// The device on the host.
    pub host: PathBuf,
    /// Attached read-only (the device was given without `w`).
    pub read_only: bool,
}

/// The devices `vm.json` lists.
pub fn from_vm_json(v: &serde_json::Value) -> Result<Vec<Device>, Error> {
    let mut out = Vec::new();
    for d in v["devices"].as_array().into_iter().flatten() {
        let (Some(host), Some(container), Some(kind)) = (
            d["hostPath"].as_str(),
            d["containerPath"].as_str(),
            d["type"].as_str(),
        ) else {
            return Err(Error(format!("vm.json: a device without its paths: {d}")));
        };
        out.push(Device {
            host: PathBuf::from(host),
            container: container.to_string(),
            block: match kind {
                "b" => true,
                "c" => false,
                other => return Err(Error(format!("vm.json: device type {other:?}"))),
            },
            read_only: !d["access"].as_str().unwrap_or("rwm").contains('w'),
        });
    }
    Ok(out)
}

/// The serial of the `i`-th block device's disk.
fn serial(i: usize) -> String {
    format!("dev{i}")
}

/// The VM's disks for the block devices.
pub fn disks(devices: &[Device]) -> Vec<Disk> {
    devices
        .iter()
        .filter(|d| d.block)
        .enumerate()
        .map(|(i, d)| Disk {
            serial: serial(i),
            host: d.host.clone(),
            read_only: d.read_only,
        })
        .collect()
}

/// Where the guest finds the disks of a VM container's block devices, in order: the
/// virtio disks of [`disks`].
pub fn virtio_sources(disks: &[Disk]) -> Vec<String> {
    disks
        .iter()
        .map(|d| format!("serial:{}", d.serial))
        .collect()
}

/// Where the guest finds the disks of a pod's container's block devices, in order: the
/// SCSI disks attached with these serials ([`crate::scsi`]).
pub fn scsi_sources(serials: &[String]) -> Vec<String> {
    serials.iter().map(|s| format!("scsi:{s}")).collect()
}

/// `spec` with the annotation that tells the guest where each device is: the `i`-th block
/// device at `disk_sources[i]`, a character device at its own path; an error when there are
/// not as many sources as block devices.
pub fn annotate(
    mut spec: serde_json::Value,
    devices: &[Device],
    disk_sources: &[String],
) -> Result<serde_json::Value, Error> {
    let blocks = devices.iter().filter(|d| d.block).count();
    if blocks != disk_sources.len() {
        return Err(Error(format!(
            "{blocks} block devices, {} disks for them",
            disk_sources.len()
        )));
    }
    if devices.is_empty() {
        return Ok(spec);
    }
    let mut map = serde_json::Map::new();
    let mut disks = disk_sources.iter();
    for d in devices {
        // As many sources as block devices (checked above).
        let source = match d.block {
            true => disks.next().cloned().unwrap_or_default(),
            false => d.host.display().to_string(),
        };
        map.insert(d.container.clone(), source.into());
    }
    if !spec["annotations"].is_object() {
        spec["annotations"] = serde_json::json!({});
    }
    spec["annotations"][strata_agent::DEVICES_ANNOTATION] =
        serde_json::Value::Object(map).to_string().into();
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_devices_become_disks_and_the_spec_says_where_each_is() {
        let v = serde_json::json!({"devices": [
            {"hostPath": "/dev/loop7", "containerPath": "/dev/xvdb", "type": "b"},
            {"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "type": "c"},
            {"hostPath": "/dev/loop8", "containerPath": "/dev/xvdc", "type": "b", "access": "rm"},
        ]});
        let devs = from_vm_json(&v).unwrap();
        let disk = |serial: &str, host: &str, read_only| Disk {
            serial: serial.into(),
            host: host.into(),
            read_only,
        };
        assert_eq!(
            disks(&devs),
            vec![
                disk("dev0", "/dev/loop7", false),
                disk("dev1", "/dev/loop8", true)
            ]
        );
        let spec = annotate(serde_json::json!({}), &devs, &virtio_sources(&disks(&devs))).unwrap();
        let map: serde_json::Value = serde_json::from_str(
            spec["annotations"][strata_agent::DEVICES_ANNOTATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            map,
            serde_json::json!({"/dev/xvdb": "serial:dev0", "/dev/fuse": "/dev/fuse", "/dev/xvdc": "serial:dev1"})
        );
        assert!(from_vm_json(&serde_json::json!({"devices": [{"type": "b"}]})).is_err());
        // A pod's container's block devices are the SCSI disks its pod VM's shim attached.
        let spec = annotate(
            serde_json::json!({}),
            &devs,
            &scsi_sources(&["pdev4".into(), "pdev5".into()]),
        )
        .unwrap();
        let ann = spec["annotations"][strata_agent::DEVICES_ANNOTATION]
            .as_str()
            .unwrap();
        let map: serde_json::Value = serde_json::from_str(ann).unwrap();
        assert_eq!(map["/dev/xvdb"], "scsi:pdev4");
        assert_eq!(map["/dev/xvdc"], "scsi:pdev5");
        let short = annotate(
            serde_json::json!({}),
            &devs,
            &scsi_sources(&["pdev4".into()]),
        );
        assert!(short.is_err(), "a block device without its disk");
    }
}
