//! A container in the guest: its rootfs is an overlay of the image's layers (read-only
//! erofs disks found by serial, the lowest first) under a writable layer in guest memory,
//! and the OCI runtime runs it from a bundle whose config is the host's spec with that
//! rootfs. The runtime's create path must run in a single-threaded process, so it runs in a
//! fresh copy of this binary (`--runtime-run`), whose output the agent relays.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Where containers' bundles, layers and overlays live in the guest (a tmpfs).
const BASE: &str = "/run/strata";
/// The runtime's state directory.
pub const RUNTIME_ROOT: &str = "/run/strata-runc";
/// The file in a container's bundle that says the OOM killer acted in its cgroup.
pub const OOM_MARK: &str = "oom-killed";

fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    std::fs::create_dir_all(target)?;
    let c = |s: &str| CString::new(s).map_err(|_| io::Error::other("a NUL in a mount argument"));
    let (s, t, f, d) = (c(src)?, c(&target.to_string_lossy())?, c(fstype)?, c(data)?);
    // SAFETY: NUL-terminated strings that outlive the call.
    let r = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, d.as_ptr().cast()) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("mount {fstype} {src} on {}: {e}", target.display()),
        ));
    }
    Ok(())
}

/// The block device whose serial is `serial` (`/dev/vdb`).
pub(crate) fn disk_by_serial(serial: &str, wait: Duration) -> io::Result<PathBuf> {
    crate::guest::device_by_attr(
        "/sys/block",
        "serial",
        serial,
        wait,
        &format!("disk with serial {serial}"),
    )
}

/// The disk a host names by `source`: `scsi:SERIAL`, the SCSI disk of that serial (a pod
/// VM's hot-plugged disks), else the virtio disk of serial `source`.
pub(crate) fn disk_by_source(source: &str, wait: Duration) -> io::Result<PathBuf> {
    match source.strip_prefix("scsi:") {
        Some(serial) => scsi_disk_by_serial(serial, wait),
        None => disk_by_serial(source, wait),
    }
}

/// The SCSI disk whose unit serial number (VPD page 0x80) is `serial` (`/dev/sda`); the
/// guest's SCSI drivers are loaded first.
pub(crate) fn scsi_disk_by_serial(serial: &str, wait: Duration) -> io::Result<PathBuf> {
    crate::guest::load_module_set("scsi")?;
    crate::guest::device_where(
        "/sys/block",
        "device/vpd_pg80",
        |page| vpd_serial(page) == Some(serial),
        wait,
        &format!("SCSI disk with serial {serial}"),
    )
}

/// The serial in a VPD page 0x80 (SPC: the page code in byte 1, the length in bytes 2-3,
/// then the serial, padded with spaces or NULs).
fn vpd_serial(page: &[u8]) -> Option<&str> {
    let [_, 0x80, hi, lo, rest @ ..] = page else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    let serial = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some(serial.trim_matches(|c: char| c == ' ' || c == '\0'))
}

/// Drops what the guest cached of disk `dev`: a pod VM's layer disk gets another layer image
/// behind it while the VM runs (the host swaps the image), and blocks read before (the
/// partition scan, the old layer's) must not stand for the new image's.
fn drop_cached_blocks(dev: &Path) -> io::Result<()> {
    /// `BLKFLSBUF` (linux/fs.h: `_IO(0x12, 97)`).
    const BLKFLSBUF: libc::c_ulong = 0x1261;
    let f = std::fs::File::open(dev)?;
    // SAFETY: an ioctl without an argument on a descriptor this function owns.
    let r = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), BLKFLSBUF as _, 0) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("flush {}: {e}", dev.display()),
        ));
    }
    Ok(())
}

/// Which of the disks `serials` nothing in the guest holds: each is opened exclusively,
/// which a block device refuses while a file system is on it (also one unmounted lazily
/// whose last user has not yet gone), so another image can go behind it.
pub fn unused_disks(serials: &[String]) -> Vec<String> {
    serials
        .iter()
        .filter(|s| {
            disk_by_source(s, Duration::ZERO).is_ok_and(|dev| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_EXCL)
                    .open(dev)
                    .is_ok()
            })
        })
        .cloned()
        .collect()
}

/// Unmounts a container's overlay and layers and removes its directory (after its run);
/// what fails stays, and the next run of the id tries again.
pub fn release(id: &str) {
    if check_id(id).is_err() {
        return;
    }
    let dir = Path::new(BASE).join(id);
    let umount = |p: &Path| {
        if let Ok(c) = CString::new(p.to_string_lossy().as_bytes()) {
            // SAFETY: a NUL-terminated path that outlives the call.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    };
    umount(&dir.join("rootfs"));
    if let Ok(layers) = std::fs::read_dir(dir.join("layers")) {
        for l in layers.flatten() {
            umount(&l.path());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Checks a container id from the host (it names directories here).
pub fn check_id(id: &str) -> io::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("container id {id:?}"),
        ))
    }
}

/// The most host files a container brings, and the largest.
const MAX_FILES: usize = 16;
const MAX_FILE: usize = 64 << 10;

/// Mounts the layers and the overlay and writes the bundle, with the host's files that the
/// spec bind-mounts (by destination); the bundle's directory. The spec is taken, not cloned:
/// it is large (a seccomp profile of hundreds of rules) and under TCG every allocation is
/// emulated code (a clone cost ~20 ms there).
pub fn prepare(
    id: &str,
    mut spec: serde_json::Value,
    layers: &[String],
    files: &BTreeMap<String, String>,
) -> io::Result<PathBuf> {
    check_id(id)?;
    if files.len() > MAX_FILES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("at most {MAX_FILES} files"),
        ));
    }
    if layers.is_empty() || layers.len() > 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "1 to 64 layers",
        ));
    }
    let dir = Path::new(BASE).join(id);
    if dir.exists() {
        if Path::new(RUNTIME_ROOT).join(id).exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("container {id}"),
            ));
        }
        // An earlier run of this id that ended: its mounts go first.
        release(id);
    }
    let mut lower = Vec::new();
    for (i, serial) in layers.iter().enumerate() {
        let dev = disk_by_source(serial, Duration::from_secs(30))?;
        drop_cached_blocks(&dev)?;
        let at = dir.join(format!("layers/{i}"));
        mount(&dev.to_string_lossy(), &at, "erofs", libc::MS_RDONLY, "")?;
        lower.push(at.to_string_lossy().into_owned());
    }
    // overlayfs: the leftmost lowerdir is the top one.
    lower.reverse();
    let (upper, work, rootfs) = (dir.join("upper"), dir.join("work"), dir.join("rootfs"));
    std::fs::create_dir_all(&upper)?;
    std::fs::create_dir_all(&work)?;
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    mount("overlay", &rootfs, "overlay", 0, &data)?;
    if !spec.is_object() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the spec is not an object",
        ));
    }
    spec["root"] = serde_json::json!({"path": rootfs, "readonly": false});
    bring_files(&mut spec, files, &dir.join("files"))?;
    crate::devices::place(&mut spec)?;
    if uses_share(&spec) {
        mount_share()?;
    }
    for_the_guest(&mut spec);
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec)?)?;
    Ok(dir)
}

/// Whether the spec mounts volumes from the VM's share.
fn uses_share(spec: &serde_json::Value) -> bool {
    spec["mounts"].as_array().is_some_and(|ms| {
        ms.iter().any(|m| {
            m["source"]
                .as_str()
                .is_some_and(|s| Path::new(s).starts_with(strata_agent::SHARED_GUEST_DIR))
        })
    })
}

/// Mounts the VM's share (virtio-fs), once.
fn mount_share() -> io::Result<()> {
    static DONE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = DONE.lock().map_err(|_| io::Error::other("share lock"))?;
    if !*done {
        let at = Path::new(strata_agent::SHARED_GUEST_DIR);
        mount(strata_agent::SHARED_TAG, at, "virtiofs", 0, "")?;
        *done = true;
    }
    Ok(())
}

/// The name a brought file has in the container's `files` directory: its destination in
/// hex (unique, and never a path).
fn file_name(dest: &str) -> String {
    dest.bytes().map(|b| format!("{b:02x}")).collect()
}

/// [`strata_agent::Request::UpdateFile`]: the new content of container `id`'s file for
/// `dest`, written in place (the container's bind mount shows it). Only a file its run
/// brought can be updated.
pub fn update_file(id: &str, dest: &str, data: &str) -> io::Result<()> {
    check_id(id)?;
    let bytes = strata_agent::decode(data)?;
    if bytes.len() > MAX_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("file for {dest}: more than {MAX_FILE} bytes"),
        ));
    }
    let path = Path::new(BASE).join(id).join("files").join(file_name(dest));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("container {id}: no file for {dest} to update: {e}"),
            )
        })?;
    io::Write::write_all(&mut &f, &bytes)
}

/// Writes each of `files` (base64, by mount destination) under `dir` and points the spec's
/// bind mount of that destination at it. A destination no bind mount has is refused.
fn bring_files(
    spec: &mut serde_json::Value,
    files: &BTreeMap<String, String>,
    dir: &Path,
) -> io::Result<()> {
    for (dest, data) in files {
        let bytes = strata_agent::decode(data)?;
        if bytes.len() > MAX_FILE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("file for {dest}: more than {MAX_FILE} bytes"),
            ));
        }
        let m = spec["mounts"]
            .as_array_mut()
            .and_then(|ms| ms.iter_mut().find(|m| m["destination"] == dest.as_str()))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("file for {dest}: the spec mounts nothing there"),
                )
            })?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(file_name(dest));
        std::fs::write(&path, bytes)?;
        m["source"] = serde_json::Value::String(path.to_string_lossy().into_owned());
    }
    Ok(())
}

/// A host's spec made fit for the guest: the pod's network namespace is the guest's (the
/// container stays in it); other namespaces to join are the host's (paths that mean
/// nothing here), so the container gets new ones; bind mounts of host files that are not in
/// the guest (the engine's /etc/hosts, resolv.conf, hostname) are left out; hooks are the
/// host's programs.
fn for_the_guest(spec: &mut serde_json::Value) {
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        // The pod's network (a path on the host) is the guest's own: the VM is the pod.
        ns.retain(|n| !(n["type"] == "network" && n.get("path").is_some()));
        for n in ns.iter_mut() {
            if let Some(o) = n.as_object_mut() {
                o.remove("path");
            }
        }
    }
    if let Some(ms) = spec["mounts"].as_array_mut() {
        ms.retain(|m| {
            let bind = strata_agent::is_bind_mount(m);
            let source = m["source"].as_str().unwrap_or("");
            !bind || Path::new(source).exists()
        });
    }
    if let Some(o) = spec.as_object_mut() {
        o.remove("hooks");
    }
}

/// A command running this binary as the OCI runtime (`--runtime-run`, `--runtime-exec`,
/// `--runtime-kill`), from its immutable copy (CVE-2019-5736: a process in a container's
/// namespaces must not be able to open the runtime's binary, which is the guest's init, for
/// writing). Spawning the copy directly spares every container and exec the runtime's own
/// re-execution from it ([`strata_runtime::cloned_binary::ensure_cloned`], which stays as the
/// fallback where the copy cannot be made).
pub fn runtime_command() -> Command {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    let program = PROGRAM.get_or_init(|| {
        strata_runtime::cloned_binary::protected_program()
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
    });
    Command::new(program)
}

/// Re-executes from a protected copy unless already running from one; false (reported) if
/// that failed.
fn protected() -> bool {
    match strata_runtime::cloned_binary::ensure_cloned() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("strata-agent: runtime: {e}");
            false
        }
    }
}

/// `--runtime-run BUNDLE ID`: the OCI runtime's `run` in this fresh, single-threaded
/// process; its exit code.
pub fn runtime_run(bundle: &str, id: &str, console: Option<PathBuf>) -> i32 {
    if !protected() {
        return 125;
    }
    let root = strata_runtime::state::Root::new(RUNTIME_ROOT);
    let opts = strata_runtime::container::CreateOpts {
        id: id.to_string(),
        bundle: bundle.into(),
        console_socket: console,
        ..Default::default()
    };
    // The runtime's own messages go to a log beside the bundle, not the container's stderr
    // (its OOM note is the host's to report).
    strata_runtime::logging::init(
        Some(format!("{bundle}/runtime.log")),
        strata_runtime::logging::Format::Text,
        false,
    );
    // Kept past its exit to read its cgroup's OOM kills, then deleted.
    let ran = strata_runtime::container::ops::run(&root, &opts, false, true);
    if let Ok(state) = root.load(id) {
        if strata_runtime::cgroups::Manager::oom_kills(&state.cgroup_paths) > 0 {
            let _ = std::fs::write(Path::new(bundle).join(OOM_MARK), b"");
        }
    }
    let _ = strata_runtime::container::ops::delete(&root, id, true);
    match ran {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata-agent: container {id}: {e}");
            125
        }
    }
}

/// Writes an exec's process for `--runtime-exec` beside container `id`'s bundle; its path.
pub fn exec_file(id: &str, exec_id: &str, process: &serde_json::Value) -> io::Result<PathBuf> {
    check_id(id)?;
    check_id(exec_id)?;
    let dir = Path::new(BASE).join(id);
    // The host asks for an exec once the container's start was asked, which the guest may
    // not have begun yet: wait for its directory as for the runtime's state.
    let t0 = std::time::Instant::now();
    while !dir.is_dir() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no container {id}"),
        ));
    }
    // Checked here, where the guest can say what is wrong with it.
    serde_json::from_value::<oci_spec::runtime::Process>(process.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("process: {e}")))?;
    let path = dir.join(format!("exec-{exec_id}.json"));
    std::fs::write(&path, serde_json::to_vec(process)?)?;
    Ok(path)
}

/// `--runtime-exec ID PROCESS.json [--detach]`: the OCI runtime's exec of that process in
/// the container, in this fresh, single-threaded process; its exit code.
pub fn runtime_exec(id: &str, process: &str, detach: bool, console: Option<PathBuf>) -> i32 {
    // Its child enters the container's namespaces before it executes the process.
    if !protected() {
        return 125;
    }
    let p = std::fs::read(process)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
    let process: oci_spec::runtime::Process = match p {
        Ok(p) => p,
        Err(e) => {
            eprintln!("strata-agent: exec in {id}: {process}: {e}");
            return 125;
        }
    };
    let root = strata_runtime::state::Root::new(RUNTIME_ROOT);
    // The host starts an exec once the container's start was asked, which in the guest may
    // still be under way: wait for the runtime to have made it.
    let t0 = std::time::Instant::now();
    while root.load(id).is_err() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let opts = strata_runtime::container::exec::ExecOpts {
        id: id.to_string(),
        process,
        detach,
        console_socket: console,
        ..Default::default()
    };
    match strata_runtime::container::exec::exec(&root, &opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata-agent: exec in {id}: {e}");
            strata_runtime::container::exec::failure_status(&e.to_string())
        }
    }
}

/// `--runtime-kill ID SIGNAL`: the OCI runtime's `kill` of the container's init; 0 or 1.
pub fn runtime_kill(id: &str, signal: i32) -> i32 {
    let root = strata_runtime::state::Root::new(RUNTIME_ROOT);
    match strata_runtime::container::ops::kill(&root, id, signal, false) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("strata-agent: kill {id}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_leave_the_spec() {
        let mut s = serde_json::json!({
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc/hosts", "type": "bind", "source": "/nonexistent/hosts", "options": ["rbind"]},
                {"destination": "/x", "source": "/", "options": ["bind"]},
            ],
            "linux": {"namespaces": [
                {"type": "network", "path": "/proc/1/ns/net"},
                {"type": "ipc", "path": "/proc/1/ns/ipc"},
                {"type": "pid"},
            ]},
            "hooks": {"prestart": [{"path": "/bin/true"}]},
        });
        for_the_guest(&mut s);
        let dests: Vec<_> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].clone())
            .collect();
        assert_eq!(dests, ["/proc", "/x"]);
        // The pod's network is the guest's; the other paths are the host's.
        assert_eq!(
            s["linux"]["namespaces"],
            serde_json::json!([{"type": "ipc"}, {"type": "pid"}])
        );
        let mut none = serde_json::json!({"linux": {"namespaces": [{"type": "network"}]}});
        for_the_guest(&mut none);
        assert_eq!(
            none["linux"]["namespaces"],
            serde_json::json!([{"type": "network"}]),
            "--network none keeps a network namespace of its own"
        );
        assert!(s.get("hooks").is_none());
    }

    #[test]
    fn host_files_replace_their_mounts_sources() {
        let dir = std::env::temp_dir().join(format!("agent-files-{}", std::process::id()));
        let mut s = serde_json::json!({"mounts": [
            {"destination": "/etc/hosts", "type": "bind", "source": "/host/hosts"},
        ]});
        let mut files = BTreeMap::new();
        files.insert(
            "/etc/hosts".to_string(),
            strata_agent::encode(b"10.0.0.2 web\n"),
        );
        bring_files(&mut s, &files, &dir).unwrap();
        let src = s["mounts"][0]["source"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read(&src).unwrap(), b"10.0.0.2 web\n");
        // A destination the spec does not mount, or a file too large, is refused.
        files.insert("/etc/passwd".to_string(), strata_agent::encode(b"x"));
        assert!(bring_files(&mut s, &files, &dir).is_err());
        let mut big = BTreeMap::new();
        big.insert(
            "/etc/hosts".to_string(),
            strata_agent::encode(&vec![b'x'; MAX_FILE + 1]),
        );
        assert!(bring_files(&mut s, &big, &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_runtime_runs_from_an_immutable_copy() {
        let cmd = runtime_command();
        let program = Path::new(cmd.get_program()).to_path_buf();
        assert!(
            program.starts_with(strata_runtime::cloned_binary::CACHE_DIR),
            "{program:?}"
        );
        let refused = std::fs::OpenOptions::new().write(true).open(&program);
        // This test binary's copy goes (it is not a runtime anything else uses).
        let f = std::fs::File::open(&program).unwrap();
        let mut flags: libc::c_long = 0;
        // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read and write a long through the pointer.
        unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&f),
                libc::FS_IOC_GETFLAGS,
                &mut flags,
            );
            flags &= !0x10; // FS_IMMUTABLE_FL
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&f),
                libc::FS_IOC_SETFLAGS,
                &flags,
            );
        }
        std::fs::remove_file(&program).unwrap();
        assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_scsi_disks_serial_is_read_from_its_vpd_page() {
        assert_eq!(vpd_serial(b"\0\x80\0\x05pdev3"), Some("pdev3"));
        assert_eq!(vpd_serial(b"\0\x80\0\x08pdev3   "), Some("pdev3"));
        assert_eq!(
            vpd_serial(b"\0\x80\0\x09pdev3"),
            None,
            "shorter than it says"
        );
        assert_eq!(vpd_serial(b"\0\x83\0\x05pdev3"), None, "another page");
        assert_eq!(vpd_serial(b"\0\x80"), None);
    }

    #[test]
    fn ids_that_could_escape_are_refused() {
        assert!(check_id("abc-1.2_x").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", &"x".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
