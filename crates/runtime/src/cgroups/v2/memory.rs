//! v2 memory: memory.low (the spec's reservation), memory.max and memory.swap.max.

use super::max_or;
use crate::cgroups::fs::write;
use crate::error::Result;
use oci_spec::runtime::LinuxMemory;
use std::path::Path;

/// Applies memory settings.
pub fn apply(p: &Path, m: &LinuxMemory) -> Result<()> {
    if let Some(l) = m.reservation() {
        write(p, "memory.low", &max_or(l))?;
    }
    if let Some(l) = m.limit() {
        write(p, "memory.max", &max_or(l))?;
    }
    if let Some(s) = m.swap() {
        if p.join("memory.swap.max").exists() {
            write(p, "memory.swap.max", &swap_max(s, m.limit()))?;
        }
    }
    if m.disable_oom_killer() == Some(true) {
        crate::logging::warn("memory.disableOOMKiller has no cgroup v2 equivalent; ignored");
    }
    Ok(())
}

/// memory.swap.max for the spec's swap, which is memory+swap where v2 counts swap alone.
fn swap_max(swap: i64, limit: Option<i64>) -> String {
    match (swap, limit) {
        (s, _) if s < 0 => "max".to_string(),
        (s, Some(l)) if l >= 0 => (s - l).max(0).to_string(),
        (s, _) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_is_counted_without_memory() {
        assert_eq!(swap_max(-1, Some(100)), "max");
        assert_eq!(swap_max(300, Some(100)), "200");
        assert_eq!(swap_max(50, Some(100)), "0");
        assert_eq!(swap_max(300, None), "300");
    }
}
