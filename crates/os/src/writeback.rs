//! Early writeback: large files (a layer's blob, big files in a snapshot) are handed to
//! the disk while they are written (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which starts
//! writeback without waiting for it), so the syncs that make a pull durable find little
//! left to write instead of the whole image at once.

use std::os::fd::{AsFd, AsRawFd};

/// Bytes written between two writeback starts (`STRATA_WRITEBACK_MB`, default 8; 0 turns
/// early writeback off).
pub fn every() -> u64 {
    static EVERY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *EVERY.get_or_init(|| {
        let mb = std::env::var("STRATA_WRITEBACK_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(8);
        if mb == 0 {
            u64::MAX
        } else {
            mb << 20
        }
    })
}

/// Starts writeback of the dirty pages of `f` (all of it; pages already being written are
/// skipped by the kernel). A hint: errors are ignored, durability comes from the syncs.
pub fn kick<F: AsFd>(f: F) {
    let fd = f.as_fd().as_raw_fd();
    // SAFETY: sync_file_range only reads its integer arguments; `fd` is a valid open
    // descriptor borrowed for the duration of the call.
    let _ = unsafe { libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}
