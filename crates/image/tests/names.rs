//! Entry names are bytes: a name that is not UTF-8 reaches the file system exactly as the
//! archive has it (no lossy conversion on the way to a system call), for every entry type.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use strata_image::fsops;
use strata_image::unpack::{apply_tar, ApplyOptions, WhiteoutMode};

fn header(name: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1);
    h
}

fn entry(b: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, data: &[u8]) {
    let mut h = header(name, kind, data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn link(b: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, target: &[u8]) {
    let mut h = header(name, kind, 0);
    h.as_old_mut().linkname[..target.len()].copy_from_slice(target);
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
}

fn layer() -> Vec<u8> {
    use tar::EntryType::*;
    let mut b = tar::Builder::new(Vec::new());
    entry(&mut b, b"d\xff/", Directory, b"");
    entry(&mut b, b"d\xff/f\xfe", Regular, b"bytes");
    // A parent that no directory entry created.
    entry(&mut b, b"n\xfa/x\xf9", Regular, b"made");
    link(&mut b, b"l\xfd", Symlink, b"d\xff/f\xfe");
    link(&mut b, b"h\xfc", Link, b"d\xff/f\xfe");
    entry(&mut b, b"gone\xfb", Regular, b"soon deleted");
    entry(&mut b, b".wh.gone\xfb", Regular, b"");
    b.into_inner().unwrap()
}

fn at(root: &Path, name: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(name))
}

#[test]
fn non_utf8_names_are_created_byte_for_byte() {
    for (mode, workers) in [
        (WhiteoutMode::Overlay, 0),
        (WhiteoutMode::Flatten, 0),
        (WhiteoutMode::Overlay, 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let fd = fsops::open_trusted_dir(&root).unwrap();
        let opts = ApplyOptions {
            whiteouts: mode,
            rootless: !strata_testkit::is_root(),
            workers,
        };
        let st = apply_tar(&layer()[..], &fd, opts).unwrap();
        assert_eq!(st.entries, 7, "{mode:?}");
        let f = at(&root, b"d\xff/f\xfe");
        assert_eq!(std::fs::read(&f).unwrap(), b"bytes");
        assert_eq!(std::fs::read(at(&root, b"n\xfa/x\xf9")).unwrap(), b"made");
        let target = std::fs::read_link(at(&root, b"l\xfd")).unwrap();
        assert_eq!(target.as_os_str().as_bytes(), b"d\xff/f\xfe");
        let h = std::fs::metadata(at(&root, b"h\xfc")).unwrap();
        assert_eq!(h.ino(), std::fs::metadata(&f).unwrap().ino(), "hard link");
        let gone = std::fs::symlink_metadata(at(&root, b"gone\xfb"));
        match mode {
            WhiteoutMode::Flatten => assert!(gone.is_err(), "whiteout deletes"),
            WhiteoutMode::Overlay => {
                let m = gone.unwrap();
                assert!(
                    m.file_type().is_char_device() && m.rdev() == 0,
                    "0/0 whiteout"
                );
            }
        }
        // Exactly these names, byte for byte (nothing under a lossy U+FFFD spelling).
        let mut names: Vec<Vec<u8>> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().as_bytes().to_vec())
            .collect();
        names.sort();
        let mut want: Vec<&[u8]> = vec![b"d\xff", b"h\xfc", b"l\xfd", b"n\xfa"];
        if mode == WhiteoutMode::Overlay {
            want.push(b"gone\xfb");
        }
        want.sort();
        assert_eq!(names, want, "{mode:?}");
    }
}
