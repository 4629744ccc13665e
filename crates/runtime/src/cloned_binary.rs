//! CVE-2019-5736: a container must never be able to open the runtime's binary on the host for
//! writing through /proc/PID/exe. Before any command that enters a container, the runtime
//! re-executes itself from a sealed memfd copy, so /proc/self/exe of every process that runs
//! in the container's namespaces is an immutable anonymous file, not the host binary.

use std::ffi::CString;
use std::os::fd::AsRawFd;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether /proc/self/exe is already a sealed memfd.
pub fn is_cloned() -> bool {
    let Ok(fd) = crate::sys::open("/proc/self/exe", libc::O_RDONLY, 0) else {
        return false;
    };
    // SAFETY: fcntl on a descriptor we hold.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Re-executes the current binary from a sealed memfd copy, unless already running from one.
/// Returns only on failure.
pub fn ensure_cloned() -> std::io::Result<()> {
    if is_cloned() {
        return Ok(());
    }
    let src = crate::sys::open("/proc/self/exe", libc::O_RDONLY, 0)?;
    let name = c"strata-runc";
    // MFD_EXEC (0x10) is required where vm.memfd_noexec is set; older kernels reject it.
    // SAFETY: memfd_create with a valid name.
    let mut fd = unsafe {
        libc::memfd_create(
            name.as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | 0x10,
        )
    };
    if fd < 0 {
        // SAFETY: as above.
        fd = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
    }
    let mem = crate::sys::owned(fd)?;
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    crate::sys::cvt(unsafe { libc::fstat(src.as_raw_fd(), &mut st) })?;
    let mut left = st.st_size as usize;
    while left > 0 {
        // SAFETY: sendfile between two descriptors we hold; NULL offset uses the file position.
        let n =
            unsafe { libc::sendfile(mem.as_raw_fd(), src.as_raw_fd(), std::ptr::null_mut(), left) };
        if n <= 0 {
            return Err(std::io::Error::last_os_error());
        }
        left -= n as usize;
    }
    // SAFETY: fcntl on a descriptor we hold.
    crate::sys::cvt(unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, SEALS) })?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b).unwrap_or_default()
        })
        .collect();
    let mut a: Vec<*const libc::c_char> = args.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = env.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    let empty = c"";
    // SAFETY: execveat on our memfd with NULL-terminated argv/envp that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mem.as_raw_fd(),
            empty.as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    let err = std::io::Error::last_os_error();
    drop(mem);
    Err(err)
}
