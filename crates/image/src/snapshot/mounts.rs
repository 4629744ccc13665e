//! Mounts as containerd describes them: what a snapshot's root filesystem is made of (a
//! type, a source, options), for whoever mounts it (the engine for a container's rootfs,
//! the builder for a RUN step), and [`mount_all`] / [`unmount`] to do it with
//! `strata_os::mount`.
//!
//! An overlay's directories are in its options (`lowerdir=`, `upperdir=`, `workdir=`),
//! with `\`, `:` and `,` escaped by a backslash as overlayfs reads them; [`mount_all`]
//! reads them back into a [`strata_os::mount::Overlay`], which mounts long layer lists
//! (more than a page of options) through `fsconfig` one layer at a time.

use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use strata_os::mount::{self as osmount, Overlay};

/// One mount of a snapshot's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// File system type: `overlay` or `bind`.
    pub fstype: String,
    /// What is mounted: `overlay`, or the directory bound.
    pub source: PathBuf,
    /// Options: `ro`/`rw`, `rbind`, an overlay's directories and settings.
    pub options: Vec<OsString>,
}

fn escape(p: &Path) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.as_os_str().len());
    for &b in p.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b':' | b',') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Splits `s` at unescaped `sep`s and unescapes the parts.
fn split_escaped(s: &[u8], sep: u8) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        match b {
            b'\\' => {
                if let Some(&n) = it.next() {
                    cur.push(n);
                }
            }
            b if b == sep => out.push(PathBuf::from(OsString::from_vec(std::mem::take(&mut cur)))),
            b => cur.push(b),
        }
    }
    out.push(PathBuf::from(OsString::from_vec(cur)));
    out
}

fn opt(key: &str, value: &[u8]) -> OsString {
    let mut v = key.as_bytes().to_vec();
    v.push(b'=');
    v.extend_from_slice(value);
    OsString::from_vec(v)
}

impl Mount {
    /// An overlay (read-only when it has no upper directory).
    pub fn overlay(o: &Overlay) -> Mount {
        let mut lowers = Vec::new();
        for (i, l) in o.lowers.iter().enumerate() {
            if i > 0 {
                lowers.push(b':');
            }
            lowers.extend_from_slice(&escape(l));
        }
        let mut options = vec![OsString::from(if o.upper.is_some() { "rw" } else { "ro" })];
        options.push(opt("lowerdir", &lowers));
        if let Some((u, w)) = &o.upper {
            options.push(opt("upperdir", &escape(u)));
            options.push(opt("workdir", &escape(w)));
        }
        options.extend(o.options.iter().map(OsString::from));
        Mount {
            fstype: "overlay".into(),
            source: PathBuf::from("overlay"),
            options,
        }
    }

    /// A bind mount of `source` (read-only if `readonly`).
    pub fn bind(source: &Path, readonly: bool) -> Mount {
        Mount {
            fstype: "bind".into(),
            source: source.to_path_buf(),
            options: vec!["rbind".into(), if readonly { "ro" } else { "rw" }.into()],
        }
    }

    /// Whether the options say read-only.
    pub fn readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    /// The overlay these options describe (`None` for another type).
    pub fn to_overlay(&self) -> Option<Overlay> {
        if self.fstype != "overlay" {
            return None;
        }
        let mut o = Overlay::default();
        let (mut upper, mut work) = (None, None);
        for opt in &self.options {
            let b = opt.as_bytes();
            if let Some(v) = b.strip_prefix(b"lowerdir=") {
                o.lowers = split_escaped(v, b':');
            } else if let Some(v) = b.strip_prefix(b"upperdir=") {
                upper = split_escaped(v, 0).pop();
            } else if let Some(v) = b.strip_prefix(b"workdir=") {
                work = split_escaped(v, 0).pop();
            } else if b != b"ro" && b != b"rw" {
                o.options.push(opt.to_string_lossy().into_owned());
            }
        }
        o.upper = upper.zip(work);
        Some(o)
    }
}

/// Mounts `mounts` in order on `target` (a directory). If one fails, the ones made
/// before it are unmounted again.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = osmount::umount2(target, libc::MNT_DETACH);
            }
            return Err(Error::io(
                format!("mount {} on {}", m.fstype, target.display()),
                e,
            ));
        }
    }
    Ok(())
}

fn mount_one(m: &Mount, target: &Path) -> std::io::Result<()> {
    match m.fstype.as_str() {
        "overlay" => m.to_overlay().expect("overlay").mount(target),
        "bind" => {
            let rec = if m.options.iter().any(|o| o == "rbind") {
                libc::MS_REC
            } else {
                0
            };
            osmount::bind(&m.source, target, rec)?;
            if m.readonly() {
                let r = osmount::change(
                    target,
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | rec,
                );
                if let Err(e) = r {
                    let _ = osmount::umount2(target, libc::MNT_DETACH);
                    return Err(e);
                }
            }
            Ok(())
        }
        other => {
            let flags = if m.readonly() { libc::MS_RDONLY } else { 0 };
            let data: Vec<&[u8]> = m
                .options
                .iter()
                .map(|o| o.as_bytes())
                .filter(|o| *o != b"ro" && *o != b"rw")
                .collect();
            let data = OsString::from_vec(data.join(&b','));
            osmount::mount(
                Some(m.source.as_os_str()),
                target,
                Some(other),
                flags,
                Some(OsStr::new(&data)),
            )
        }
    }
}

/// Unmounts everything [`mount_all`] mounted on `target` (lazily if it is busy).
pub fn unmount(target: &Path) -> Result<()> {
    // Mounts stack on the target: one umount per layer of them, until none is left.
    for _ in 0..64 {
        if !osmount::is_mountpoint(target) {
            return Ok(());
        }
        match osmount::umount2(target, 0) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                osmount::umount2(target, libc::MNT_DETACH)
                    .map_err(|e| Error::io(format!("unmount {}", target.display()), e))?;
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(()),
            Err(e) => return Err(Error::io(format!("unmount {}", target.display()), e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_round_trip_awkward_paths() {
        let o = Overlay {
            lowers: vec!["/s/a:b".into(), "/s/c,d".into(), "/s/e\\f".into()],
            upper: Some(("/a/u:1".into(), "/a/w".into())),
            options: vec!["index=off".into()],
        };
        let m = Mount::overlay(&o);
        assert_eq!(m.options[1], "lowerdir=/s/a\\:b:/s/c\\,d:/s/e\\\\f");
        assert_eq!(m.options[2], "upperdir=/a/u\\:1");
        assert!(!m.readonly());
        let back = m.to_overlay().unwrap();
        assert_eq!(back.lowers, o.lowers);
        assert_eq!(back.upper, o.upper);
        assert_eq!(back.options, o.options);
        let ro = Mount::overlay(&Overlay {
            lowers: vec!["/x".into(), "/y".into()],
            upper: None,
            options: vec![],
        });
        assert!(ro.readonly() && ro.to_overlay().unwrap().upper.is_none());
        assert!(Mount::bind(Path::new("/x"), true).to_overlay().is_none());
    }
}
