//! A layer as a read-only disk: an erofs image of its directory (mkfs.erofs from Debian's
//! erofs-utils), which keeps owners, modes, device nodes and the overlay whiteouts and
//! opaque markers an unpacked layer holds. Written beside its target and renamed in, so a
//! cached image is whole or absent.

use crate::{io_err, Error, Result};
use std::path::Path;
use std::process::Command;

/// Makes `out`, an erofs image of the tree at `src`.
pub fn build(src: &Path, out: &Path) -> Result<()> {
    let tmp = out.with_extension("erofs.tmp");
    let _ = std::fs::remove_file(&tmp);
    let o = Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&tmp)
        .arg(src)
        .output()
        .map_err(io_err("mkfs.erofs (install erofs-utils)"))?;
    if !o.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error(format!(
            "layer image {} of {}: mkfs.erofs: {}",
            out.display(),
            src.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    std::fs::rename(&tmp, out).map_err(io_err(format!("layer image {}", out.display())))
}
