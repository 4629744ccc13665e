//! v1 memory: limit, reservation, swap, kernel TCP, swappiness, OOM killer.

use crate::cgroups::fs::{read, write};
use crate::error::Result;
use oci_spec::runtime::LinuxMemory;
use std::path::Path;

fn val(v: i64) -> String {
    if v < 0 {
        "-1".into()
    } else {
        v.to_string()
    }
}

/// Applies memory settings. The order follows the kernel's rule that memsw must stay >= the
/// limit: when raising, swap first; when lowering, the limit first.
pub fn apply(p: &Path, m: &LinuxMemory) -> Result<()> {
    let swap_file = p.join("memory.memsw.limit_in_bytes").exists();
    match (m.limit(), m.swap()) {
        (Some(limit), Some(swap)) if swap_file => {
            let cur: i64 = read(p, "memory.limit_in_bytes")
                .and_then(|s| s.parse().ok())
                .unwrap_or(i64::MAX);
            if limit < 0 || limit > cur {
                write(p, "memory.memsw.limit_in_bytes", &val(swap))?;
                write(p, "memory.limit_in_bytes", &val(limit))?;
            } else {
                write(p, "memory.limit_in_bytes", &val(limit))?;
                write(p, "memory.memsw.limit_in_bytes", &val(swap))?;
            }
        }
        (Some(limit), _) => {
            write(p, "memory.limit_in_bytes", &val(limit))?;
            if swap_file && m.swap().is_none() && limit > 0 {
                // runc's default: swap equal to the limit (no extra swap) unless asked.
                let _ = write(p, "memory.memsw.limit_in_bytes", &val(limit));
            }
        }
        (None, Some(swap)) if swap_file => write(p, "memory.memsw.limit_in_bytes", &val(swap))?,
        (None, Some(_)) => crate::logging::warn(
            "memory.swap ignored: this host has no swap accounting (memory.memsw)",
        ),
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        write(p, "memory.soft_limit_in_bytes", &val(r))?;
    }
    if let Some(k) = m.kernel_tcp() {
        if p.join("memory.kmem.tcp.limit_in_bytes").exists() {
            write(p, "memory.kmem.tcp.limit_in_bytes", &val(k))?;
        } else {
            crate::logging::warn("memory.kernelTCP ignored: this kernel has no memory.kmem.tcp");
        }
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(crate::Error::Spec(format!(
                "memory.swappiness {s} is above 100"
            )));
        }
        write(p, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(p, "memory.oom_control", "1")?;
    }
    Ok(())
}
