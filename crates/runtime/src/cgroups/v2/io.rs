//! v2 io: io.weight (from the spec's blkio weight) and the io.max throttles.

use crate::cgroups::fs::write;
use crate::error::Result;
use oci_spec::runtime::LinuxBlockIo;
use std::path::Path;

/// v1 blkio.weight (10..1000) to v2 io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + ((w as u64).saturating_sub(10) * 9999) / 990
}

/// Applies the weight and the per-device throttles.
pub fn apply(p: &Path, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight() {
        write(p, "io.weight", &blkio_to_io_weight(w).to_string())?;
    }
    let lim = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in lim {
        for d in list.iter().flatten() {
            write(
                p,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_converts_as_runc() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }
}
