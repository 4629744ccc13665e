//! Volumes of VM containers (Kata's virtio-fs sharing): a VM that has volumes, and every pod
//! VM, boots with a virtio-fs device served by `virtiofsd` (built by scripts/setup.d) over
//! one directory of the VM's, `shared/`. A container's bind mounts (named volumes, host
//! directories and files) are bind-mounted there, under its id, and its spec's mounts point
//! at the same place below the guest's mount of the share. Read-only mounts are read-only on
//! the host's side too, so a guest cannot write through them.
//!
//! The binds live in the shim's own mount namespace (the pod VM's shim's, for a pod's
//! containers), which ends with the shim and the processes it started, so a killed shim
//! leaves no mount of a volume in a directory the engine later removes.

use crate::{io_err, Error, Result};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_agent::SHARED_GUEST_DIR;

/// virtiofsd's socket in the VM's directory.
pub const SOCKET: &str = "vfs.sock";
/// The shared directory in the VM's directory.
pub const DIR: &str = "shared";

/// virtiofsd: `$STRATA_VIRTIOFSD`, else where the set-up installs it.
fn virtiofsd() -> PathBuf {
    std::env::var_os("STRATA_VIRTIOFSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/local/bin/virtiofsd".into())
}

/// Gives the calling (single-threaded) process a mount namespace of its own whose mounts
/// propagate nowhere.
pub fn private_mounts() -> Result<()> {
    // SAFETY: plain syscalls; the process has one thread here.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(Error(format!(
                "a mount namespace for the shim: {}",
                std::io::Error::last_os_error()
            )));
        }
        let root = c"/";
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(Error(format!(
                "the shim's mounts made private: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// Joins the mount namespace of process `pid` (a pod VM's shim), whose VM shares its
/// directory; the calling process must have one thread.
pub fn join_mounts_of(pid: i32) -> Result<()> {
    let p = std::path::PathBuf::from(format!("/proc/{pid}/ns/mnt"));
    crate::join_namespace(&p, libc::CLONE_NEWNS, "the pod VM's mounts")
}

/// Starts virtiofsd over `vm_dir/shared` on `vm_dir/vfs.sock`; it dies with the caller.
pub fn serve(vm_dir: &Path) -> Result<Child> {
    let shared = vm_dir.join(DIR);
    std::fs::create_dir_all(&shared).map_err(io_err(format!("{}", shared.display())))?;
    let log = vm_dir.join("virtiofsd.log");
    let err = std::fs::File::create(&log).map_err(io_err(format!("{}", log.display())))?;
    let mut cmd = Command::new(virtiofsd());
    // Relative to the VM's directory: a socket's path holds 108 bytes.
    cmd.current_dir(vm_dir)
        .arg(format!("--socket-path={SOCKET}"))
        .arg(format!("--shared-dir={}", shared.display()))
        .args(["--sandbox=none", "--cache=never", "--announce-submounts"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; virtiofsd dies with the shim.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(io_err(format!(
        "start {} (scripts/setup.d/virtiofsd.sh builds it)",
        virtiofsd().display()
    )))?;
    let t0 = Instant::now();
    while !vm_dir.join(SOCKET).exists() {
        if let Ok(Some(st)) = child.try_wait() {
            let why = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(Error(format!(
                "virtiofsd exited at start ({st}): {}",
                why.trim()
            )));
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Err(Error("virtiofsd made no socket in 10 s".into()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(child)
}

/// Whether a spec mount is one the share carries: a bind mount whose source is not in the
/// container's bundle (the engine's hosts, resolv.conf and hostname files there reach the
/// guest as files of the run request) nor the guest's own init (`--init`).
fn shared_mount(m: &serde_json::Value, bundle: &Path) -> bool {
    strata_agent::is_bind_mount(m)
        && !strata_agent::is_guest_init(m)
        && m["source"]
            .as_str()
            .is_some_and(|s| !Path::new(s).starts_with(bundle))
}

/// Whether `spec` has mounts the share would carry.
pub fn wants_share(spec: &serde_json::Value, bundle: &Path) -> bool {
    spec["mounts"]
        .as_array()
        .is_some_and(|ms| ms.iter().any(|m| shared_mount(m, bundle)))
}

fn bind(src: &Path, dst: &Path, read_only: bool) -> Result<()> {
    let c = |p: &Path| CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL in a path");
    let (s, d) = (c(src), c(dst));
    // SAFETY: NUL-terminated paths that outlive the calls; a bind, then its remount.
    unsafe {
        if libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            return Err(Error(format!(
                "volume {}: bind into the VM's share: {}",
                src.display(),
                std::io::Error::last_os_error()
            )));
        }
        if read_only
            && libc::mount(
                std::ptr::null(),
                d.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            ) != 0
        {
            let e = std::io::Error::last_os_error();
            libc::umount2(d.as_ptr(), libc::MNT_DETACH);
            return Err(Error(format!(
                "volume {}: read-only in the VM's share: {e}",
                src.display()
            )));
        }
    }
    Ok(())
}

/// Binds container `id`'s shared mounts into `shared` (the VM's shared directory, on the
/// host) and points them at the guest's mount of it; the spec for the guest and the
/// container's directory in the share (for [`release`]).
pub fn bind_volumes(
    spec: &serde_json::Value,
    bundle: &Path,
    shared: &Path,
    id: &str,
) -> Result<(serde_json::Value, PathBuf)> {
    let mut spec = spec.clone();
    let mine = shared.join(id);
    let _ = release(&mine);
    let Some(ms) = spec["mounts"].as_array_mut() else {
        return Ok((spec, mine));
    };
    for (n, m) in ms.iter_mut().enumerate() {
        if !shared_mount(m, bundle) {
            continue;
        }
        let src = PathBuf::from(m["source"].as_str().unwrap_or_default());
        let md = std::fs::metadata(&src).map_err(io_err(format!("volume {}", src.display())))?;
        let dst = mine.join(n.to_string());
        std::fs::create_dir_all(&mine).map_err(io_err(format!("{}", mine.display())))?;
        if md.is_dir() {
            std::fs::create_dir_all(&dst)
        } else {
            std::fs::File::create(&dst).map(drop)
        }
        .map_err(io_err(format!("{}", dst.display())))?;
        let read_only = m["options"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x == "ro"));
        bind(&src, &dst, read_only)?;
        m["source"] = format!("{SHARED_GUEST_DIR}/{id}/{n}").into();
    }
    Ok((spec, mine))
}

/// Unmounts and removes a container's directory in the share. Never recursive: a mount
/// point that stayed is an error, not a volume's content removed.
pub fn release(mine: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(mine) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error(format!("{}: {e}", mine.display()))),
    };
    for e in entries.flatten() {
        let p = e.path();
        let c = CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL in a path");
        // SAFETY: a NUL-terminated path that outlives the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let gone = if p.is_dir() {
            std::fs::remove_dir(&p)
        } else {
            std::fs::remove_file(&p)
        };
        gone.map_err(io_err(format!("{}", p.display())))?;
    }
    std::fs::remove_dir(mine).map_err(io_err(format!("{}", mine.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_volumes_go_through_the_share() {
        let bundle = Path::new("/var/lib/strata/containers/c1");
        let spec = serde_json::json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/strata/containers/c1/hosts"},
            {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]},
            {"destination": "/run/strata-init", "type": "bind", "source": strata_agent::GUEST_INIT},
        ]});
        let ms = spec["mounts"].as_array().unwrap();
        let shared: Vec<bool> = ms.iter().map(|m| shared_mount(m, bundle)).collect();
        assert_eq!(
            shared,
            [false, false, true, false],
            "--init's is the guest's own"
        );
        assert!(!wants_share(
            &serde_json::json!({"mounts": [ms[3]]}),
            bundle
        ));
        assert!(wants_share(&spec, bundle));
        assert!(!wants_share(
            &serde_json::json!({"mounts": [ms[1]]}),
            bundle
        ));
    }

    #[test]
    fn a_release_never_removes_what_is_under_a_mount() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("c1");
        // A directory that is not a mount point any more but holds a file: refused, kept.
        std::fs::create_dir_all(mine.join("0")).unwrap();
        std::fs::write(mine.join("0/precious"), b"x").unwrap();
        assert!(release(&mine).is_err());
        assert!(mine.join("0/precious").exists());
        std::fs::remove_file(mine.join("0/precious")).unwrap();
        release(&mine).unwrap();
        assert!(!mine.exists());
        release(&mine).unwrap();
    }
}
