//! What PID 1 of the guest does before serving: the pseudo-filesystems, the kernel modules
//! (in the order the initramfs lists them: dependencies first), and the agent's port; and
//! the power-off at the end.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn mount(source: &str, target: &str, fstype: &str, flags: libc::c_ulong) -> io::Result<()> {
    std::fs::create_dir_all(target)?;
    let c = |s: &str| CString::new(s).expect("no NUL in a constant");
    let (src, tgt, fs) = (c(source), c(target), c(fstype));
    // SAFETY: NUL-terminated strings that outlive the call; no data argument.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            fs.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(io::Error::new(
                e.kind(),
                format!("mount {fstype} on {target}: {e}"),
            ));
        }
    }
    Ok(())
}

/// /proc, /sys and /dev (devtmpfs: device nodes appear as drivers bind; there is no udev).
pub fn mount_basics() -> io::Result<()> {
    let quiet = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    mount("proc", "/proc", "proc", quiet)?;
    mount("sysfs", "/sys", "sysfs", quiet)?;
    mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID)
}

/// Loads each module listed in `list` (one path a line, dependencies first).
pub fn load_modules(list: &Path) -> io::Result<()> {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for m in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let f = std::fs::File::open(m)
            .map_err(|e| io::Error::new(e.kind(), format!("module {m}: {e}")))?;
        // SAFETY: finit_module with an open module file, empty NUL-terminated parameters.
        let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), c"".as_ptr(), 0) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(io::Error::new(e.kind(), format!("module {m}: {e}")));
            }
        }
    }
    Ok(())
}

/// The device of the virtio-serial port called `name`, once its driver has bound.
pub fn find_port(name: &str, wait: Duration) -> io::Result<PathBuf> {
    let t0 = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir("/sys/class/virtio-ports") {
            for e in entries.flatten() {
                let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
                let dev = Path::new("/dev").join(e.file_name());
                if n.trim() == name && dev.exists() {
                    return Ok(dev);
                }
            }
        }
        if t0.elapsed() > wait {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no virtio-serial port named {name} after {wait:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Syncs and powers the guest off (the VMM exits).
pub fn power_off() -> ! {
    // SAFETY: sync takes no arguments; reboot with a valid command. If reboot fails (not
    // PID 1), exiting is all that is left.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    std::process::exit(1)
}
