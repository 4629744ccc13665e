//! A container in the guest: its rootfs is an overlay of the image's layers (read-only
//! erofs disks found by serial, the lowest first) under a writable layer in guest memory,
//! and the OCI runtime runs it from a bundle whose config is the host's spec with that
//! rootfs. The runtime's create path must run in a single-threaded process, so it runs in a
//! fresh copy of this binary (`--runtime-run`), whose output the agent relays.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where containers' bundles, layers and overlays live in the guest (a tmpfs).
const BASE: &str = "/run/strata";
/// The runtime's state directory.
pub const RUNTIME_ROOT: &str = "/run/strata-runc";

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
fn disk_by_serial(serial: &str, wait: Duration) -> io::Result<PathBuf> {
    crate::guest::device_by_attr(
        "/sys/block",
        "serial",
        serial,
        wait,
        &format!("disk with serial {serial}"),
    )
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

/// Mounts the layers and the overlay and writes the bundle; the bundle's directory.
pub fn prepare(id: &str, spec: &serde_json::Value, layers: &[String]) -> io::Result<PathBuf> {
    check_id(id)?;
    if layers.is_empty() || layers.len() > 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "1 to 64 layers",
        ));
    }
    let dir = Path::new(BASE).join(id);
    if dir.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("container {id}"),
        ));
    }
    let mut lower = Vec::new();
    for (i, serial) in layers.iter().enumerate() {
        let dev = disk_by_serial(serial, Duration::from_secs(10))?;
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
    let mut spec = spec.clone();
    if !spec.is_object() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the spec is not an object",
        ));
    }
    spec["root"] = serde_json::json!({"path": rootfs, "readonly": false});
    for_the_guest(&mut spec);
    std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec)?)?;
    Ok(dir)
}

/// A host's spec made fit for the guest: namespaces to join are the host's (paths that mean
/// nothing here), so the container gets new ones; bind mounts of host files that are not in
/// the guest (the engine's /etc/hosts, resolv.conf, hostname) are left out; hooks are the
/// host's programs.
fn for_the_guest(spec: &mut serde_json::Value) {
    if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
        for n in ns.iter_mut() {
            if let Some(o) = n.as_object_mut() {
                o.remove("path");
            }
        }
    }
    if let Some(ms) = spec["mounts"].as_array_mut() {
        ms.retain(|m| {
            let bind = m["type"] == "bind"
                || m["options"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"));
            let source = m["source"].as_str().unwrap_or("");
            !bind || Path::new(source).exists()
        });
    }
    if let Some(o) = spec.as_object_mut() {
        o.remove("hooks");
    }
}

/// `--runtime-run BUNDLE ID`: the OCI runtime's `run` in this fresh, single-threaded
/// process; its exit code.
pub fn runtime_run(bundle: &str, id: &str) -> i32 {
    if let Err(e) = strata_runtime::cloned_binary::ensure_cloned() {
        eprintln!("strata-agent: runtime: {e}");
        return 125;
    }
    let root = strata_runtime::state::Root::new(RUNTIME_ROOT);
    let opts = strata_runtime::container::CreateOpts {
        id: id.to_string(),
        bundle: bundle.into(),
        ..Default::default()
    };
    match strata_runtime::container::ops::run(&root, &opts, false, false) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata-agent: container {id}: {e}");
            125
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
            "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}, {"type": "pid"}]},
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
        assert_eq!(
            s["linux"]["namespaces"][0],
            serde_json::json!({"type": "network"})
        );
        assert!(s.get("hooks").is_none());
    }

    #[test]
    fn ids_that_could_escape_are_refused() {
        assert!(check_id("abc-1.2_x").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", &"x".repeat(65)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
