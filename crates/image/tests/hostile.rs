//! A corpus of hostile layers, built here, each aimed at one defence of the unpacker.
//! Every test checks that nothing outside the snapshot directory changed.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use strata_image::fsops;
use strata_image::unpack::{apply_tar, ApplyOptions, WhiteoutMode};

/// Raw tar entries: names are written byte for byte (no sanitising by the tar crate).
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Xattr(&'a str, &'a str, &'a [u8]),
}

fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    let b = name.as_bytes();
    assert!(b.len() < 100);
    h.as_old_mut().name[..b.len()].copy_from_slice(b);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1);
    h
}

fn set_link(h: &mut tar::Header, target: &str) {
    let b = target.as_bytes();
    h.as_old_mut().linkname[..b.len()].copy_from_slice(b);
}

fn build(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(n, data) => {
                let mut h = raw_header(n, tar::EntryType::Regular, data.len() as u64);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            E::Dir(n) => {
                let mut h = raw_header(n, tar::EntryType::Directory, 0);
                h.set_mode(0o755);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::Symlink(n, t) | E::Hardlink(n, t) => {
                let kind = if matches!(e, E::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = raw_header(n, kind, 0);
                set_link(&mut h, t);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::Char(n, maj, min) => {
                let mut h = raw_header(n, tar::EntryType::Char, 0);
                h.set_device_major(*maj).unwrap();
                h.set_device_minor(*min).unwrap();
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            E::Xattr(n, key, val) => {
                let mut rec = Vec::new();
                let kv = format!(" SCHILY.xattr.{key}=");
                let len = kv.len() + val.len() + 1;
                let mut total = len + len.to_string().len();
                if total.to_string().len() != len.to_string().len() {
                    total += 1;
                }
                rec.extend_from_slice(format!("{total}{kv}").as_bytes());
                rec.extend_from_slice(val);
                rec.push(b'\n');
                let mut ph = raw_header("PaxHeaders/x", tar::EntryType::XHeader, rec.len() as u64);
                ph.set_cksum();
                b.append(&ph, &rec[..]).unwrap();
                let mut h = raw_header(n, tar::EntryType::Regular, 1);
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

struct Case {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
    fd: OwnedFd,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    std::fs::write(outside.join("victim"), b"victim").unwrap();
    let fd = fsops::open_trusted_dir(&root).unwrap();
    Case {
        _dir: dir,
        root,
        outside,
        fd,
    }
}

fn opts(whiteouts: WhiteoutMode) -> ApplyOptions {
    ApplyOptions {
        whiteouts,
        rootless: false,
        workers: 0,
    }
}

/// The same with the parallel small-file writers.
fn popts(whiteouts: WhiteoutMode) -> ApplyOptions {
    ApplyOptions {
        workers: 3,
        ..opts(whiteouts)
    }
}

fn outside_untouched(c: &Case) {
    let mut names: Vec<String> = std::fs::read_dir(&c.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["secret", "victim"], "nothing created outside");
    assert_eq!(std::fs::read(c.outside.join("secret")).unwrap(), b"secret");
    assert_eq!(std::fs::read(c.outside.join("victim")).unwrap(), b"victim");
    assert_eq!(
        std::fs::metadata(c.outside.join("secret")).unwrap().nlink(),
        1,
        "no hard link to outside"
    );
}

fn exists_in(root: &Path, p: &str) -> bool {
    std::fs::symlink_metadata(root.join(p)).is_ok()
}

#[test]
fn absolute_names_are_confined() {
    let c = case();
    let abs = format!("{}/pwned", c.outside.display());
    apply_tar(
        &build(&[E::File(&abs, b"x")])[..],
        &c.fd,
        opts(WhiteoutMode::Overlay),
    )
    .unwrap();
    outside_untouched(&c);
    assert!(
        exists_in(&c.root, abs.trim_start_matches('/')),
        "written inside the root instead"
    );
}

#[test]
fn dotdot_names_are_confined() {
    let c = case();
    let t = build(&[
        E::File("../outside/pwned", b"x"),
        E::File("a/../../../outside/secret", b"overwritten"),
    ]);
    apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Overlay)).unwrap();
    outside_untouched(&c);
    assert!(exists_in(&c.root, "outside/pwned"));
    assert_eq!(
        std::fs::read(c.root.join("outside/secret")).unwrap(),
        b"overwritten"
    );
}

#[test]
fn symlinked_parent_directories_do_not_escape() {
    for target in [None, Some("../../outside"), Some("../..")] {
        let c = case();
        let target = target.map_or_else(|| c.outside.display().to_string(), str::to_string);
        let t = build(&[
            E::Symlink("link", &target),
            E::File("link/pwned", b"x"),
            E::File("link/secret", b"overwritten"),
            E::Dir("link/sub"),
            E::File("link/sub/deep", b"x"),
        ]);
        // Either refused or confined; never outside; with or without parallel writers.
        let _ = apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Overlay));
        outside_untouched(&c);
        let _ = apply_tar(&t[..], &c.fd, popts(WhiteoutMode::Overlay));
        outside_untouched(&c);
    }
}

#[test]
fn hard_links_to_outside_are_not_made() {
    let c = case();
    let abs = format!("{}/secret", c.outside.display());
    for (mode, must_fail) in [
        (WhiteoutMode::Flatten, true),
        (WhiteoutMode::Overlay, false),
    ] {
        for target in [
            abs.as_str(),
            "../outside/secret",
            "../../../../../outside/secret",
        ] {
            let r = apply_tar(&build(&[E::Hardlink("hl", target)])[..], &c.fd, opts(mode));
            assert_eq!(r.is_err(), must_fail, "{target} in {mode:?}: {r:?}");
            if let Ok(st) = r {
                // Overlay mode defers links to lower layers: they are resolved only inside
                // the lower snapshots, and never here.
                assert_eq!(st.deferred_links.len(), 1);
            }
            outside_untouched(&c);
            assert!(!exists_in(&c.root, "hl"));
        }
    }
    // Through a symlinked parent.
    let t = build(&[
        E::Symlink("l", &c.outside.display().to_string()),
        E::Hardlink("hl2", "l/secret"),
    ]);
    let _ = apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Flatten));
    outside_untouched(&c);
    assert!(!exists_in(&c.root, "hl2"));
}

#[test]
fn whiteouts_cannot_delete_outside() {
    let c = case();
    let abs = format!("{}/.wh.victim", c.outside.display());
    let t = build(&[
        E::File(&abs, b""),
        E::File("../outside/.wh.secret", b""),
        E::Symlink("l", &c.outside.display().to_string()),
        E::File("l/.wh.victim", b""),
        E::File("l/.wh..wh..opq", b""),
    ]);
    let _ = apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Flatten));
    outside_untouched(&c);
    let c = case();
    let e = apply_tar(
        &build(&[E::File("dir/.wh..", b"")])[..],
        &c.fd,
        opts(WhiteoutMode::Flatten),
    )
    .unwrap_err();
    assert!(e.to_string().contains("whiteout of an invalid name"), "{e}");
    outside_untouched(&c);
}

#[test]
fn files_replace_symlinks_instead_of_following_them() {
    let c = case();
    let t = build(&[
        E::Symlink("f", &format!("{}/victim", c.outside.display())),
        E::File("f", b"replaced"),
    ]);
    apply_tar(&t[..], &c.fd, popts(WhiteoutMode::Overlay)).unwrap();
    outside_untouched(&c);
    assert_eq!(std::fs::read(c.root.join("f")).unwrap(), b"replaced");
}

#[test]
fn device_nodes_refused_in_rootless_store() {
    let c = case();
    let t = build(&[E::Char("dev/null", 1, 3), E::Char("dev/mem", 1, 1)]);
    let st = apply_tar(
        &t[..],
        &c.fd,
        ApplyOptions {
            whiteouts: WhiteoutMode::Overlay,
            rootless: true,
            workers: 0,
        },
    )
    .unwrap();
    assert_eq!(st.skipped, 2);
    assert!(!exists_in(&c.root, "dev/mem"));
    if strata_testkit::is_root() {
        let c = case();
        apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Overlay)).unwrap();
        assert!(
            exists_in(&c.root, "dev/null"),
            "a rootful store keeps device nodes"
        );
    }
}

#[test]
fn overlay_xattrs_from_archives_are_refused() {
    let c = case();
    let t = build(&[E::Xattr("x", "trusted.overlay.redirect", b"/etc")]);
    let e = apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Overlay)).unwrap_err();
    assert!(
        e.to_string()
            .contains("xattr trusted.overlay.redirect refused"),
        "{e}"
    );
    let c = case();
    let t = build(&[E::Xattr("y", "user.note", b"ok")]);
    apply_tar(&t[..], &c.fd, opts(WhiteoutMode::Overlay)).unwrap();
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(c.root.join("y").as_path(), "user.note", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"ok");
}

#[test]
fn archive_order_is_kept_by_the_parallel_file_writers() {
    let c = case();
    let names: Vec<String> = (0..300).map(|i| format!("d/f{i:03}")).collect();
    let mut entries: Vec<E> = names.iter().map(|n| E::File(n, b"first")).collect();
    entries.push(E::File("d/f007", b"second"));
    entries.push(E::Hardlink("d/link", "d/f299"));
    entries.push(E::File("d/.wh.f100", b""));
    entries.push(E::Symlink("d/f200", "/elsewhere"));
    let t = build(&entries);
    let st = apply_tar(&t[..], &c.fd, popts(WhiteoutMode::Flatten)).unwrap();
    assert_eq!(st.entries, 304);
    let d = c.root.join("d");
    assert_eq!(
        std::fs::read(d.join("f007")).unwrap(),
        b"second",
        "a later entry wins"
    );
    assert_eq!(std::fs::read(d.join("f000")).unwrap(), b"first");
    let (a, b) = (
        std::fs::metadata(d.join("link")).unwrap(),
        std::fs::metadata(d.join("f299")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "hard link to a file queued just before");
    assert!(!exists_in(&c.root, "d/f100"), "whiteout after the file");
    assert!(std::fs::symlink_metadata(d.join("f200"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        300,
        "299 files + link"
    );
    assert_eq!(std::fs::metadata(d.join("f001")).unwrap().mtime(), 1);
}
