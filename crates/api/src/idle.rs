//! Memory given back while the service is idle: a long-lived server that waits for requests
//! keeps only what it needs to wait. After a quiet moment (no connection, no hijacked stream)
//! the allocator returns its free heap to the kernel, and the clean pages of code and
//! constants the last requests paged in are dropped (`strata_os::memory`, as the container
//! monitor does): the next request reads them back from the page cache.

use std::time::Duration;

/// How long the service must be quiet before it gives memory back.
pub const QUIET: Duration = Duration::from_secs(1);

/// Gives back free heap and clean code pages; the bytes of code released.
pub fn release() -> u64 {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory at the top of glibc's heaps and arenas
    // to the kernel; it takes the allocator's own locks and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    strata_os::memory::release_clean_code().unwrap_or(0)
}
