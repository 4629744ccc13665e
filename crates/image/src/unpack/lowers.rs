//! The snapshots below the one being written, and the resolution of parent directories
//! that the layer being applied does not contain.
//!
//! Layers are applied as if onto the merged view of the ones below (as tar and
//! containerd do): when an entry's parent directory is absent from the snapshot being
//! written, it is looked up in the lower snapshots (topmost first, honouring whiteouts and
//! opaque directories), symlinks found on the way are followed confined to the image root
//! (absolute targets start at the root, `..` stops at it), and the directory is created in
//! the upper snapshot at the resolved place, with the lower directory's owner, mode and
//! mtime (an overlayfs copy-up).

use crate::error::{Error, Result};
use crate::fsops::{is_dir, lstat_at};
use crate::snapshot::format::{is_opaque, is_whiteout, mark_opaque};
use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::{Arc, Condvar, Mutex};

/// Most symlinks followed while resolving one parent path (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// The lower snapshots of a layer.
pub trait Lowers: Sync {
    /// Root directories of the lower snapshots, topmost first. May block until the lower
    /// layers are complete (a pull unpacks all layers at once).
    fn roots(&self) -> Result<Vec<Arc<OwnedFd>>>;
}

/// No lower snapshots: the bottom layer, or a flattened tree where the lower layers are
/// in the same directory already.
pub struct NoLowers;

impl Lowers for NoLowers {
    fn roots(&self) -> Result<Vec<Arc<OwnedFd>>> {
        Ok(Vec::new())
    }
}

/// Lower snapshots that are complete already.
pub struct OpenLowers(pub Vec<Arc<OwnedFd>>);

impl Lowers for OpenLowers {
    fn roots(&self) -> Result<Vec<Arc<OwnedFd>>> {
        Ok(self.0.clone())
    }
}

enum Slot {
    Pending,
    Ready(Arc<OwnedFd>),
    Failed,
}

/// The layers of one pull, each pending, ready (its tree complete) or failed; a layer's
/// application waits here for the ones below it only when it needs to look into them.
pub struct LayerGate {
    slots: Mutex<Vec<Slot>>,
    cv: Condvar,
}

impl LayerGate {
    /// A gate for `n` layers, all pending.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(LayerGate {
            slots: Mutex::new((0..n).map(|_| Slot::Pending).collect()),
            cv: Condvar::new(),
        })
    }

    /// Marks layer `i` ready with its snapshot's root.
    pub fn ready(&self, i: usize, root: Arc<OwnedFd>) {
        self.set(i, Slot::Ready(root));
    }

    fn set(&self, i: usize, s: Slot) {
        let mut g = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(g[i], Slot::Pending) {
            g[i] = s;
        }
        self.cv.notify_all();
    }

    /// A guard for layer `i` that marks it failed when dropped before it was marked ready
    /// (so that no upper layer waits for it forever).
    pub fn guard(self: &Arc<Self>, i: usize) -> SlotGuard {
        SlotGuard {
            gate: self.clone(),
            index: i,
        }
    }

    /// The view of the layers below `i`.
    pub fn below(self: &Arc<Self>, i: usize) -> Below {
        Below {
            gate: self.clone(),
            index: i,
        }
    }
}

/// Marks its layer failed on drop unless it became ready.
pub struct SlotGuard {
    gate: Arc<LayerGate>,
    index: usize,
}

impl SlotGuard {
    /// Marks the layer ready.
    pub fn ready(&self, root: Arc<OwnedFd>) {
        self.gate.ready(self.index, root);
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.gate.set(self.index, Slot::Failed);
    }
}

/// The layers below one layer of a [`LayerGate`].
pub struct Below {
    gate: Arc<LayerGate>,
    index: usize,
}

impl Lowers for Below {
    fn roots(&self) -> Result<Vec<Arc<OwnedFd>>> {
        let mut g = self.gate.slots.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if g[..self.index].iter().any(|s| matches!(s, Slot::Failed)) {
                return Err(Error::LowerFailed);
            }
            if g[..self.index].iter().all(|s| matches!(s, Slot::Ready(_))) {
                break;
            }
            g = self.gate.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        Ok(g[..self.index]
            .iter()
            .rev()
            .filter_map(|s| match s {
                Slot::Ready(fd) => Some(fd.clone()),
                _ => None,
            })
            .collect())
    }
}

fn open_sub(dir: &OwnedFd, name: &OsStr) -> std::result::Result<OwnedFd, Errno> {
    rfs::openat(
        dir.as_fd(),
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn reopen(dir: &OwnedFd) -> std::result::Result<OwnedFd, Errno> {
    open_sub(dir, OsStr::new("."))
}

/// What the merged view of the lower layers has at a path.
enum Lower {
    Absent,
    Dir(rfs::Stat),
    Symlink(Vec<u8>),
    Other,
}

/// The directory `path` in one lower layer, walked without following symlinks.
enum LayerDir {
    /// Found; `opaque` when it or an ancestor hides the layers below.
    Found(OwnedFd, bool),
    /// Absent here; `hides` when an ancestor hides the layers below.
    Missing(bool),
}

fn layer_dir(root: &OwnedFd, path: &[OsString]) -> std::result::Result<LayerDir, Errno> {
    let mut fd = reopen(root)?;
    let mut opaque = is_opaque(&fd);
    for c in path {
        match open_sub(&fd, c) {
            Ok(sub) => fd = sub,
            Err(Errno::NOENT) => return Ok(LayerDir::Missing(opaque)),
            // A non-directory (file, symlink, whiteout) here hides the layers below.
            Err(Errno::NOTDIR) | Err(Errno::LOOP) => return Ok(LayerDir::Missing(true)),
            Err(e) => return Err(e),
        }
        opaque |= is_opaque(&fd);
    }
    Ok(LayerDir::Found(fd, opaque))
}

/// Looks `name` in the directory `dir` up in the merged view of `lowers` (topmost first).
fn lookup(
    lowers: &[Arc<OwnedFd>],
    dir: &[OsString],
    name: &OsStr,
) -> std::result::Result<Lower, Errno> {
    for root in lowers {
        let (fd, opaque) = match layer_dir(root, dir)? {
            LayerDir::Found(fd, opaque) => (fd, opaque),
            LayerDir::Missing(true) => return Ok(Lower::Absent),
            LayerDir::Missing(false) => continue,
        };
        match lstat_at(&fd, name)? {
            None if opaque => return Ok(Lower::Absent),
            None => continue,
            Some(st) if is_whiteout(&st) => return Ok(Lower::Absent),
            Some(st) if is_dir(&st) => return Ok(Lower::Dir(st)),
            Some(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Symlink => {
                let t = rfs::readlinkat(fd.as_fd(), name, Vec::new())?;
                return Ok(Lower::Symlink(t.into_bytes()));
            }
            Some(_) => return Ok(Lower::Other),
        }
    }
    Ok(Lower::Absent)
}

/// A directory created in the upper snapshot as a copy-up of a lower one: its metadata.
pub struct CopiedUp {
    /// Path (components) in the upper snapshot.
    pub path: Vec<OsString>,
    /// The lower directory's stat.
    pub stat: rfs::Stat,
}

/// Opens (creating as needed) the parent directory `comps` in the upper snapshot `root`,
/// resolving components absent from it through `lowers` as described in the module doc.
/// Directories copied up from a lower layer are reported to `copied` (their owner and mode
/// are already set; the caller restores their mtime when the layer is done). `overlay`:
/// the snapshot is an overlayfs upper dir, where a 0/0 character device is a whiteout.
pub fn open_parent(
    root: &OwnedFd,
    lowers: &[Arc<OwnedFd>],
    comps: &[OsString],
    rootless: bool,
    overlay: bool,
    copied: &mut Vec<CopiedUp>,
) -> std::result::Result<OwnedFd, Errno> {
    let mut cur: Vec<OsString> = Vec::new();
    let mut fd = reopen(root)?;
    let mut queue: VecDeque<OsString> = comps.iter().cloned().collect();
    let mut links = 0;
    // Once a component is absent from every layer, so is everything below it.
    let mut lowers_absent = lowers.is_empty();
    while let Some(c) = queue.pop_front() {
        match c.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                // `cur` holds real directories only, so `..` is lexical; never above the root.
                cur.pop();
                fd = reopen(root)?;
                for p in &cur {
                    fd = open_sub(&fd, p)?;
                }
                lowers_absent = lowers.is_empty();
                continue;
            }
            _ => {}
        }
        let link = match lstat_at(&fd, &c)? {
            Some(st) if is_dir(&st) => {
                fd = open_sub(&fd, &c)?;
                cur.push(c);
                continue;
            }
            Some(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Symlink => {
                rfs::readlinkat(fd.as_fd(), &c, Vec::new())?.into_bytes()
            }
            Some(st) if overlay && is_whiteout(&st) => {
                // Deleted from the lower layers by this layer, then used as a directory:
                // a new directory that hides the lower one.
                rfs::unlinkat(fd.as_fd(), &c, rfs::AtFlags::empty())?;
                rfs::mkdirat(fd.as_fd(), &c, Mode::from_raw_mode(0o755))?;
                let sub = open_sub(&fd, &c)?;
                mark_opaque(&sub)?;
                fd = sub;
                cur.push(c);
                lowers_absent = true;
                continue;
            }
            Some(_) => return Err(Errno::NOTDIR),
            None => {
                let found = if lowers_absent {
                    Lower::Absent
                } else {
                    lookup(lowers, &cur, &c)?
                };
                match found {
                    Lower::Symlink(t) => t,
                    Lower::Dir(st) => {
                        mkdir(&fd, &c)?;
                        let sub = open_sub(&fd, &c)?;
                        if !rootless {
                            rfs::fchown(
                                sub.as_fd(),
                                Some(super::meta::uid(st.st_uid as u64)),
                                Some(super::meta::gid(st.st_gid as u64)),
                            )?;
                        }
                        rfs::fchmod(sub.as_fd(), Mode::from_raw_mode(st.st_mode & 0o7777))?;
                        fd = sub;
                        cur.push(c);
                        copied.push(CopiedUp {
                            path: cur.clone(),
                            stat: st,
                        });
                        continue;
                    }
                    Lower::Absent | Lower::Other => {
                        // Absent everywhere (or a lower non-directory, which the new
                        // directory hides): a plain new directory.
                        mkdir(&fd, &c)?;
                        fd = open_sub(&fd, &c)?;
                        cur.push(c);
                        lowers_absent = true;
                        continue;
                    }
                }
            }
        };
        // A symlink (in this layer or a lower one): continue from its target, confined.
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno::LOOP);
        }
        for p in link.split(|&b| b == b'/').rev() {
            queue.push_front(OsString::from_vec(p.to_vec()));
        }
        if link.starts_with(b"/") {
            cur.clear();
            fd = reopen(root)?;
            lowers_absent = lowers.is_empty();
        }
    }
    Ok(fd)
}

fn mkdir(dir: &OwnedFd, name: &OsStr) -> std::result::Result<(), Errno> {
    match rfs::mkdirat(dir.as_fd(), name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}
