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

/// Moves the guest's root off the initramfs onto a tmpfs (what `switch_root` does): the
/// kernel refuses `pivot_root` while the root is the initial ramfs, and the OCI runtime
/// pivots into every container's rootfs. The files are copied, the originals removed (their
/// memory given back), the tmpfs moved onto `/` and made the root.
pub fn leave_initramfs() -> io::Result<()> {
    let new = Path::new("/newroot");
    mount("tmpfs", "/newroot", "tmpfs", 0)?;
    for entry in std::fs::read_dir("/")?.flatten() {
        let name = entry.file_name();
        if name == "newroot" || name == "dev" {
            continue;
        }
        copy_tree(&entry.path(), &new.join(&name))?;
        let _ = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
    }
    std::fs::create_dir_all(new.join("dev"))?;
    std::env::set_current_dir(new)?;
    let c = |s: &str| CString::new(s).expect("no NUL in a constant");
    let (dot, slash) = (c("."), c("/"));
    // SAFETY: NUL-terminated strings that outlive the calls.
    let moved = unsafe {
        libc::mount(
            dot.as_ptr(),
            slash.as_ptr(),
            std::ptr::null(),
            libc::MS_MOVE,
            std::ptr::null(),
        )
    };
    if moved != 0 {
        return Err(io::Error::other(format!(
            "move the new root: {}",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: as above.
    if unsafe { libc::chroot(dot.as_ptr()) } != 0 {
        return Err(io::Error::other(format!(
            "chroot: {}",
            io::Error::last_os_error()
        )));
    }
    std::env::set_current_dir("/")
}

/// Copies files, directories and symbolic links (modes kept); other kinds are skipped.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        std::fs::create_dir_all(to)?;
        std::fs::set_permissions(
            to,
            std::fs::Permissions::from_mode(meta.permissions().mode()),
        )?;
        for e in std::fs::read_dir(from)?.flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if ft.is_file() {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

/// /proc, /sys and /dev (devtmpfs: device nodes appear as drivers bind; there is no udev).
pub fn mount_basics() -> io::Result<()> {
    let quiet = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    mount("proc", "/proc", "proc", quiet)?;
    mount("sysfs", "/sys", "sysfs", quiet)?;
    mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID)?;
    // Containers' bundles, overlays and the runtime's state; their cgroups (v2).
    mount("tmpfs", "/run", "tmpfs", libc::MS_NOSUID | libc::MS_NODEV)?;
    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", quiet)
}

/// Enables the controllers the containers' cgroups get (`/strata/ID`, as the engine names
/// them) on the root and on /strata ahead of the first container: under TCG those writes take
/// tens of milliseconds, which the first create paid; run on a thread of its own while the
/// host is still busy with its side of the start. The runtime finds them done (and does what
/// is left if this has not finished: each write only adds controllers).
pub fn prepare_cgroups() {
    let root = Path::new("/sys/fs/cgroup");
    let dir = root.join("strata");
    let _ = std::fs::create_dir(&dir);
    if let Err(e) = strata_runtime::cgroups::v2::enable_controllers(root, &dir.join("next")) {
        eprintln!("strata-agent: cgroup controllers: {e}");
    }
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

/// Whether the VM has a virtio device of type `id` (`/sys/bus/virtio/devices/*/device`:
/// 8 is SCSI).
pub fn has_virtio_device(id: u32) -> bool {
    has_device_of_type(Path::new("/sys/bus/virtio/devices"), id)
}

/// Whether a device under `dir` has `device` `id` (sysfs writes it as `0x0008`).
fn has_device_of_type(dir: &Path, id: u32) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read_to_string(e.path().join("device"))
            .ok()
            .and_then(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
            == Some(id)
    })
}

/// Loads the modules of the set `name` that the initramfs carries for when they are needed
/// (`/etc/strata/modules.NAME`, one path a line, dependencies first), once.
pub fn load_module_set(name: &str) -> io::Result<()> {
    static LOADED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut loaded = LOADED
        .lock()
        .map_err(|_| io::Error::other("module sets lock"))?;
    if loaded.iter().any(|n| n == name) {
        return Ok(());
    }
    let list = Path::new("/etc/strata").join(format!("modules.{name}"));
    if !list.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no module set {name} in the initramfs ({})", list.display()),
        ));
    }
    load_modules(&list)?;
    loaded.push(name.to_string());
    Ok(())
}

/// The device node of the entry of sysfs class directory `class` whose attribute `attr`
/// reads `value` (`/sys/block/*/serial`, `/sys/class/virtio-ports/*/name`), once its driver
/// has bound and devtmpfs shows the node; `what` names it in the error.
pub fn device_by_attr(
    class: &str,
    attr: &str,
    value: &str,
    wait: Duration,
    what: &str,
) -> io::Result<PathBuf> {
    let is = |v: &[u8]| String::from_utf8_lossy(v).trim() == value;
    device_where(class, attr, is, wait, what)
}

/// The device node of the entry of sysfs class directory `class` whose attribute `attr`
/// (its bytes) satisfies `is`, once devtmpfs shows the node; `what` names it in the error.
pub fn device_where(
    class: &str,
    attr: &str,
    is: impl Fn(&[u8]) -> bool,
    wait: Duration,
    what: &str,
) -> io::Result<PathBuf> {
    let t0 = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir(class) {
            for e in entries.flatten() {
                let v = std::fs::read(e.path().join(attr)).unwrap_or_default();
                let dev = Path::new("/dev").join(e.file_name());
                if is(&v) && dev.exists() {
                    return Ok(dev);
                }
            }
        }
        if t0.elapsed() > wait {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no {what} after {wait:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The device of the virtio-serial port called `name`.
pub fn find_port(name: &str, wait: Duration) -> io::Result<PathBuf> {
    device_by_attr(
        "/sys/class/virtio-ports",
        "name",
        name,
        wait,
        &format!("virtio-serial port named {name}"),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtio_device_is_found_by_its_type() {
        let d = tempfile::tempdir().unwrap();
        for (name, id) in [("virtio0", "0x0003\n"), ("virtio1", "0x0008\n")] {
            std::fs::create_dir(d.path().join(name)).unwrap();
            std::fs::write(d.path().join(name).join("device"), id).unwrap();
        }
        assert!(has_device_of_type(d.path(), 8));
        assert!(has_device_of_type(d.path(), 3));
        assert!(!has_device_of_type(d.path(), 2));
        assert!(!has_device_of_type(&d.path().join("none"), 8));
    }
}
