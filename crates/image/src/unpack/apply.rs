//! Applies one tar layer to a directory, confined to it (see `fsops`).

use super::lowers::{open_parent, Lowers, NoLowers};
use super::meta::{gid, has_xattrs, set_xattrs, ts, uid, umask};
use super::names::clean_components;
use super::pool::{create_exclusive, finish_file, FileJob, FileMeta, Pool, SMALL_FILE};
use crate::error::{Error, Result};
use crate::fsops::{self, lstat_at, open_dir_in, remove_all_at};
pub use crate::snapshot::format::xattr_allowed;
use crate::snapshot::format::{self, make_whiteout, mark_opaque};
use crate::snapshot::DeferredLink;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
use rustix::io::Errno;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use strata_os::direct::{self, DirectFile};

/// Files at least this large are written around the page cache.
const DIRECT_MIN: u64 = 4 << 20;

/// How whiteouts are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Keep the layer as an overlayfs upper dir: whiteouts become 0/0 character devices,
    /// opaque dirs get `trusted.overlay.opaque=y`. Used for snapshots.
    Overlay,
    /// Apply onto a flattened tree: whiteouts delete, opaque markers empty the directory.
    Flatten,
}

/// Options of one application.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Whiteout handling.
    pub whiteouts: WhiteoutMode,
    /// Rootless store: no chown, device nodes refused.
    pub rootless: bool,
    /// Threads creating small files in parallel (0: all on the reading thread).
    pub workers: usize,
}

impl ApplyOptions {
    /// Options with the default number of workers (`STRATA_UNPACK_WORKERS`, else 0: on
    /// this project's loaded 2-core machines extra threads only added contention).
    pub fn new(whiteouts: WhiteoutMode, rootless: bool) -> Self {
        ApplyOptions {
            whiteouts,
            rootless,
            workers: default_workers(),
        }
    }
}

/// What an application did.
#[derive(Debug, Default, Clone)]
pub struct ApplyStats {
    /// Entries applied.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries refused and skipped (devices in rootless mode).
    pub skipped: u64,
    /// Hard links to lower layers, resolved when the snapshot is committed.
    pub deferred_links: Vec<DeferredLink>,
}

struct Applier<'a> {
    root: &'a OwnedFd,
    lowers: &'a dyn Lowers,
    /// The lower snapshots' roots, fetched when first needed.
    lower_roots: Option<Vec<Arc<OwnedFd>>>,
    pool: Option<&'a Pool>,
    /// Paths of files queued in the pool and maybe not written yet.
    pending: HashSet<Vec<OsString>>,
    /// (effective uid, effective gid, umask) of this process.
    ids: (u32, u32, u32),
    /// Whether the cached parent directory is set-group-id (None: not looked at yet).
    parent_sgid: Option<bool>,
    opts: ApplyOptions,
    stats: ApplyStats,
    cache: Option<(Vec<OsString>, Arc<OwnedFd>)>,
    dir_times: Vec<(Vec<OsString>, u64)>,
    buf: Vec<u8>,
}

/// `STRATA_UNPACK_WORKERS`, default 0.
fn default_workers() -> usize {
    static W: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *W.get_or_init(|| {
        std::env::var("STRATA_UNPACK_WORKERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// Applies the tar stream `r` to the directory `root`, with no lower snapshots.
pub fn apply_tar<R: Read>(r: R, root: &OwnedFd, opts: ApplyOptions) -> Result<ApplyStats> {
    apply_tar_over(r, root, opts, &NoLowers)
}

/// Applies the tar stream `r` to the directory `root` as if onto the merged view of
/// `lowers` (parent directories absent from `root` are resolved through them, see
/// [`super::lowers`]).
pub fn apply_tar_over<R: Read>(
    r: R,
    root: &OwnedFd,
    opts: ApplyOptions,
    lowers: &dyn Lowers,
) -> Result<ApplyStats> {
    if opts.workers == 0 {
        return apply_with(r, root, opts, lowers, None);
    }
    std::thread::scope(|scope| {
        let pool = Pool::start(scope, opts.workers);
        let res = apply_with(r, root, opts, lowers, Some(&pool));
        let closed = pool.close();
        let stats = res?;
        closed?;
        Ok(stats)
    })
}

fn apply_with<R: Read>(
    r: R,
    root: &OwnedFd,
    opts: ApplyOptions,
    lowers: &dyn Lowers,
    pool: Option<&Pool>,
) -> Result<ApplyStats> {
    let mut a = Applier {
        root,
        lowers,
        lower_roots: None,
        pool,
        pending: HashSet::new(),
        ids: (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
            umask(),
        ),
        parent_sgid: None,
        opts,
        stats: ApplyStats::default(),
        cache: None,
        dir_times: Vec::new(),
        buf: vec![0u8; 1 << 20],
    };
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().map_err(|e| Error::io("read tar", e))? {
        let mut e = e.map_err(|e| Error::io("read tar entry", e))?;
        // The name as the archive has it: bytes to the system calls, lossy only in messages.
        let name = e.path_bytes().into_owned();
        a.entry(&mut e, &name).map_err(|err| match err {
            Error::Unsafe { .. } => err,
            other => other.context(format!("entry {:?}", lossy(&name))),
        })?;
        a.stats.entries += 1;
    }
    a.sync()?;
    a.cache = None;
    // Directory mtimes last: creating children changed them.
    for (comps, mtime) in std::mem::take(&mut a.dir_times) {
        if let Ok(fd) = open_dir_in(root, &comps) {
            let _ = rfs::futimens(fd.as_fd(), &ts(mtime));
        }
    }
    // Drain trailing blocks so the caller's digest covers the whole stream.
    let mut inner = ar.into_inner();
    std::io::copy(&mut inner, &mut std::io::sink()).map_err(|e| Error::io("read tar", e))?;
    Ok(a.stats)
}

/// An archive name for messages (lossy UTF-8: only ever displayed).
pub(crate) fn lossy(name: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(name)
}

fn sys(op: &str, name: &[u8], e: Errno) -> Error {
    Error::io(format!("{op} {:?}", lossy(name)), e.into())
}

/// The link name of a symlink or hard link entry, as bytes (empty when absent).
fn link_target<R: Read>(e: &tar::Entry<'_, R>) -> Vec<u8> {
    e.link_name_bytes()
        .map(|b| b.into_owned())
        .unwrap_or_default()
}

/// Owner (unless rootless) and mtime of a just-made symlink or device node, without
/// following it; a failed mtime is ignored, as for every non-file entry.
fn node_meta(
    p: &OwnedFd,
    base: &OsStr,
    name: &[u8],
    rootless: bool,
    uid_: u64,
    gid_: u64,
    mtime: u64,
) -> Result<()> {
    if !rootless {
        rfs::chownat(
            p.as_fd(),
            base,
            Some(uid(uid_)),
            Some(gid(gid_)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|err| sys("chown", name, err))?;
    }
    let _ = rfs::utimensat(p.as_fd(), base, &ts(mtime), AtFlags::SYMLINK_NOFOLLOW);
    Ok(())
}

impl Applier<'_> {
    /// Takes the parent directory fd (from the cache, or resolved and created).
    fn take_parent(&mut self, comps: &[OsString], name: &[u8]) -> Result<Arc<OwnedFd>> {
        match self.cache.take() {
            Some((p, fd)) if p.as_slice() == comps => Ok(fd),
            _ => {
                self.parent_sgid = None;
                match open_dir_in(self.root, comps) {
                    Ok(fd) => Ok(Arc::new(fd)),
                    Err(Errno::NOENT) | Err(Errno::NOTDIR) => self.make_parent(comps, name),
                    Err(e) => Err(sys("open parent of", name, e)),
                }
            }
        }
    }

    /// A parent directory absent from this snapshot: resolved through the lower ones.
    fn make_parent(&mut self, comps: &[OsString], name: &[u8]) -> Result<Arc<OwnedFd>> {
        if self.lower_roots.is_none() {
            self.lower_roots = Some(self.lowers.roots()?);
        }
        let lowers = self.lower_roots.as_deref().unwrap_or_default();
        let mut copied = Vec::new();
        let overlay = self.opts.whiteouts == WhiteoutMode::Overlay;
        let fd = open_parent(
            self.root,
            lowers,
            comps,
            self.opts.rootless,
            overlay,
            &mut copied,
        )
        .map_err(|e| sys("open parent of", name, e))?;
        for c in copied {
            self.dir_times.push((c.path, c.stat.st_mtime));
        }
        Ok(Arc::new(fd))
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<()> {
        let comps = clean_components(name);
        // An entry at or above the cached parent may replace it: drop the cache.
        if let Some((p, _)) = &self.cache {
            if p.starts_with(&comps) {
                self.cache = None;
            }
        }
        let h = e.header().clone();
        let kind = h.entry_type();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid_, gid_) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
        let mtime = h.mtime().unwrap_or(0);
        let Some((base, parent)) = comps.split_last() else {
            // The root itself ("./"): only its metadata.
            if kind.is_dir() {
                self.set_dir_meta(&[], mode, uid_, gid_, mtime, e)?;
            }
            return Ok(());
        };
        if self.opts.rootless && (kind.is_character_special() || kind.is_block_special()) {
            tracing::warn!(entry = %lossy(name), "device node refused in a rootless store");
            self.stats.skipped += 1;
            return Ok(());
        }
        let offload = self.pool.is_some()
            && kind.is_file()
            && h.size().unwrap_or(u64::MAX) <= SMALL_FILE
            && !base.as_bytes().starts_with(format::WHITEOUT_PREFIX)
            && !has_xattrs(e);
        // Keep the archive's order: anything but a new small file waits for the queued
        // ones, and so does a small file whose path or an ancestor is still queued.
        if !offload || (1..=comps.len()).any(|i| self.pending.contains(&comps[..i])) {
            self.sync()?;
        }
        let p = self.take_parent(parent, name)?;
        let r = if let Some(wh) = base.as_bytes().strip_prefix(format::WHITEOUT_PREFIX) {
            self.whiteout(&p, OsStr::from_bytes(wh), name)
        } else if offload {
            self.queue_file(&p, &comps, e, name, mode, uid_, gid_, mtime)
        } else {
            self.entry_at(&p, &comps, e, name)
        };
        self.cache = Some((parent.to_vec(), p));
        r
    }

    /// Waits for queued files.
    fn sync(&mut self) -> Result<()> {
        if let Some(pool) = self.pool {
            if !self.pending.is_empty() {
                self.pending.clear();
                pool.barrier()?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn queue_file<R: Read>(
        &mut self,
        p: &Arc<OwnedFd>,
        comps: &[OsString],
        e: &mut tar::Entry<'_, R>,
        name: &[u8],
        mode: u32,
        uid_: u64,
        gid_: u64,
        mtime: u64,
    ) -> Result<()> {
        let mut data = Vec::with_capacity(e.header().size().unwrap_or(0) as usize);
        e.read_to_end(&mut data)
            .map_err(|err| Error::io("read tar", err))?;
        self.stats.bytes += data.len() as u64;
        let meta = self.file_meta(p, mode, uid_, gid_, mtime);
        self.pending.insert(comps.to_vec());
        self.pool.expect("pool").submit(FileJob {
            parent: p.clone(),
            base: comps.last().expect("non-empty").clone(),
            name: name.to_vec(),
            data,
            meta,
        })
    }

    fn file_meta(&mut self, p: &OwnedFd, mode: u32, uid_: u64, gid_: u64, mtime: u64) -> FileMeta {
        let ids = self.ids;
        let differs = (uid_, gid_) != (ids.0 as u64, ids.1 as u64);
        let chown = !self.opts.rootless && (differs || self.parent_setgid(p));
        FileMeta {
            mode,
            uid: uid_.min(u32::MAX as u64 - 1) as u32,
            gid: gid_.min(u32::MAX as u64 - 1) as u32,
            mtime,
            chown,
            chmod: mode & 0o7000 != 0 || mode & ids.2 != 0,
        }
    }

    fn entry_at<R: Read>(
        &mut self,
        p: &OwnedFd,
        comps: &[OsString],
        e: &mut tar::Entry<'_, R>,
        name: &[u8],
    ) -> Result<()> {
        let base = comps.last().expect("non-empty").clone();
        let h = e.header().clone();
        let kind = h.entry_type();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid_, gid_) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
        let mtime = h.mtime().unwrap_or(0);
        let opts = self.opts;
        if kind.is_file() || kind == tar::EntryType::Continuous {
            return self.regular_file(p, &base, e, name, mode, uid_, gid_, mtime);
        }
        // Replace whatever is there, unless both are directories.
        if let Some(st) = lstat_at(p, &base).map_err(|e| sys("stat", name, e))? {
            if !(kind.is_dir() && fsops::is_dir(&st)) {
                remove_all_at(p, &base).map_err(|e| sys("remove", name, e))?;
            }
        }
        if kind.is_dir() {
            match rfs::mkdirat(p.as_fd(), &base, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(err) => return Err(sys("mkdir", name, err)),
            }
            return self.set_dir_meta(comps, mode, uid_, gid_, mtime, e);
        }
        if kind.is_symlink() {
            let target = link_target(e);
            rfs::symlinkat(OsStr::from_bytes(&target), p.as_fd(), &base)
                .map_err(|err| sys("symlink", name, err))?;
            return node_meta(p, &base, name, opts.rootless, uid_, gid_, mtime);
        }
        if kind.is_hard_link() {
            let target = link_target(e);
            let tcomps = clean_components(&target);
            let Some((tbase, tparent)) = tcomps.split_last() else {
                return Err(Error::Unsafe {
                    entry: lossy(name).into(),
                    msg: "hard link to the root directory".into(),
                });
            };
            let tp = match open_dir_in(self.root, tparent) {
                Ok(fd) => Some(fd),
                Err(Errno::NOENT) | Err(Errno::NOTDIR) => None,
                Err(err) => return Err(sys("open link target parent of", name, err)),
            };
            let linked = match &tp {
                Some(tp) => match lstat_at(tp, tbase)
                    .map_err(|err| sys("stat link target of", name, err))?
                {
                    Some(st) if fsops::is_dir(&st) => {
                        return Err(Error::Unsafe {
                            entry: lossy(name).into(),
                            msg: "hard link to a directory".into(),
                        })
                    }
                    Some(_) => {
                        rfs::linkat(tp.as_fd(), tbase, p.as_fd(), &base, AtFlags::empty())
                            .map_err(|err| sys("link", name, err))?;
                        true
                    }
                    None => false,
                },
                None => false,
            };
            if !linked {
                match opts.whiteouts {
                    WhiteoutMode::Overlay => self.stats.deferred_links.push(DeferredLink {
                        link: comps.to_vec(),
                        target: tcomps.clone(),
                    }),
                    WhiteoutMode::Flatten => {
                        return Err(Error::NotFound(format!(
                            "hard link target {:?} of {:?}",
                            lossy(&target),
                            lossy(name)
                        )))
                    }
                }
            }
            return Ok(());
        }
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            let ft = if kind.is_character_special() {
                FileType::CharacterDevice
            } else if kind.is_block_special() {
                FileType::BlockDevice
            } else {
                FileType::Fifo
            };
            let dev = rfs::makedev(
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            );
            rfs::mknodat(p.as_fd(), &base, ft, Mode::from_raw_mode(mode), dev)
                .map_err(|err| sys("mknod", name, err))?;
            return node_meta(p, &base, name, opts.rootless, uid_, gid_, mtime);
        }
        tracing::debug!(entry = %lossy(name), ?kind, "skipping unsupported tar entry type");
        Ok(())
    }

    /// The hot path (most entries are regular files): create exclusively without a prior
    /// stat, with the final permission bits, and skip chown/chmod when they change nothing.
    #[allow(clippy::too_many_arguments)]
    fn regular_file<R: Read>(
        &mut self,
        p: &OwnedFd,
        base: &OsStr,
        e: &mut tar::Entry<'_, R>,
        name: &[u8],
        mode: u32,
        uid_: u64,
        gid_: u64,
        mtime: u64,
    ) -> Result<()> {
        let mut f = create_exclusive(p, base, name, mode)?;
        if e.header().size().unwrap_or(0) >= DIRECT_MIN && direct::enabled() {
            // Large: bypassing the page cache saves the pull's cores its copying and
            // writeback (see `store::direct`).
            let mut w = DirectFile::new(f);
            let n = w.copy_from(e).map_err(|err| {
                Error::io(format!("unpack {:?}", lossy(name)), err) // read or write
            })?;
            self.stats.bytes += n;
            f = w
                .into_inner()
                .map_err(|err| Error::io(format!("write {:?}", lossy(name)), err))?;
        } else {
            loop {
                let n = e
                    .read(&mut self.buf)
                    .map_err(|err| Error::io("read tar", err))?;
                if n == 0 {
                    break;
                }
                f.write_all(&self.buf[..n])
                    .map_err(|err| Error::io(format!("write {:?}", lossy(name)), err))?;
                self.stats.bytes += n as u64;
            }
        }
        let fd = OwnedFd::from(f);
        let meta = self.file_meta(p, mode, uid_, gid_, mtime);
        // chown clears security.capability: xattrs after owner and mode.
        finish_file(&fd, name, &meta)?;
        set_xattrs(&fd, e, name)
    }

    /// Whether the directory `p` has the set-group-id bit (new files inherit its group).
    fn parent_setgid(&mut self, p: &OwnedFd) -> bool {
        *self.parent_sgid.get_or_insert_with(|| {
            rfs::fstat(p.as_fd()).map_or(true, |st| st.st_mode & 0o2000 != 0)
        })
    }

    fn set_dir_meta<R: Read>(
        &mut self,
        comps: &[OsString],
        mode: u32,
        uid_: u64,
        gid_: u64,
        mtime: u64,
        e: &mut tar::Entry<'_, R>,
    ) -> Result<()> {
        let path = fsops::join(comps);
        let name = path.as_os_str().as_bytes();
        let fd = open_dir_in(self.root, comps).map_err(|err| sys("open dir", name, err))?;
        if !self.opts.rootless {
            rfs::fchown(fd.as_fd(), Some(uid(uid_)), Some(gid(gid_)))
                .map_err(|err| sys("chown", name, err))?;
        }
        rfs::fchmod(fd.as_fd(), Mode::from_raw_mode(mode))
            .map_err(|err| sys("chmod", name, err))?;
        set_xattrs(&fd, e, name)?;
        self.dir_times.push((comps.to_vec(), mtime));
        Ok(())
    }

    fn whiteout(&mut self, p: &OwnedFd, wh: &OsStr, name: &[u8]) -> Result<()> {
        let opts = self.opts;
        let whb = wh.as_bytes();
        if Some(whb) == format::OPAQUE_MARKER.strip_prefix(format::WHITEOUT_PREFIX) {
            match opts.whiteouts {
                WhiteoutMode::Overlay => mark_opaque(p).map_err(|e| sys("mark opaque", name, e))?,
                WhiteoutMode::Flatten => {
                    fsops::clear_dir(p).map_err(|e| sys("clear opaque dir", name, e))?
                }
            }
            return Ok(());
        }
        if whb.starts_with(format::WHITEOUT_PREFIX) {
            return Ok(()); // other AUFS metadata (.wh..wh.plnk ...): ignored
        }
        if whb.is_empty() || whb == b"." || whb == b".." || whb.contains(&b'/') {
            return Err(Error::Unsafe {
                entry: lossy(name).into(),
                msg: "whiteout of an invalid name".into(),
            });
        }
        // The parent is resolved inside the root, so a whiteout cannot reach outside it.
        match opts.whiteouts {
            WhiteoutMode::Overlay => {
                remove_all_at(p, wh).map_err(|e| sys("remove", name, e))?;
                make_whiteout(p, wh).map_err(|e| sys("create whiteout", name, e))?;
            }
            WhiteoutMode::Flatten => remove_all_at(p, wh).map_err(|e| sys("remove", name, e))?,
        }
        Ok(())
    }
}
