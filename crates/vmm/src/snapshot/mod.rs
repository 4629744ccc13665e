//! Snapshot and restore of a paused VM: the guest memory file plus a JSON description with
//! the configuration, every vCPU's state, the in-kernel irqchip and clock, and the virtio
//! transports' state.

pub mod memfile;
pub mod state;

use crate::config::VmConfig;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Snapshot format version.
pub const VERSION: u32 = 1;

/// Everything but the memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version.
    pub version: u32,
    /// The VM's configuration (devices are re-created from it).
    pub config: VmConfig,
    /// Guest memory file.
    pub mem_file: PathBuf,
    /// Per-vCPU state.
    pub vcpus: Vec<state::VcpuState>,
    /// VM-wide KVM state.
    pub vm: state::VmState,
    /// virtio-mmio transports, in bus order.
    pub devices: Vec<crate::interpreter::virtio::mmio::TransportState>,
}

impl Snapshot {
    /// Writes the description.
    pub fn save(&self, path: &Path) -> Result<()> {
        let s = serde_json::to_vec(self)
            .map_err(|e| Error::Device(format!("snapshot: encode: {e}")))?;
        std::fs::write(path, s)
            .map_err(|e| Error::io(format!("snapshot {}: write", path.display()), e))
    }

    /// Reads and checks a description.
    pub fn load(path: &Path) -> Result<Snapshot> {
        let b = std::fs::read(path).map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            msg: format!("snapshot: read: {e}"),
        })?;
        let s: Snapshot = serde_json::from_slice(&b).map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            msg: format!("snapshot: malformed: {e}"),
        })?;
        if s.version != VERSION {
            return Err(Error::ConfigFile {
                path: path.to_path_buf(),
                msg: format!("snapshot: unsupported version {}", s.version),
            });
        }
        if s.vcpus.len() != s.config.machine_config.vcpu_count as usize {
            return Err(Error::ConfigFile {
                path: path.to_path_buf(),
                msg: "snapshot: vcpu count does not match its config".into(),
            });
        }
        Ok(s)
    }
}
