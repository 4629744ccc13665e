//! VM configuration: the JSON file format (Firecracker-style field names) and its validation.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Default kernel command line.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off";
/// Maximum vCPUs.
pub const MAX_VCPUS: u8 = 32;

/// `boot-source` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootSource {
    /// Kernel: ELF vmlinux (PVH note honoured) or bzImage.
    pub kernel_image_path: PathBuf,
    /// Optional initramfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd_path: Option<PathBuf>,
    /// Kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_args: Option<String>,
}

/// `machine-config` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// Number of vCPUs.
    #[serde(default = "one")]
    pub vcpu_count: u8,
    /// Guest memory in MiB.
    #[serde(default = "default_mem")]
    pub mem_size_mib: u64,
    /// Accepted for Firecracker compatibility; must be false.
    #[serde(default)]
    pub smt: bool,
    /// Create KVM's in-kernel i8254 PIT. Off by default: the FADT is hardware-reduced, so Linux
    /// uses no PIT, and on PVM hosts tearing the PIT down costs ~17 ms at VM exit.
    #[serde(default)]
    pub legacy_pit: bool,
}

fn one() -> u8 {
    1
}
fn default_mem() -> u64 {
    128
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            vcpu_count: 1,
            mem_size_mib: default_mem(),
            smt: false,
            legacy_pit: false,
        }
    }
}

/// One `drives` entry: a raw image behind virtio-blk.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    /// Name of the drive (its virtio-blk id).
    pub drive_id: String,
    /// Raw image file.
    pub path_on_host: PathBuf,
    /// Open read-only and refuse guest writes.
    #[serde(default)]
    pub is_read_only: bool,
    /// Accepted for Firecracker compatibility (the root= argument is left to the user).
    #[serde(default)]
    pub is_root_device: bool,
}

/// One `network-interfaces` entry: a TAP device behind virtio-net.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetIface {
    /// Name of the interface.
    pub iface_id: String,
    /// Existing TAP device on the host.
    pub host_dev_name: String,
    /// Guest MAC address (default 52:54:00:12:34:56 + index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_mac: Option<String>,
}

/// `vsock` section: virtio-vsock with its host side on unix sockets (Firecracker's hybrid
/// vsock).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VsockConfig {
    /// Accepted for Firecracker compatibility.
    #[serde(default)]
    pub vsock_id: Option<String>,
    /// The guest's CID (3 or more).
    pub guest_cid: u64,
    /// Host-initiated connections arrive here; guest connections to port P go to
    /// `<uds_path>_P`.
    pub uds_path: PathBuf,
}

/// `entropy` section: a virtio-rng device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entropy {}

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    /// Kernel, initrd and command line.
    #[serde(rename = "boot-source", default)]
    pub boot_source: Option<BootSource>,
    /// vCPUs and memory.
    #[serde(rename = "machine-config", default)]
    pub machine_config: MachineConfig,
    /// Serial console output: absent or "stdout" for standard output, "unix:PATH" for a
    /// listening unix socket, else a file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_output: Option<String>,
    /// KVM device node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm_path: Option<PathBuf>,
    /// virtio-blk drives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drives: Vec<Drive>,
    /// virtio-net devices.
    #[serde(
        rename = "network-interfaces",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub network_interfaces: Vec<NetIface>,
    /// virtio-vsock device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vsock: Option<VsockConfig>,
    /// virtio-rng device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy: Option<Entropy>,
    /// Install per-thread seccomp filters (default true).
    #[serde(default = "yes")]
    pub seccomp: bool,
}

fn yes() -> bool {
    true
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            boot_source: None,
            machine_config: MachineConfig::default(),
            serial_output: None,
            kvm_path: None,
            drives: Vec::new(),
            network_interfaces: Vec::new(),
            vsock: None,
            entropy: None,
            seccomp: true,
        }
    }
}

impl VmConfig {
    /// Parses a configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let s = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            msg: format!("read: {e}"),
        })?;
        Self::from_json(&s).map_err(|e| match e {
            Error::Config(msg) => Error::ConfigFile {
                path: path.to_path_buf(),
                msg,
            },
            other => other,
        })
    }

    /// Parses configuration JSON.
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Config(format!("malformed json: {e}")))
    }

    /// Checks everything that can be checked without touching KVM or guest memory.
    pub fn validate(&self) -> Result<()> {
        let b = self.boot_source.as_ref().ok_or_else(|| {
            Error::Config("no kernel: boot-source.kernel_image_path is not set".into())
        })?;
        if b.kernel_image_path.as_os_str().is_empty() {
            return Err(Error::Config(
                "no kernel: boot-source.kernel_image_path is empty".into(),
            ));
        }
        let m = &self.machine_config;
        if m.vcpu_count == 0 || m.vcpu_count > MAX_VCPUS {
            return Err(Error::Config(format!(
                "vcpu_count {}: must be 1..={MAX_VCPUS}",
                m.vcpu_count
            )));
        }
        if m.smt {
            return Err(Error::Config("smt: not supported".into()));
        }
        crate::allocator::memory::check_size(m.mem_size_mib)?;
        crate::boot::loader::probe_kernel(&b.kernel_image_path)?;
        let mut ids = std::collections::HashSet::new();
        for d in &self.drives {
            if !ids.insert(&d.drive_id) {
                return Err(Error::Config(format!(
                    "drive {}: duplicate drive_id",
                    d.drive_id
                )));
            }
            std::fs::metadata(&d.path_on_host).map_err(|e| {
                Error::Config(format!(
                    "drive {}: {}: {e}",
                    d.drive_id,
                    d.path_on_host.display()
                ))
            })?;
        }
        for n in &self.network_interfaces {
            if let Some(m) = &n.guest_mac {
                if crate::interpreter::virtio::net::parse_mac(m).is_none() {
                    return Err(Error::Config(format!(
                        "network interface {}: bad mac {m}",
                        n.iface_id
                    )));
                }
            }
        }
        if let Some(v) = &self.vsock {
            if v.guest_cid < 3 || v.guest_cid > u32::MAX as u64 {
                return Err(Error::Config(format!(
                    "vsock: guest_cid {} must be 3..2^32",
                    v.guest_cid
                )));
            }
        }
        let ndev = self.drives.len()
            + self.network_interfaces.len()
            + self.vsock.is_some() as usize
            + self.entropy.is_some() as usize;
        let max = (crate::allocator::layout::LAST_IRQ - crate::allocator::layout::VIRTIO_FIRST_IRQ
            + 1) as usize;
        if ndev > max {
            return Err(Error::Config(format!(
                "{ndev} virtio devices: at most {max}"
            )));
        }
        if let Some(i) = &b.initrd_path {
            std::fs::metadata(i).map_err(|e| Error::Boot {
                path: i.clone(),
                msg: format!("initrd: {e}"),
            })?;
        }
        Ok(())
    }

    /// The command line to use.
    pub fn cmdline(&self) -> String {
        self.boot_source
            .as_ref()
            .and_then(|b| b.boot_args.clone())
            .unwrap_or_else(|| DEFAULT_CMDLINE.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_firecracker_style_config() {
        let c = VmConfig::from_json(
            r#"{"boot-source":{"kernel_image_path":"/k","boot_args":"x"},
                "machine-config":{"vcpu_count":2,"mem_size_mib":64}}"#,
        )
        .unwrap();
        assert_eq!(c.machine_config.vcpu_count, 2);
        assert_eq!(c.cmdline(), "x");
    }

    #[test]
    fn malformed_and_unknown_fields_are_errors() {
        let e = VmConfig::from_json("{").unwrap_err().to_string();
        assert!(e.starts_with("config: malformed json"), "{e}");
        assert!(VmConfig::from_json(r#"{"machine-config":{"vcpus":2}}"#).is_err());
    }

    #[test]
    fn validation_names_the_problem() {
        let c = VmConfig::default();
        assert!(c.validate().unwrap_err().to_string().contains("no kernel"));
        let mut c = VmConfig {
            boot_source: Some(BootSource {
                kernel_image_path: "/nonexistent".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        c.machine_config.vcpu_count = 0;
        assert!(c.validate().unwrap_err().to_string().contains("vcpu_count"));
        c.machine_config.vcpu_count = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("open kernel"));
    }
}
