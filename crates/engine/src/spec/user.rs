//! `-u user[:group]` and the image's `User`, resolved against the container's own
//! /etc/passwd and /etc/group, read through the confined resolver (an image's /etc/passwd
//! that is a symlink to the host's cannot make the engine read the host's).

use crate::error::{Error, Result};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

/// A resolved user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids (from /etc/group).
    pub additional_gids: Vec<u32>,
    /// Home directory (for HOME), if known.
    pub home: Option<String>,
}

/// Reads a small file of the container's root filesystem, confined to it; `None` if absent.
pub fn read_in_rootfs(rootfs: &Path, path: &str) -> Option<String> {
    let root = strata_os::fd::open(rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
    let fd = strata_os::Confined::new(root.as_fd())
        .open(path, libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK)
        .ok()?;
    let f = std::fs::File::from(fd);
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`; empty is root) in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User> {
    resolve_with_groups(rootfs, spec, &[])
}

/// [`resolve`], with the groups of `--group-add` (gids, or names in the image's
/// /etc/group) among the supplementary ones.
pub fn resolve_with_groups(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<User> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_rootfs(rootfs, "/etc/passwd").unwrap_or_default();
    let group = read_in_rootfs(rootfs, "/etc/group").unwrap_or_default();
    let entry = |line: &str| -> Option<(String, u32, u32, String)> {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some((
            f[0].to_string(),
            f[2].parse().ok()?,
            f[3].parse().ok()?,
            f[5].to_string(),
        ))
    };
    let mut user = User::default();
    let mut name = None;
    if u.is_empty() {
        user.home = Some("/root".into());
        name = Some("root".to_string());
    } else if let Ok(uid) = u.parse::<u32>() {
        user.uid = uid;
        if let Some((n, _, gid, home)) = passwd.lines().filter_map(entry).find(|e| e.1 == uid) {
            user.gid = gid;
            user.home = Some(home);
            name = Some(n);
        }
    } else {
        let (n, uid, gid, home) = passwd
            .lines()
            .filter_map(entry)
            .find(|e| e.0 == u)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "user {u:?}: no such user in the image's /etc/passwd"
                ))
            })?;
        user = User {
            uid,
            gid,
            additional_gids: vec![],
            home: Some(home),
        };
        name = Some(n);
    }
    let groups: Vec<(String, u32, Vec<String>)> = group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4).then(|| {
                Some((
                    f[0].to_string(),
                    f[2].parse().ok()?,
                    f[3].split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect(),
                ))
            })?
        })
        .collect();
    if let Some(g) = g {
        user.gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|e| e.0 == g)
                .map(|e| e.1)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "group {g:?}: no such group in the image's /etc/group"
                    ))
                })?,
        };
    }
    if let Some(n) = name {
        user.additional_gids = groups
            .iter()
            .filter(|e| e.2.contains(&n) && e.1 != user.gid)
            .map(|e| e.1)
            .collect();
    }
    for g in group_add {
        let gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .iter()
                .find(|e| &e.0 == g)
                .map(|e| e.1)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "--group-add {g:?}: no such group in the image's /etc/group"
                    ))
                })?,
        };
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_groups_and_a_hostile_symlink() {
        let t = tempfile::tempdir().unwrap();
        let etc = t.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001:web:/srv:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("group"),
            "root:x:0:\nweb:x:1001:\nextra:x:2000:web,other\n",
        )
        .unwrap();
        let u = resolve(t.path(), "web").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone(), u.home.as_deref()),
            (1000, 1001, vec![2000], Some("/srv"))
        );
        assert_eq!(resolve(t.path(), "1000:extra").unwrap().gid, 2000);
        assert_eq!(resolve(t.path(), "4242").unwrap().uid, 4242);
        assert_eq!(resolve(t.path(), "").unwrap().uid, 0);
        assert!(resolve(t.path(), "nobody")
            .unwrap_err()
            .to_string()
            .contains("no such user"));
        // /etc/passwd as a symlink to the host's: read inside the root (absent there).
        std::fs::remove_file(etc.join("passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", etc.join("passwd")).unwrap();
        assert!(
            resolve(t.path(), "root").is_err(),
            "the host's /etc/passwd was read"
        );
    }
}
