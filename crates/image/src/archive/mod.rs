//! Import and export: OCI image layout (directory or tar) and docker-archive tars.

mod load;
mod save;

pub use load::{load, unpack_layers};
pub use save::save;

use crate::error::{Error, Result};

/// Archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout directory.
    OciDir,
    /// An OCI image layout in a tar file.
    OciArchive,
    /// A docker-archive (`docker save`) tar.
    DockerArchive,
}

impl Format {
    /// Parses podman's names (`oci-dir`, `oci-archive`, `docker-archive`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "oci-dir" => Format::OciDir,
            "oci-archive" => Format::OciArchive,
            "docker-archive" => Format::DockerArchive,
            f => {
                return Err(Error::invalid(
                    "format",
                    format!("{f:?} (oci-dir, oci-archive or docker-archive)"),
                ))
            }
        })
    }
}

/// OCI annotation holding the tag in an index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation holding the full image name.
pub const IMAGE_NAME: &str = "io.containerd.image.name";
