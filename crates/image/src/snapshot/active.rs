//! Active snapshots on disk: `<root>/active/<key>/fs` (the writable layer, an overlayfs
//! upper directory in the snapshot format) and `<root>/active/<key>/work` (overlayfs'
//! work directory), and what describes them (their records live in the store's
//! database, see `store::records`).
//!
//! A directory is built under a temporary name (`.tmp-<pid>-...`) and renamed to its key
//! only when complete; removal renames it out of sight first. So a crash leaves either a
//! temporary (collected the next time the store is opened by a process alone with it),
//! or a whole directory, which that recovery also drops if no record names it.

use crate::digest::Digest;
use crate::error::{Error, IoResultExt, Result};
use crate::oci::Descriptor;
use crate::temp::temp_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Longest key, in bytes.
pub const MAX_KEY: usize = 200;

/// Checks a caller's snapshot key: a non-empty name of at most [`MAX_KEY`] bytes, without
/// `/` or NUL, not starting with `.` (so not `.` or `..`; names starting with a dot are
/// the store's temporaries).
pub fn check_key(key: &str) -> Result<()> {
    let why = if key.is_empty() {
        "empty"
    } else if key.len() > MAX_KEY {
        "longer than 200 bytes"
    } else if key.contains('/') {
        "contains '/'"
    } else if key.contains('\0') {
        "contains a nul byte"
    } else if key.starts_with('.') {
        "starts with '.'"
    } else {
        return Ok(());
    };
    Err(Error::invalid("snapshot key", format!("{key:?}: {why}")))
}

/// What an active snapshot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Writable: an upper directory over its parent's layers; can be committed.
    Active,
    /// Read-only: its parent's layers only.
    View,
}

impl Kind {
    /// `active` or `view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Active => "active",
            Kind::View => "view",
        }
    }

    /// Parses [`Kind::as_str`]'s names.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(Kind::Active),
            "view" => Ok(Kind::View),
            _ => Err(Error::invalid("snapshot kind", s)),
        }
    }
}

/// An active snapshot (or view), as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The caller's key.
    pub key: String,
    /// Writable or read-only.
    pub kind: Kind,
    /// The committed snapshot (chain id) it was made over, if any.
    pub parent: Option<Digest>,
    /// The committed snapshots under it, top first: the parent and everything below.
    pub lowers: Vec<Digest>,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The caller's labels.
    pub labels: BTreeMap<String, String>,
}

/// A layer made by committing an active snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// Its chain id (names its snapshot).
    pub chain_id: Digest,
    /// The chain it was made over.
    pub parent: Option<Digest>,
    /// The committed snapshots it stacks on, top first: itself, then the parent's lowers.
    pub lowers: Vec<Digest>,
    /// The digest of its uncompressed tar.
    pub diff_id: Digest,
    /// Its layer blob in the content store (gzip).
    pub blob: Descriptor,
    /// When it was committed (RFC 3339, UTC).
    pub created: String,
}

/// Disk usage of a snapshot's writable layer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes of disk used (allocated blocks), each inode counted once.
    pub bytes: u64,
    /// Inodes (the layer's root directory included).
    pub inodes: u64,
}

/// The active snapshot directories of a store.
#[derive(Debug, Clone)]
pub struct ActiveDirs {
    dir: PathBuf,
}

/// A directory being made for an active snapshot; removed on drop unless installed.
pub struct Staged {
    path: PathBuf,
    done: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

impl ActiveDirs {
    /// Opens (creating) `<root>/active`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("active");
        fs::create_dir_all(&dir).op(format!("create {}", dir.display()))?;
        Ok(ActiveDirs { dir })
    }

    /// The directory of `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// The writable layer of `key` (the overlay upper directory).
    pub fn fs(&self, key: &str) -> PathBuf {
        self.path(key).join("fs")
    }

    /// The overlay work directory of `key`.
    pub fn work(&self, key: &str) -> PathBuf {
        self.path(key).join("work")
    }

    /// Makes a snapshot directory under a temporary name: `fs` (0755), and `work` when
    /// `writable`.
    pub fn stage(&self, writable: bool) -> Result<Staged> {
        let path = self.dir.join(temp_name(".tmp-"));
        let s = Staged {
            path: path.clone(),
            done: false,
        };
        let mut subdirs = vec!["fs"];
        if writable {
            subdirs.push("work");
        }
        fs::create_dir(&path).op(format!("create {}", path.display()))?;
        for d in subdirs {
            let p = path.join(d);
            fs::create_dir(&p).op(format!("create {}", p.display()))?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                .op(format!("chmod {}", p.display()))?;
        }
        Ok(s)
    }

    /// Gives a staged directory its key (fails if the key's directory exists).
    pub fn install(&self, mut s: Staged, key: &str) -> Result<()> {
        let dest = self.path(key);
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &s.path,
            rustix::fs::CWD,
            &dest,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| match e {
            rustix::io::Errno::EXIST => Error::AlreadyExists(format!("snapshot directory {key}")),
            e => Error::io(format!("create {}", dest.display()), e.into()),
        })?;
        s.done = true;
        Ok(())
    }

    /// Removes the directory of `key` (renamed out of sight first); missing is fine.
    pub fn remove(&self, key: &str) -> Result<()> {
        let trash = self.dir.join(temp_name(".del-"));
        match fs::rename(self.path(key), &trash) {
            Ok(()) => fs::remove_dir_all(&trash).op(format!("remove {}", trash.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove snapshot {key}"), e)),
        }
    }

    /// Removes what crashed operations left: every temporary, every directory `known`
    /// does not accept. Only call it while no other process uses the store (under the
    /// store's exclusive lock): a live operation's temporaries look the same. Returns how
    /// many entries went.
    pub fn clean(&self, known: impl Fn(&str) -> bool) -> Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.dir)
            .op(format!("list {}", self.dir.display()))?
            .flatten()
        {
            let name = e.file_name();
            let keep = name
                .to_str()
                .is_some_and(|k| !k.starts_with('.') && known(k));
            if !keep {
                tracing::warn!(entry = ?name, "removing a leftover active snapshot directory");
                let p = e.path();
                let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                r.op(format!("remove {}", p.display()))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["c1", "build-step-3", "a.b", "x".repeat(MAX_KEY).as_str()] {
            check_key(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "/",
            "a\0b",
            &"x".repeat(MAX_KEY + 1),
        ] {
            let e = check_key(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid snapshot key: "), "{e}");
        }
    }

    #[test]
    fn staged_dirs_are_installed_once_or_removed() {
        let t = tempfile::tempdir().unwrap();
        let a = ActiveDirs::open(t.path()).unwrap();
        let s = a.stage(true).unwrap();
        a.install(s, "k").unwrap();
        assert!(a.fs("k").is_dir() && a.work("k").is_dir());
        let e = a.install(a.stage(false).unwrap(), "k").unwrap_err();
        assert!(matches!(e, Error::AlreadyExists(_)), "{e}");
        drop(a.stage(false).unwrap());
        // Only "k" is left; the failed install's and the dropped stage's are gone.
        assert_eq!(fs::read_dir(t.path().join("active")).unwrap().count(), 1);
        a.remove("k").unwrap();
        a.remove("k").unwrap();
        assert_eq!(fs::read_dir(t.path().join("active")).unwrap().count(), 0);
    }
}
