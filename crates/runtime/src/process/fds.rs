//! No host file descriptor reaches the container (CVE-2024-21626): before exec, every fd
//! above stdio and the preserved ones is marked close-on-exec.

use strata_os::fd::set_cloexec;

/// Marks every descriptor >= `first` close-on-exec (close_range with CLOSE_RANGE_CLOEXEC, or a
/// /proc/self/fd walk where that is missing).
pub fn cloexec_from(first: u32) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        let fds: Vec<i32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        for fd in fds {
            if fd >= first as i32 {
                let _ = set_cloexec(fd, true);
            }
        }
    }
}

/// Clears close-on-exec on the preserved descriptors 3..3+n (`--preserve-fds`).
pub fn keep(n: u32) {
    for fd in 3..3 + n as i32 {
        let _ = set_cloexec(fd, false);
    }
}
