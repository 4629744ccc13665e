//! CVE-2019-5736: a container must never be able to open the runtime's binary on the host for
//! writing through /proc/PID/exe. Before any command that enters a container, the runtime
//! re-executes itself from a copy that cannot be written:
//!
//! - normally an immutable copy (`chattr +i`, FS_IMMUTABLE_FL) kept in [`CACHE_DIR`], made once
//!   per binary version and then shared through the page cache, so the protection costs one
//!   `execve` instead of copying the whole binary on every call (what made runc slow);
//! - where the file system has no immutable flag, a sealed memfd copy, as runc does.
//!
//! Either way /proc/self/exe of every process that runs in the container's namespaces refuses
//! to be opened for writing (EPERM), whatever the container does.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use strata_os::{cvt, fd, owned, path_cstr, process};

/// Where immutable copies of the runtime live (one per binary version).
pub const CACHE_DIR: &str = "/run/strata-runc-exe";
const FS_IMMUTABLE_FL: libc::c_long = 0x10;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether /proc/self/exe is already a sealed memfd.
pub fn is_cloned() -> bool {
    let Ok(fd) = fd::open("/proc/self/exe", libc::O_RDONLY, 0) else {
        return false;
    };
    // SAFETY: fcntl on a descriptor we hold.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

fn flags(fd: &OwnedFd) -> Option<libc::c_long> {
    let mut f: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes a long through the pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut f) };
    (r == 0).then_some(f)
}

fn is_immutable(path: &Path) -> bool {
    fd::open(path, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
        .ok()
        .and_then(|fd| flags(&fd))
        .is_some_and(|f| f & FS_IMMUTABLE_FL != 0)
}

/// Whether the running binary is already a protected copy.
pub fn is_protected() -> bool {
    match std::fs::read_link("/proc/self/exe") {
        Ok(p) if p.starts_with(CACHE_DIR) => is_immutable(&p),
        _ => is_cloned(),
    }
}

/// Makes (once) the immutable copy of the running binary and returns its path.
fn immutable_copy() -> std::io::Result<PathBuf> {
    let src = fd::open("/proc/self/exe", libc::O_RDONLY, 0)?;
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    cvt(unsafe { libc::fstat(src.as_raw_fd(), &mut st) })?;
    let name = format!(
        "strata-runc-{:x}-{:x}-{:x}-{:x}.{:x}",
        st.st_dev, st.st_ino, st.st_size, st.st_mtime, st.st_mtime_nsec
    );
    let target = Path::new(CACHE_DIR).join(&name);
    if is_immutable(&target) {
        return Ok(target);
    }
    std::fs::create_dir_all(CACHE_DIR)?;
    let tmp = Path::new(CACHE_DIR).join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::fs::copy("/proc/self/exe", &tmp)?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o555))?;
    std::fs::rename(&tmp, &target)?;
    let fd = fd::open(&target, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
    let f = flags(&fd).ok_or_else(std::io::Error::last_os_error)? | FS_IMMUTABLE_FL;
    // SAFETY: FS_IOC_SETFLAGS reads a long through the pointer.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_SETFLAGS, &f) })?;
    remove_stale(&name);
    Ok(target)
}

/// Removes copies of other binaries made more than an hour ago (clearing their immutable flag
/// first). Recent ones stay: two builds in use at once (a release and a debug binary, say)
/// must not evict each other's copy on every call.
fn remove_stale(keep: &str) {
    let Ok(rd) = std::fs::read_dir(CACHE_DIR) else {
        return;
    };
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n == keep || !n.starts_with("strata-runc-") {
            continue;
        }
        let recent = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > hour_ago);
        if recent {
            continue;
        }
        let p = e.path();
        if let Ok(fd) = fd::open(&p, libc::O_RDONLY | libc::O_NOFOLLOW, 0) {
            if let Some(f) = flags(&fd) {
                let f = f & !FS_IMMUTABLE_FL;
                // SAFETY: FS_IOC_SETFLAGS reads a long through the pointer.
                unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_SETFLAGS, &f) };
            }
        }
        let _ = std::fs::remove_file(p);
    }
}

/// The immutable copy of the running binary (made once), to spawn the runtime from directly:
/// a program that runs containers (the VM guest's agent) spares each call the re-execution
/// that [`ensure_cloned`] would do. None where the file system has no immutable flag.
pub fn protected_program() -> Option<PathBuf> {
    immutable_copy().ok()
}

/// Re-executes the current binary from a protected copy (immutable file, or sealed memfd where
/// that is impossible), unless already running from one. Returns only on failure.
pub fn ensure_cloned() -> std::io::Result<()> {
    if is_protected() {
        return Ok(());
    }
    if let Ok(path) = immutable_copy() {
        let c = path_cstr(&path)?;
        let (args, env) = args_env();
        let _ = process::execve(&c, &args, &env);
    }
    let src = fd::open("/proc/self/exe", libc::O_RDONLY, 0)?;
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
    let mem = owned(fd)?;
    // SAFETY: fstat into a zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    cvt(unsafe { libc::fstat(src.as_raw_fd(), &mut st) })?;
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
    cvt(unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, SEALS) })?;
    let (args, env) = args_env();
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

fn args_env() -> (Vec<CString>, Vec<CString>) {
    let args = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()).unwrap_or_default())
        .collect();
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b).unwrap_or_default()
        })
        .collect();
    (args, env)
}
