//! The `cgroup` mount type inside a container: cgroup2 on unified hosts; on v1 and hybrid hosts
//! a tmpfs holding one read-only bind of the container's own cgroup per hierarchy (as runc).

use super::mounts::{bind, MountEnv};
use super::options::MountOptions;
use super::safe_path;
use crate::error::{Context, Result};
use crate::sys;
use std::os::fd::AsRawFd;

/// Mounts the cgroup file system view at `dest`.
pub fn mount(env: &MountEnv, dest: &str, opts: &MountOptions, typ: &str) -> Result<()> {
    let flags = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    let pure_v2 = env.cgroups.len() == 1 && env.cgroups[0].0.is_empty();
    if pure_v2 || typ == "cgroup2" {
        let target =
            safe_path::mkdir_all(env.root, dest, 0o755).ctx(|| format!("cgroup target {dest}"))?;
        let t = sys::fd_path(target.as_raw_fd());
        if env.cgroupns {
            return sys::mount(Some("cgroup2"), &t, Some("cgroup2"), flags, None)
                .ctx(|| "mount cgroup2".into());
        }
        let host = env
            .cgroups
            .first()
            .map(|c| c.1.as_str())
            .unwrap_or("/sys/fs/cgroup");
        let o = MountOptions {
            flags,
            bind: Some(false),
            ..Default::default()
        };
        return bind(env, host, dest, &o);
    }
    let target =
        safe_path::mkdir_all(env.root, dest, 0o755).ctx(|| format!("cgroup target {dest}"))?;
    let t = sys::fd_path(target.as_raw_fd());
    sys::mount(
        Some("tmpfs"),
        &t,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx(|| "cgroup tmpfs".into())?;
    // As runc: on a hybrid host the container sees the v1 hierarchies only.
    for (name, host) in env.cgroups.iter().filter(|(n, _)| n != "unified") {
        let sub = format!("{}/{}", dest.trim_end_matches('/'), name);
        let o = MountOptions {
            flags,
            bind: Some(false),
            ..Default::default()
        };
        bind(env, host, &sub, &o)?;
    }
    if flags & libc::MS_RDONLY != 0 {
        let target =
            safe_path::open_in_root(env.root, dest, libc::O_PATH).ctx(|| dest.to_string())?;
        sys::mount(
            None,
            &sys::fd_path(target.as_raw_fd()),
            None,
            libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("mode=755"),
        )
        .ctx(|| "remount cgroup tmpfs read-only".into())?;
    }
    Ok(())
}
