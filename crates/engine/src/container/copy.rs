//! `cp` and `export`: files in and out of a container's filesystem, resolved inside it with the
//! confined resolver (a symlink in the container cannot make the copy read or write the
//! host's files). A running container is reached through `/proc/<pid>/root`, so its volumes
//! and mounts are seen as it sees them; a stopped one through its root filesystem, mounted
//! for the copy.

use super::{rootfs, Container};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use strata_os::Confined;

/// A container's root, held open for a copy.
pub struct Root {
    fd: OwnedFd,
}

/// Opens the root a copy works in, and whether its root filesystem was mounted for it.
pub fn open_root(e: &Engine, c: &Container) -> Result<(Root, Option<String>)> {
    if c.state.status.is_live() && c.state.pid > 0 {
        let p = format!("/proc/{}/root", c.state.pid);
        let fd = strata_os::fd::open(&p, libc::O_PATH | libc::O_DIRECTORY, 0)
            .ctx(|| format!("container {}: open its root", c.name))?;
        return Ok((Root { fd }, None));
    }
    let mounted = strata_os::mount::is_mountpoint(&e.paths.rootfs(&c.id));
    let dir = rootfs::mount(e, &c.id, &c.config.image_id)?;
    let fd = strata_os::fd::open(&dir, libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| format!("container {}: open its root", c.name))?;
    Ok((Root { fd }, (!mounted).then(|| c.id.clone())))
}

impl Root {
    /// The confined resolver over this root.
    pub fn confined(&self) -> Confined<'_> {
        Confined::new(self.fd.as_fd())
    }
}

/// What is at a path of a container (the Docker API's `X-Docker-Container-Path-Stat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStat {
    /// Its size in bytes.
    pub size: u64,
    /// Its `st_mode` (type and permission bits).
    pub mode: u32,
    /// Its modification time, seconds since the epoch.
    pub mtime: i64,
}

/// Looks at `path` inside the container, resolved with the confined resolver (a symlink
/// is followed within the container's root, never out of it); `NotFound` when nothing is
/// there.
pub fn stat(e: &Engine, c: &Container, path: &str) -> Result<PathStat> {
    let (root, mounted) = open_root(e, c)?;
    let res = (|| {
        let fd = root
            .confined()
            .open(path, libc::O_PATH)
            .map_err(|err| Error::NotFound(format!("container {}: {path}: {err}", c.name)))?;
        let m = std::fs::metadata(strata_os::fd::fd_path(fd.as_raw_fd()))
            .ctx(|| format!("container {}: stat {path}", c.name))?;
        Ok(PathStat {
            size: m.size(),
            mode: m.mode(),
            mtime: m.mtime(),
        })
    })();
    finish(e, c, mounted);
    res
}

/// Copies the tree at `src` (an `O_PATH` descriptor inside the container) to the host path
/// `dst`, never following the container's symlinks; `owners`: with their owners too.
fn copy_out_fd(src: &OwnedFd, dst: &Path, owners: bool) -> Result<()> {
    let meta = std::fs::metadata(strata_os::fd::fd_path(src.as_raw_fd()))
        .ctx(|| "stat the source".into())?;
    if meta.is_dir() {
        std::fs::create_dir_all(dst).ctx(|| format!("create {}", dst.display()))?;
        let dir =
            strata_os::fd::openat(src.as_raw_fd(), ".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
                .ctx(|| "open the source directory".into())?;
        for ent in std::fs::read_dir(strata_os::fd::fd_path(dir.as_raw_fd()))
            .ctx(|| "read the source directory".into())?
            .flatten()
        {
            let name = ent.file_name();
            let ft = ent.file_type().ctx(|| "stat an entry".into())?;
            let target = dst.join(&name);
            if ft.is_symlink() {
                let l = std::fs::read_link(ent.path())
                    .ctx(|| format!("read link {}", name.to_string_lossy()))?;
                let _ = std::fs::remove_file(&target);
                std::os::unix::fs::symlink(l, &target)
                    .ctx(|| format!("create {}", target.display()))?;
                if owners {
                    let m = ent.metadata().ctx(|| "stat a link".into())?;
                    std::os::unix::fs::lchown(&target, Some(m.uid()), Some(m.gid()))
                        .ctx(|| format!("chown {}", target.display()))?;
                }
            } else {
                let child = strata_os::fd::openat(
                    dir.as_raw_fd(),
                    &name,
                    libc::O_PATH | libc::O_NOFOLLOW,
                    0,
                )
                .ctx(|| format!("open {}", name.to_string_lossy()))?;
                copy_out_fd(&child, &target, owners)?;
            }
        }
        set_owner(dst, &meta, owners)?;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .ctx(|| format!("chmod {}", dst.display()))?;
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(()); // devices, fifos and sockets are not copied
    }
    // Reopened through its descriptor: the object found, not a path looked up again.
    let mut from = File::from(
        strata_os::fd::open(strata_os::fd::fd_path(src.as_raw_fd()), libc::O_RDONLY, 0)
            .ctx(|| "open the source file".into())?,
    );
    let mut to = File::create(dst).ctx(|| format!("create {}", dst.display()))?;
    std::io::copy(&mut from, &mut to).ctx(|| format!("copy to {}", dst.display()))?;
    set_owner(dst, &meta, owners)?;
    to.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .ctx(|| format!("chmod {}", dst.display()))?;
    Ok(())
}

fn set_owner(dst: &Path, meta: &std::fs::Metadata, owners: bool) -> Result<()> {
    if owners {
        std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
            .ctx(|| format!("chown {}", dst.display()))?;
    }
    Ok(())
}

/// Docker's copy-up: a new (empty) volume mounted over a directory of the image gets that
/// directory's content, owners and mode. `rootfs` is the container's mounted root
/// filesystem; `target` is resolved inside it. Returns whether anything was copied.
pub fn copy_up(rootfs: &Path, target: &str, volume: &Path) -> Result<bool> {
    let empty = std::fs::read_dir(volume)
        .ctx(|| format!("read {}", volume.display()))?
        .next()
        .is_none();
    if !empty {
        return Ok(false);
    }
    let root = strata_os::fd::open(rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .ctx(|| format!("open {}", rootfs.display()))?;
    let Ok(src) = Confined::new(root.as_fd()).open(target, libc::O_PATH) else {
        return Ok(false); // nothing there in the image
    };
    let is_dir = std::fs::metadata(strata_os::fd::fd_path(src.as_raw_fd()))
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if !is_dir {
        return Ok(false);
    }
    copy_out_fd(&src, volume, true)?;
    Ok(true)
}

/// `cp CONTAINER:SRC DST`.
pub fn copy_out(e: &Engine, c: &Container, src: &str, dst: &Path) -> Result<()> {
    let (root, mounted) = open_root(e, c)?;
    let res = (|| {
        let fd = root
            .confined()
            .open(src, libc::O_PATH)
            .map_err(|err| Error::NotFound(format!("container {}: {src}: {err}", c.name)))?;
        let is_dir = std::fs::metadata(strata_os::fd::fd_path(fd.as_raw_fd()))
            .map(|m| m.is_dir())
            .unwrap_or(false);
        let target = if dst.is_dir() && !(is_dir && src.ends_with("/.")) {
            dst.join(Path::new(src).file_name().unwrap_or(OsStr::new("root")))
        } else {
            dst.to_path_buf()
        };
        copy_out_fd(&fd, &target, false)
    })();
    finish(e, c, mounted);
    res
}

/// Copies the host tree `src` into the directory `dir` (a descriptor inside the container)
/// as `name`, with `*at` calls that never follow the container's symlinks; what it creates
/// gets `owner` (uid, gid) when given.
fn copy_in_at(src: &Path, dir: &OwnedFd, name: &OsStr, owner: Owner) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).ctx(|| format!("stat {}", src.display()))?;
    let cname = strata_os::cvt::os_cstr(name).ctx(|| "name".into())?;
    if meta.file_type().is_symlink() {
        let l = std::fs::read_link(src).ctx(|| format!("read link {}", src.display()))?;
        let cl = strata_os::path_cstr(&l).ctx(|| "link".into())?;
        // SAFETY: unlinkat and symlinkat with valid C strings relative to a directory we hold.
        unsafe {
            libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0);
            strata_os::cvt(libc::symlinkat(
                cl.as_ptr(),
                dir.as_raw_fd(),
                cname.as_ptr(),
            ))
            .ctx(|| format!("create link {}", name.to_string_lossy()))?;
        }
        return chown_at(dir, &cname, owner, &meta);
    }
    if meta.is_dir() {
        // SAFETY: mkdirat with a valid C string relative to a directory we hold.
        let r = unsafe { libc::mkdirat(dir.as_raw_fd(), cname.as_ptr(), meta.mode() & 0o7777) };
        if r != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            return Err(std::io::Error::last_os_error())
                .ctx(|| format!("create {}", name.to_string_lossy()));
        }
        if r == 0 {
            chown_at(dir, &cname, owner, &meta)?;
        }
        let sub = strata_os::fd::openat(
            dir.as_raw_fd(),
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .ctx(|| {
            format!(
                "{}: not a directory in the container",
                name.to_string_lossy()
            )
        })?;
        for ent in std::fs::read_dir(src)
            .ctx(|| format!("read {}", src.display()))?
            .flatten()
        {
            copy_in_at(&ent.path(), &sub, &ent.file_name(), owner)?;
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Ok(());
    }
    let mut from = File::open(src).ctx(|| format!("open {}", src.display()))?;
    let to = strata_os::fd::openat(
        dir.as_raw_fd(),
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW,
        meta.mode() & 0o7777,
    )
    .ctx(|| format!("create {} in the container", name.to_string_lossy()))?;
    let mut to = File::from(to);
    std::io::copy(&mut from, &mut to).ctx(|| format!("copy {}", src.display()))?;
    to.flush().ctx(|| "flush".into())?;
    chown_at(dir, &cname, owner, &meta)
}

/// Who owns what a copy into a container creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The copier (root): `docker cp`'s default.
    Caller,
    /// One user and group for everything (the builder's `COPY --chown`).
    Fixed(u32, u32),
    /// Each file's owner in the source (`docker cp -a`, the API's `copyUIDGID`).
    Source,
}

/// Gives `name` in `dir` (not following a link) to `owner` (`source`: the file copied).
fn chown_at(
    dir: &OwnedFd,
    name: &std::ffi::CStr,
    owner: Owner,
    source: &std::fs::Metadata,
) -> Result<()> {
    let (uid, gid) = match owner {
        Owner::Caller => return Ok(()),
        Owner::Fixed(uid, gid) => (uid, gid),
        Owner::Source => (source.uid(), source.gid()),
    };
    // SAFETY: fchownat on a name relative to a directory descriptor we hold, not following
    // a final symlink.
    let r = unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    strata_os::cvt(r)
        .map(drop)
        .ctx(|| format!("chown {}", name.to_string_lossy()))
}

/// `cp SRC CONTAINER:DST`.
pub fn copy_in(e: &Engine, c: &Container, src: &Path, dst: &str) -> Result<()> {
    copy_in_as(e, c, src, dst, Owner::Caller)
}

/// `copy_in`, what it creates owned as `owner` says.
pub fn copy_in_as(e: &Engine, c: &Container, src: &Path, dst: &str, owner: Owner) -> Result<()> {
    let (root, mounted) = open_root(e, c)?;
    let res = (|| {
        let conf = root.confined();
        let into_dir = conf.open(dst, libc::O_PATH | libc::O_DIRECTORY).ok();
        let (dir, name) = match into_dir {
            Some(d) => (
                strata_os::fd::openat(d.as_raw_fd(), ".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
                    .ctx(|| "open the destination".into())?,
                src.file_name()
                    .map(|n| n.to_os_string())
                    .unwrap_or_else(|| "file".into()),
            ),
            None => conf
                .parent_dir(dst)
                .map_err(|err| Error::NotFound(format!("container {}: {dst}: {err}", c.name)))?,
        };
        if name.as_bytes().contains(&b'/') {
            return Err(Error::Invalid(format!("bad destination {dst}")));
        }
        copy_in_at(src, &dir, &name, owner)
    })();
    finish(e, c, mounted);
    res
}

/// Unmounts a root filesystem mounted only for a copy.
fn finish(e: &Engine, c: &Container, mounted_for_copy: Option<String>) {
    if mounted_for_copy.is_some() && !c.state.status.is_live() {
        let _ = rootfs::unmount(e, &c.id);
    }
}

/// `export`: the container's filesystem as a tar stream.
pub fn export(e: &Engine, c: &Container, out: &mut dyn Write) -> Result<()> {
    let (root, mounted) = open_root(e, c)?;
    let res = (|| {
        let base = strata_os::fd::fd_path(root.fd.as_raw_fd());
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        for ent in std::fs::read_dir(&base)
            .ctx(|| "read the root".into())?
            .flatten()
        {
            let name = ent.file_name();
            if matches!(name.as_bytes(), b"proc" | b"sys" | b"dev") {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, Path::new(&name), std::io::empty())
                    .ctx(|| "write the tar".into())?;
                continue;
            }
            let p = ent.path();
            if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                b.append_dir_all(Path::new(&name), &p)
                    .ctx(|| format!("export {}", name.to_string_lossy()))?;
            } else {
                b.append_path_with_name(&p, Path::new(&name))
                    .ctx(|| format!("export {}", name.to_string_lossy()))?;
            }
        }
        b.finish().ctx(|| "write the tar".into())
    })();
    finish(e, c, mounted);
    res
}
