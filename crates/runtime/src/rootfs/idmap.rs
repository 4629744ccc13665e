//! Idmapped mounts (OCI 1.1 `mounts[].uidMappings/gidMappings`, options `idmap`/`ridmap`): the
//! parent makes a user namespace holding the mount's mappings; the init clones the source tree,
//! attaches that namespace to it (mount_setattr MOUNT_ATTR_IDMAP) and moves it into place.

use crate::error::{Context, Error, Result};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use strata_os::{fd, mount, process};

/// `MOUNT_ATTR_IDMAP` (linux/mount.h).
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// A mount's mappings, as the text of uid_map and gid_map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    /// uid_map content ("containerID hostID size" lines).
    pub uid: String,
    /// gid_map content.
    pub gid: String,
}

/// Reads the mappings of every mount (index-aligned with `mounts`) from the raw config.
pub fn from_config(v: &serde_json::Value) -> Vec<Option<IdMap>> {
    let fmt = |m: &serde_json::Value| {
        m.as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {} {}\n",
                    e["containerID"].as_u64().unwrap_or(0),
                    e["hostID"].as_u64().unwrap_or(0),
                    e["size"].as_u64().unwrap_or(0)
                )
            })
            .collect::<String>()
    };
    v["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let (u, g) = (fmt(&m["uidMappings"]), fmt(&m["gidMappings"]));
            (!u.is_empty() || !g.is_empty()).then_some(IdMap { uid: u, gid: g })
        })
        .collect()
}

/// A user namespace with the given mappings, held by an fd (the helper process that created
/// it is gone when this returns).
pub fn userns(map: &IdMap) -> Result<OwnedFd> {
    let (r, w) = fd::pipe().ctx(|| "idmap pipe".into())?;
    // SAFETY: create runs in a single-threaded process (the runtime's create path must), and
    // the child only reads a pipe and exits.
    let pid = unsafe { process::clone_fork(libc::CLONE_NEWUSER) }
        .ctx(|| "idmap user namespace".into())?;
    if pid == 0 {
        drop(w);
        let mut b = [0u8; 1];
        let _ = fd::read(r.as_raw_fd(), &mut b);
        // SAFETY: _exit in the forked helper.
        unsafe { libc::_exit(0) }
    }
    drop(r);
    let res = (|| {
        if !map.uid.is_empty() {
            fd::write_file(format!("/proc/{pid}/uid_map"), &map.uid)
                .ctx(|| format!("idmap uid_map {:?}", map.uid))?;
        }
        if !map.gid.is_empty() {
            fd::write_file(format!("/proc/{pid}/gid_map"), &map.gid)
                .ctx(|| format!("idmap gid_map {:?}", map.gid))?;
        }
        fd::open(format!("/proc/{pid}/ns/user"), libc::O_RDONLY, 0)
            .ctx(|| "open idmap user namespace".into())
    })();
    drop(w);
    let _ = process::waitpid(pid, 0);
    res
}

/// Clones `source` (recursively with `recursive`), idmaps the clone with `userns` and moves it
/// onto `target` (an fd inside the container's root).
pub fn bind(source: RawFd, target: RawFd, recursive: bool, userns: RawFd) -> Result<()> {
    let tree =
        mount::clone_tree(source, recursive).ctx(|| "open_tree for idmapped mount".into())?;
    mount::mount_setattr(
        tree.as_raw_fd(),
        recursive,
        MOUNT_ATTR_IDMAP,
        0,
        userns as u64,
    )
    .map_err(|e| {
        Error::io(
            "idmap the mount (does this file system support idmapped mounts?)",
            e,
        )
    })?;
    mount::move_mount(tree.as_raw_fd(), target).ctx(|| "move idmapped mount into place".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_read_per_mount() {
        let v = serde_json::json!({"mounts": [
            {"destination": "/a"},
            {"destination": "/b", "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
             "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}
        ]});
        let m = from_config(&v);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], None);
        assert_eq!(m[1].as_ref().unwrap().uid, "0 1000 1\n");
    }
}
