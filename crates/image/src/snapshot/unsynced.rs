//! Snapshots made visible before their files are known to be on disk.
//!
//! Making a snapshot durable takes a `syncfs` (an fsync per file costs far more for
//! thousands of small files), and a `syncfs` also waits for every other program's
//! unwritten data on the filesystem: right after another tool wrote a few hundred
//! megabytes, it costs seconds. So a pull commits its snapshots without syncing them,
//! safely:
//!
//! - before a snapshot is renamed into place, a marker naming it and the current boot is
//!   written and fsynced (cheap: one small file) in `<root>/unsynced/`;
//! - when the store is opened, a marker from an earlier boot means the machine went down
//!   before the snapshot was known to be on disk: the snapshot is removed (made durable
//!   by a syncfs) before any command can use it, and only then the marker, so a torn
//!   snapshot is never used; its image is incomplete and the next pull fetches it again;
//! - markers older than the kernel's writeback interval are retired by a pull: one
//!   `syncfs`, which by then has little left to write, then the markers go.
//!
//! A killed process (not a machine crash) loses nothing: its writes are in the page cache.
//! Blobs are not concerned: each is fsynced before its rename.

use crate::digest::Digest;
use crate::error::{Error, IoResultExt, Result};
use crate::temp::temp_name;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Age after which markers are retired by a syncfs (the kernel writes dirty data back
/// after 30 s by default, so the syncfs then has little to do).
pub const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// The markers of a store.
#[derive(Debug, Clone)]
pub struct Unsynced {
    dir: PathBuf,
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Result<String> {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(id) = ID.get() {
        return Ok(id.clone());
    }
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .op("read /proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string();
    Ok(ID.get_or_init(|| id).clone())
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .op(format!("fsync {}", dir.display()))
}

impl Unsynced {
    /// Opens (creating) the marker directory under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("unsynced");
        fs::create_dir_all(&dir).op(format!("create {}", dir.display()))?;
        Ok(Unsynced { dir })
    }

    /// Durably records that `chain`'s snapshot is about to become visible unsynced.
    pub fn mark(&self, chain: &Digest) -> Result<()> {
        let tmp = self.dir.join(temp_name(".m-"));
        let mut f = fs::File::create(&tmp).op(format!("create {}", tmp.display()))?;
        f.write_all(boot_id()?.as_bytes())
            .and_then(|_| f.sync_all())
            .op(format!("write {}", tmp.display()))?;
        fs::rename(&tmp, self.dir.join(chain.hex())).op("record unsynced snapshot")?;
        sync_dir(&self.dir)
    }

    /// The markers: chain id, boot id, age.
    fn list(&self) -> Result<Vec<(Digest, String, Duration)>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)
            .op("list unsynced snapshots")?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                let _ = fs::remove_file(e.path()); // a marker never renamed in
                continue;
            }
            let Ok(d) = Digest::parse(&format!("sha256:{name}")) else {
                continue;
            };
            let boot = fs::read_to_string(e.path()).unwrap_or_default();
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            out.push((d, boot.trim().to_string(), age));
        }
        Ok(out)
    }

    /// Removes the snapshots whose marker is from an earlier boot (through `remove`), makes
    /// that durable, then drops their markers. Returns how many were removed.
    pub fn recover<F: Fn(&Digest) -> Result<()>>(&self, remove: F) -> Result<usize> {
        let boot = boot_id()?;
        let stale: Vec<Digest> = self
            .list()?
            .into_iter()
            .filter(|(_, b, _)| *b != boot)
            .map(|(d, _, _)| d)
            .collect();
        if stale.is_empty() {
            return Ok(0);
        }
        for d in &stale {
            tracing::warn!(snapshot = %d.short(), "removing a snapshot not known to be on disk before a restart");
            remove(d)?;
        }
        self.sync_fs()?;
        for d in &stale {
            let _ = fs::remove_file(self.dir.join(d.hex()));
        }
        sync_dir(&self.dir)?;
        Ok(stale.len())
    }

    /// Retires the markers older than `age`: one syncfs, then they go. Returns how many.
    pub fn retire(&self, age: Duration) -> Result<usize> {
        let old: Vec<Digest> = self
            .list()?
            .into_iter()
            .filter(|(_, _, a)| *a >= age)
            .map(|(d, _, _)| d)
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        self.sync_fs()?;
        for d in &old {
            let _ = fs::remove_file(self.dir.join(d.hex()));
        }
        sync_dir(&self.dir)?;
        Ok(old.len())
    }

    fn sync_fs(&self) -> Result<()> {
        let d = fs::File::open(&self.dir).op(format!("open {}", self.dir.display()))?;
        rustix::fs::syncfs(&d).map_err(|e| Error::io("syncfs store", e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_of_an_earlier_boot_remove_their_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let u = Unsynced::open(dir.path()).unwrap();
        let (now, before) = (Digest::of(b"now"), Digest::of(b"before"));
        u.mark(&now).unwrap();
        u.mark(&before).unwrap();
        // Pretend `before` was marked in another boot.
        fs::write(u.dir.join(before.hex()), "another-boot").unwrap();
        let removed = std::sync::Mutex::new(Vec::new());
        let n = u
            .recover(|d| {
                removed.lock().unwrap().push(d.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(
            (n, removed.into_inner().unwrap()),
            (1, vec![before.clone()])
        );
        let left: Vec<Digest> = u.list().unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(left, vec![now.clone()], "this boot's marker stays");
        // Young markers stay; old ones are retired.
        assert_eq!(u.retire(Duration::from_secs(3600)).unwrap(), 0);
        assert_eq!(u.retire(Duration::ZERO).unwrap(), 1);
        assert!(u.list().unwrap().is_empty());
    }
}
