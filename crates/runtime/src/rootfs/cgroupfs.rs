//! The `cgroup` mount type inside a container: cgroup2 on unified hosts; on v1 and hybrid hosts
//! a tmpfs holding one read-only bind of the container's own cgroup per hierarchy (as runc).

use super::mounts::{bind, MountEnv};
use super::options::MountOptions;
use crate::error::{Context, Result};
use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::Path;
use strata_os::fd::fd_path;
use strata_os::mount::mount as mount2;

/// Mounts the cgroup file system view at `dest`.
pub fn mount(env: &MountEnv, dest: &Path, opts: &MountOptions, typ: &str) -> Result<()> {
    let flags = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    let pure_v2 = env.cgroups.len() == 1 && env.cgroups[0].hierarchy.is_empty();
    let target_of = || format!("cgroup target {}", dest.display());
    if pure_v2 || typ == "cgroup2" {
        let target = env.root.mkdir_all(dest, 0o755).ctx(target_of)?;
        let t = fd_path(target.as_raw_fd());
        if env.cgroupns {
            let cgroup2 = Some(OsStr::new("cgroup2"));
            return mount2(cgroup2, &t, Some("cgroup2"), flags, None)
                .ctx(|| "mount cgroup2".into());
        }
        let host = env
            .cgroups
            .first()
            .map_or(Path::new("/sys/fs/cgroup"), |c| c.path.as_path());
        let o = MountOptions {
            flags,
            bind: Some(false),
            ..Default::default()
        };
        return bind(env, host, dest, &o);
    }
    let target = env.root.mkdir_all(dest, 0o755).ctx(target_of)?;
    let tmpfs = Some(OsStr::new("tmpfs"));
    let mode = Some(OsStr::new("mode=755"));
    let nosuid_nodev_noexec = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount2(
        tmpfs,
        &fd_path(target.as_raw_fd()),
        Some("tmpfs"),
        nosuid_nodev_noexec,
        mode,
    )
    .ctx(|| "cgroup tmpfs".into())?;
    // As runc: on a hybrid host the container sees the v1 hierarchies only.
    for d in env.cgroups.iter().filter(|d| d.hierarchy != "unified") {
        let o = MountOptions {
            flags,
            bind: Some(false),
            ..Default::default()
        };
        bind(env, &d.path, &dest.join(&d.hierarchy), &o)?;
    }
    if flags & libc::MS_RDONLY != 0 {
        let target = env
            .root
            .open(dest, libc::O_PATH)
            .ctx(|| dest.display().to_string())?;
        let ro = libc::MS_REMOUNT | libc::MS_RDONLY | nosuid_nodev_noexec;
        mount2(None, &fd_path(target.as_raw_fd()), None, ro, mode)
            .ctx(|| "remount cgroup tmpfs read-only".into())?;
    }
    Ok(())
}
