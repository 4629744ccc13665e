//! Block devices of a pod's containers (`--device`): a pod VM boots with a virtio-scsi
//! controller, and each block device a container of the pod is given becomes a SCSI disk on
//! it while that container's shim runs (QMP `blockdev-add` and `device_add scsi-hd`: SCSI
//! hot-plug needs no PCI, which QEMU's microvm lacks), as Kata attaches block volumes. The
//! guest finds the disk by its SCSI serial (VPD page 0x80). A pod's layers are SCSI disks on
//! the same controller ([`crate::slots`]).

use crate::qmp::Shared;
use crate::{io_err, Error, Result};
use serde_json::json;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The controller's QEMU id.
const CONTROLLER: &str = "scsi0";
/// The controller's bus, which disks are plugged into.
const BUS: &str = "scsi0.0";
/// The virtio transports the controller takes (of microvm's [`crate::assets::TRANSPORTS`]).
pub const TRANSPORTS: usize = 1;
/// How long a detached disk's image may stay in use by its departing device, and how long an
/// attach waits for a device a container that just ended may still hold (QEMU's lock).
const DETACH_WAIT: Duration = Duration::from_secs(5);

/// Plugs a SCSI disk onto the controller's bus over block node `id`, with `id` its device id
/// and serial (the guest finds it by that); the node goes if the disk cannot.
pub(crate) fn plug(q: &Shared, id: &str) -> Result<()> {
    let added = q.execute(
        "device_add",
        json!({"driver": "scsi-hd", "id": id, "drive": id, "bus": BUS, "serial": id}),
    );
    if let Err(e) = added {
        let _ = q.execute("blockdev-del", json!({ "node-name": id }));
        return Err(e);
    }
    Ok(())
}

/// The QEMU arguments of a pod VM's SCSI controller.
pub fn qemu_args() -> [String; 2] {
    [
        "-device".into(),
        format!("virtio-scsi-device,id={CONTROLLER}"),
    ]
}

/// The SCSI disks attached to one pod VM.
pub struct ScsiDisks {
    qmp: Arc<Shared>,
    next: AtomicU64,
}

impl ScsiDisks {
    /// The SCSI disks of the VM behind `qmp`.
    pub fn new(qmp: Arc<Shared>) -> ScsiDisks {
        ScsiDisks {
            qmp,
            next: AtomicU64::new(0),
        }
    }

    /// Attaches host block device `d` as a SCSI disk; its serial (also its QEMU device id and
    /// block node name).
    pub fn attach(&self, d: &strata_agent::HostDisk) -> Result<String> {
        let what = || format!("device {}", d.path);
        if !Path::new(&d.path).is_absolute() {
            return Err(Error(format!("{}: not an absolute path", what())));
        }
        // QEMU opens it from the VM's directory: the path it is given is the resolved one.
        let path = std::fs::canonicalize(&d.path).map_err(io_err(what()))?;
        let md = std::fs::metadata(&path).map_err(io_err(what()))?;
        if !md.file_type().is_block_device() {
            return Err(Error(format!("{}: not a block device", what())));
        }
        let id = format!("pdev{}", self.next.fetch_add(1, Ordering::Relaxed));
        let q = &self.qmp;
        let node = json!({"driver": "host_device", "node-name": id, "filename": path,
            "read-only": d.read_only, "cache": {"direct": true}});
        // A container of the pod that had the device and just ended may hold it still (its
        // shim's disk goes once the pod VM's proxy sees it gone): QEMU's lock says so.
        let t0 = Instant::now();
        loop {
            match q.execute("blockdev-add", node.clone()) {
                Ok(_) => break,
                Err(e) if e.0.contains("lock") && t0.elapsed() < DETACH_WAIT => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return Err(Error(format!("{}: {e}", what()))),
            }
        }
        plug(q, &id).map_err(|e| Error(format!("{}: {e}", what())))?;
        Ok(id)
    }

    /// Detaches the disk `serial` attached earlier (its container has ended): the device
    /// goes, then its image once the device has let go of it.
    pub fn detach(&self, serial: &str) {
        let q = &self.qmp;
        if let Err(e) = q.execute("device_del", json!({ "id": serial })) {
            eprintln!("strata-vm-shim: detach {serial}: {e}");
        }
        let t0 = Instant::now();
        loop {
            match q.execute("blockdev-del", json!({ "node-name": serial })) {
                Ok(_) => return,
                Err(_) if t0.elapsed() < DETACH_WAIT => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => {
                    eprintln!("strata-vm-shim: detach {serial}: {e}");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_block_devices_are_attached() {
        let dir = tempfile::tempdir().unwrap();
        // No QEMU behind it: what is refused is refused before QMP.
        let disks = ScsiDisks::new(Arc::new(Shared::new(dir.path())));
        for path in ["/dev/null", "/etc/hostname", "/nonexistent", "dev/loop0"] {
            let d = strata_agent::HostDisk {
                path: path.into(),
                read_only: false,
            };
            let err = disks.attach(&d).unwrap_err().to_string();
            assert!(err.starts_with(&format!("device {path}: ")), "{err}");
        }
        assert_eq!(qemu_args()[1], "virtio-scsi-device,id=scsi0");
    }
}
