//! Each defence against a known runtime CVE class, with a test that fails without it.

mod common;
use common::*;
use serde_json::json;
use std::os::fd::AsRawFd;

/// CVE-2019-5736: the container's init must not run from the host binary: /proc/PID/exe of a
/// process inside the container refuses to be opened for writing.
#[test]
fn runtime_binary_cannot_be_overwritten_through_proc_exe() {
    if !root() {
        return;
    }
    let rt = Rt::new();
    let b = Bundle::new("exe", &["/bin/true"]);
    rt.ok(&["create", "-b", b.path().to_str().unwrap(), "exe"]);
    let pid = rt.state("exe")["pid"].as_i64().unwrap();
    // While created, the init is the runtime itself, inside the container's namespaces.
    let exe = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&exe).unwrap();
    assert_ne!(
        target,
        std::path::Path::new(bin()).canonicalize().unwrap(),
        "init runs from the host binary"
    );
    let w = std::fs::OpenOptions::new().write(true).open(&exe);
    let err = w.expect_err("the runtime binary behind /proc/PID/exe is writable");
    assert!(
        matches!(
            err.raw_os_error(),
            Some(libc::EPERM) | Some(libc::ETXTBSY) | Some(libc::EACCES)
        ),
        "{err}"
    );
    rt.ok(&["delete", "--force", "exe"]);
}

/// CVE-2024-21626: no host descriptor reaches the container, and a cwd reached through a leaked
/// descriptor is refused.
#[test]
fn host_descriptors_do_not_leak_and_cwd_must_be_inside() {
    if !root() {
        return;
    }
    let host_dir = tempfile::tempdir().unwrap();
    // A host directory descriptor left inheritable, as a careless caller would pass it. Its
    // number is whatever the kernel gave (a fixed number could clobber another test thread's).
    let leak = std::fs::File::open(host_dir.path()).unwrap();
    let n = leak.as_raw_fd();
    // SAFETY: clearing FD_CLOEXEC on a descriptor this test owns.
    assert_eq!(unsafe { libc::fcntl(n, libc::F_SETFD, 0) }, 0);
    let rt = Rt::new();
    let b = Bundle::new(
        "fds",
        &["/bin/sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"],
    );
    let (code, out, err) = rt.run_bundle(&b, "fds");
    assert_eq!(code, 0, "{err}");
    // 0 1 2, and 3 is ls's own directory handle.
    assert_eq!(
        out.trim(),
        "0 1 2 3",
        "descriptors visible in the container: {out}"
    );
    let mut b = Bundle::new("cwd", &["/bin/pwd"]);
    b.edit(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}")));
    let (code, out, err) = rt.run_bundle(&b, "cwd");
    assert_ne!(code, 0, "container ran with a host cwd: {out}");
    assert!(err.contains("outside the container"), "{err}");
    drop(leak);
    assert!(!rt.root.path().join("cwd").exists());
}

/// CVE-2021-30465 class: a mount target behind a symlink inside the rootfs lands inside the
/// rootfs, never on the host path the link names.
#[test]
fn mount_target_symlinks_are_resolved_inside_the_rootfs() {
    if !root() {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    let mut b = Bundle::new("symlink", &["/bin/stat", "-f", "-c", "%T", "/evil/sub"]);
    // /evil -> <host temp dir>: absolute link that would escape if joined as a string.
    std::os::unix::fs::symlink(host.path(), b.rootfs().join("evil")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
        }));
    });
    let rt = Rt::new();
    let (code, out, err) = rt.run_bundle(&b, "symlink");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "tmpfs");
    assert!(
        !host.path().join("sub").exists(),
        "mount target created on the host"
    );
    let inside = b
        .rootfs()
        .join(host.path().strip_prefix("/").unwrap())
        .join("sub");
    assert!(
        inside.is_dir(),
        "target not created inside the rootfs at {}",
        inside.display()
    );
}

/// CVE-2019-16884 class: /proc must be procfs, so the runtime's writes under /proc (LSM labels,
/// oom_score_adj, sysctls) cannot be redirected.
#[test]
fn non_procfs_on_proc_is_refused() {
    if !root() {
        return;
    }
    let mut b = Bundle::new("fakeproc", &["/bin/true"]);
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m[0] = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
    });
    let rt = Rt::new();
    let (code, _, err) = rt.run_bundle(&b, "fakeproc");
    assert_eq!(code, 1);
    assert!(err.contains("/proc") && err.contains("proc"), "{err}");
    assert!(!rt.root.path().join("fakeproc").exists());
}
