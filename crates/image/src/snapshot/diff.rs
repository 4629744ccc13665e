//! A snapshot's diff as an OCI layer tar: the inverse of the unpacker. The directory
//! walked is a layer in the snapshot format ([`super::format`], an overlayfs upper
//! directory): a whiteout (0/0 character device) becomes an empty `.wh.<name>` file, an
//! opaque directory gets a `.wh..wh..opq` file right after its own entry, hard links
//! inside the layer stay hard links, and the xattrs that are layer content (not
//! overlayfs' own) go into PAX `SCHILY.xattr.*` records.
//!
//! Entries are written parents first, each directory's children sorted by name (bytes),
//! so the same tree always gives the same tar, and so the same diff id. The tree is read
//! through descriptors, confined to its root, one directory open at a time.

use super::format::{is_opaque, is_whiteout, xattr_allowed, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::error::{Error, Result};
use crate::fsops::{self, join};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// What a diff contained.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiffStats {
    /// Tar entries written (whiteout and opaque markers included).
    pub entries: u64,
    /// Bytes of regular file content.
    pub bytes: u64,
}

/// Writes the layer directory `root` as an uncompressed OCI layer tar to `out`; returns
/// `out` (the tar finished) and what was written.
pub fn write_diff<W: Write>(root: &OwnedFd, out: W) -> Result<(W, DiffStats)> {
    write_diff_clamped(root, out, None)
}

/// [`write_diff`], modification times later than `clamp_mtime` (seconds since the epoch)
/// written as `clamp_mtime`: the same content gives the same tar whenever it was made
/// (`SOURCE_DATE_EPOCH`).
pub fn write_diff_clamped<W: Write>(
    root: &OwnedFd,
    out: W,
    clamp_mtime: Option<i64>,
) -> Result<(W, DiffStats)> {
    let mut w = Walker {
        root,
        tar: tar::Builder::new(out),
        links: HashMap::new(),
        stats: DiffStats::default(),
        clamp_mtime,
    };
    let mut dirs: Vec<Vec<OsString>> = vec![Vec::new()];
    while let Some(dir) = dirs.pop() {
        let subdirs = w
            .dir(&dir)
            .map_err(|e| e.context(format!("diff {:?}", join(&dir))))?;
        dirs.extend(subdirs.into_iter().rev());
    }
    let out = w
        .tar
        .into_inner()
        .map_err(|e| Error::io("write layer tar", e))?;
    Ok((out, w.stats))
}

struct Walker<'a, W: Write> {
    root: &'a OwnedFd,
    tar: tar::Builder<W>,
    /// Regular files with several links: (device, inode) -> the path written first.
    links: HashMap<(u64, u64), PathBuf>,
    stats: DiffStats,
    clamp_mtime: Option<i64>,
}

fn sys(op: &str, path: &Path, e: rustix::io::Errno) -> Error {
    Error::io(format!("{op} {path:?}"), e.into())
}

fn tar_err(path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("add {path:?} to the layer tar"), e)
}

/// The names in the directory `fd`, sorted (bytes).
fn names(fd: &OwnedFd) -> std::result::Result<Vec<OsString>, rustix::io::Errno> {
    let mut out = Vec::new();
    let mut rd = rfs::Dir::read_from(fd.as_fd())?;
    while let Some(e) = rd.read() {
        let n = e?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            out.push(OsString::from_vec(n));
        }
    }
    out.sort();
    Ok(out)
}

/// The xattrs of `fd` that are layer content (names that are not UTF-8 are skipped: a
/// PAX record key is UTF-8).
fn xattrs(fd: &OwnedFd) -> std::result::Result<Vec<(String, Vec<u8>)>, rustix::io::Errno> {
    let mut list = vec![0u8; 256];
    let n = loop {
        match rfs::flistxattr(fd.as_fd(), &mut list) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => list.resize(list.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in list[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if !xattr_allowed(name) {
            continue;
        }
        let mut v = vec![0u8; 256];
        let len = loop {
            match rfs::fgetxattr(fd.as_fd(), name, &mut v) {
                Ok(len) => break len,
                Err(rustix::io::Errno::RANGE) => v.resize(v.len() * 4, 0),
                Err(e) => return Err(e),
            }
        };
        v.truncate(len);
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// A PAX extended header (`x`) with one `SCHILY.xattr.<name>` record per xattr.
fn pax_records(xattrs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (k, v) in xattrs {
        // "<len> SCHILY.xattr.<k>=<v>\n", where <len> counts itself too.
        let rest = 1 + "SCHILY.xattr.".len() + k.len() + 1 + v.len() + 1;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} SCHILY.xattr.{k}=").as_bytes());
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    data
}

fn header_of(kind: tar::EntryType, st: &rfs::Stat, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime);
    h.set_size(size);
    h
}

impl<W: Write> Walker<'_, W> {
    /// An entry's header, its time clamped.
    fn header(&self, kind: tar::EntryType, st: &rfs::Stat, size: u64) -> tar::Header {
        let mut h = header_of(kind, st, size);
        if let Some(c) = self.clamp_mtime {
            let c = c.max(0) as u64;
            if st.st_mtime > c {
                h.set_mtime(c);
            }
        }
        h
    }

    /// Writes the entries of the directory `rel` (its own entry was written by its parent);
    /// returns its subdirectories, sorted.
    fn dir(&mut self, rel: &[OsString]) -> Result<Vec<Vec<OsString>>> {
        let here = join(rel);
        let fd = fsops::confined(self.root)
            .open(&here, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .map_err(|e| Error::io(format!("open {here:?}"), e))?;
        let mut subdirs = Vec::new();
        for name in names(&fd).map_err(|e| sys("list", &here, e))? {
            let mut comps = rel.to_vec();
            comps.push(name.clone());
            let path = join(&comps);
            let st = rfs::statat(fd.as_fd(), &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| sys("stat", &path, e))?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => {
                    self.directory(&fd, &name, &path, &st)?;
                    subdirs.push(comps);
                }
                FileType::RegularFile => self.file(&fd, &name, &path, &st)?,
                FileType::Symlink => {
                    let target = rfs::readlinkat(fd.as_fd(), &name, Vec::new())
                        .map_err(|e| sys("read link", &path, e))?;
                    let mut h = self.header(tar::EntryType::Symlink, &st, 0);
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    self.tar
                        .append_link(&mut h, &path, target)
                        .map_err(|e| tar_err(&path, e))?;
                    self.stats.entries += 1;
                }
                FileType::CharacterDevice if is_whiteout(&st) => {
                    let mut wh = WHITEOUT_PREFIX.to_vec();
                    wh.extend_from_slice(name.as_bytes());
                    let mut h = self.header(tar::EntryType::Regular, &st, 0);
                    h.set_mode(0);
                    let p = here.join(OsStr::from_bytes(&wh));
                    self.append(&mut h, &p, std::io::empty())?;
                }
                kind @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                    let t = match kind {
                        FileType::CharacterDevice => tar::EntryType::Char,
                        FileType::BlockDevice => tar::EntryType::Block,
                        _ => tar::EntryType::Fifo,
                    };
                    let mut h = self.header(t, &st, 0);
                    if t != tar::EntryType::Fifo {
                        let dev = st.st_rdev;
                        let _ = h.set_device_major(rfs::major(dev));
                        let _ = h.set_device_minor(rfs::minor(dev));
                    }
                    self.append(&mut h, &path, std::io::empty())?;
                }
                _ => {
                    tracing::debug!(path = ?path, "socket or unknown file type left out of the layer")
                }
            }
        }
        Ok(subdirs)
    }

    fn append<R: Read>(&mut self, h: &mut tar::Header, path: &Path, data: R) -> Result<()> {
        self.tar
            .append_data(h, path, data)
            .map_err(|e| tar_err(path, e))?;
        self.stats.entries += 1;
        Ok(())
    }

    fn pax(&mut self, fd: &OwnedFd, path: &Path) -> Result<()> {
        let x = xattrs(fd).map_err(|e| sys("read xattrs of", path, e))?;
        if x.is_empty() {
            return Ok(());
        }
        let data = pax_records(&x);
        let mut h = tar::Header::new_ustar();
        let name = b"././@PaxHeader";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.tar.append(&h, &data[..]).map_err(|e| tar_err(path, e))
    }

    fn directory(&mut self, fd: &OwnedFd, name: &OsStr, path: &Path, st: &rfs::Stat) -> Result<()> {
        let sub = rfs::openat(
            fd.as_fd(),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys("open", path, e))?;
        self.pax(&sub, path)?;
        let mut h = self.header(tar::EntryType::Directory, st, 0);
        let mut with_slash = path.as_os_str().as_bytes().to_vec();
        with_slash.push(b'/');
        self.append(
            &mut h,
            Path::new(OsStr::from_bytes(&with_slash)),
            std::io::empty(),
        )?;
        if is_opaque(&sub) {
            // Right after the directory, before anything new in it: applied onto a
            // flattened tree, the marker empties the directory.
            let mut h = self.header(tar::EntryType::Regular, st, 0);
            h.set_mode(0);
            self.append(
                &mut h,
                &path.join(OsStr::from_bytes(OPAQUE_MARKER)),
                std::io::empty(),
            )?;
        }
        Ok(())
    }

    fn file(&mut self, fd: &OwnedFd, name: &OsStr, path: &Path, st: &rfs::Stat) -> Result<()> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let mut h = self.header(tar::EntryType::Link, st, 0);
                let first = first.clone();
                self.tar
                    .append_link(&mut h, path, &first)
                    .map_err(|e| tar_err(path, e))?;
                self.stats.entries += 1;
                return Ok(());
            }
            self.links.insert(key, path.to_path_buf());
        }
        let f = rfs::openat(
            fd.as_fd(),
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| sys("open", path, e))?;
        self.pax(&f, path)?;
        let size = st.st_size.max(0) as u64;
        let mut h = self.header(tar::EntryType::Regular, st, size);
        let mut data = std::fs::File::from(f).take(size);
        self.append(&mut h, path, &mut data)?;
        if data.limit() != 0 {
            return Err(Error::io(
                format!("read {path:?}"),
                std::io::Error::other("file shrank while it was read"),
            ));
        }
        self.stats.bytes += size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root(p: &Path) -> OwnedFd {
        fsops::open_trusted_dir(p).unwrap()
    }

    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let kind = e.header().entry_type();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, kind, data)
            })
            .collect()
    }

    #[test]
    fn pax_lengths_count_themselves() {
        for vlen in [0, 1, 80, 86, 87, 900, 9990] {
            let rec = pax_records(&[("user.k".into(), vec![b'v'; vlen])]);
            let sp = rec.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&rec[..sp]).unwrap().parse().unwrap();
            assert_eq!(len, rec.len(), "value of {vlen} bytes");
        }
    }

    #[test]
    fn tree_order_links_and_bytes() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("b/sub")).unwrap();
        std::fs::write(r.join("b/sub/f"), "deep").unwrap();
        std::fs::write(r.join("a"), "one").unwrap();
        std::fs::hard_link(r.join("a"), r.join("c")).unwrap();
        symlink("/etc/passwd", r.join("l")).unwrap();
        std::fs::write(r.join(OsStr::from_bytes(b"n\xff")), "raw").unwrap();
        let (tar, st) = write_diff(&root(r), Vec::new()).unwrap();
        let e = entries(&tar);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            ["a", "b/", "c", "l", "n\u{fffd}", "b/sub/", "b/sub/f"]
        );
        assert_eq!(e[2].1, tar::EntryType::Link, "second name of a hard link");
        assert_eq!(e[0].2, b"one");
        assert_eq!(st.bytes, 3 + 4 + 3);
        assert_eq!(st.entries, 7);
        // The same tree gives the same bytes.
        assert_eq!(write_diff(&root(r), Vec::new()).unwrap().0, tar);
        // Names are bytes in the archive.
        let mut a = tar::Archive::new(&tar[..]);
        let raw: Vec<Vec<u8>> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        assert!(raw.contains(&b"n\xff".to_vec()));
    }
}
