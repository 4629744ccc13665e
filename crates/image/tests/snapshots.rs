//! Active snapshots (containerd's contract): prepare over a loaded image, write through
//! the overlay, commit into a new layer, view it; the layer blob's whiteouts; usage;
//! clear errors that leave nothing behind; crash leftovers; garbage collection.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};
use strata_image::oci::{OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};
use strata_image::snapshot::{mount_all, unmount, Kind};
use strata_image::snapshotter::Snapshotter;
use strata_image::store::Store;
use strata_image::{archive, ops, Digest, Error};

/// A layer entry: a directory, a file with content, or a whiteout.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1000);
        match e {
            E::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, n, &[][..]).unwrap();
            }
            E::File(n, data) => {
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, n, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn put(dir: &Path, data: &[u8]) -> Digest {
    let d = Digest::of(data);
    std::fs::write(dir.join("blobs/sha256").join(d.hex()), data).unwrap();
    d
}

/// A store with a two-layer image loaded; returns the store and the image's top chain id.
fn store_with_image(dir: &Path) -> (Store, Digest) {
    let l1 = layer(&[
        E::Dir("etc/"),
        E::File("etc/hostname", "base\n"),
        E::File("etc/keep", "keep\n"),
        E::Dir("data/"),
        E::File("data/gone", "x"),
        E::Dir("olddir/"),
        E::File("olddir/a", "a"),
        E::Dir("olddir/sub/"),
        E::File("olddir/sub/c", "c"),
        E::File("tmp1", "t"),
    ]);
    let l2 = layer(&[
        E::File("etc/hostname", "layer2\n"),
        E::File("data/new", "n"),
        E::File(".wh.tmp1", ""),
    ]);
    let lay = dir.join("layout");
    std::fs::create_dir_all(lay.join("blobs/sha256")).unwrap();
    let mut descs = Vec::new();
    for l in [&l1, &l2] {
        let d = put(&lay, l);
        descs.push(serde_json::json!({"mediaType": OCI_LAYER_TAR, "digest": d, "size": l.len()}));
    }
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(&l1), Digest::of(&l2)]}}))
    .unwrap();
    let cd = put(&lay, &cfg);
    let m = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cfg.len()}, "layers": descs}),
    )
    .unwrap();
    let md = put(&lay, &m);
    std::fs::write(
        lay.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": md, "size": m.len(),
             "annotations": {"org.opencontainers.image.ref.name": "base"}}]}))
        .unwrap(),
    )
    .unwrap();
    let st = Store::open(&dir.join("root"), &dir.join("run")).unwrap();
    let loaded = archive::load(&st, &lay).unwrap();
    let img = st.meta().find(loaded[0].0.as_str()).unwrap().unwrap();
    let top = img.layers.last().unwrap().chain_id.clone();
    (st, top)
}

/// Unmounts on drop (tests leave no mount behind, even when they fail).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

fn mounted(mounts: &[strata_image::snapshot::Mount], at: &Path) -> Mounted {
    std::fs::create_dir_all(at).unwrap();
    mount_all(mounts, at).unwrap();
    Mounted(at.to_path_buf())
}

/// Every path under `dir` with what it is: file content, link target, or a directory.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let t = e.file_type().unwrap();
            let what = if t.is_dir() {
                walk(base, &p, out);
                "dir".to_string()
            } else if t.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if t.is_char_device() {
                "char device".to_string()
            } else {
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The entries of a gzipped layer blob: (name, content), in order; checks its diff id.
fn blob_entries(st: &Store, c: &strata_image::snapshot::Committed) -> Vec<(String, Vec<u8>)> {
    let gz = st.content.read(&c.blob.digest).unwrap(); // verifies the digest
    assert_eq!(gz.len() as u64, c.blob.size);
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(Digest::of(&raw), c.diff_id, "diff id is the tar's digest");
    let mut a = tar::Archive::new(&raw[..]);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn is_not_found(e: &Error) -> bool {
    matches!(e.root(), Error::NotFound(_))
}

#[test]
fn prepare_write_commit_then_view_the_new_layer() {
    if !strata_testkit::require_root() {
        return; // mounts
    }
    let t = tempfile::tempdir().unwrap();
    let (st, top) = store_with_image(t.path());
    let sn = Snapshotter::new(&st);
    let mounts = sn.prepare("c1", Some(&top)).unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].fstype, "overlay");
    let m = t.path().join("m");
    {
        let _g = mounted(&mounts, &m);
        assert_eq!(
            std::fs::read_to_string(m.join("etc/hostname")).unwrap(),
            "layer2\n"
        );
        std::fs::write(m.join("etc/hostname"), "changed\n").unwrap();
        std::fs::write(m.join("data/added"), vec![7u8; 100_000]).unwrap();
        std::fs::remove_file(m.join("etc/keep")).unwrap();
        // A lower directory replaced by a new one of the same name.
        std::fs::remove_dir_all(m.join("olddir")).unwrap();
        std::fs::create_dir(m.join("olddir")).unwrap();
        std::fs::write(m.join("olddir/fresh"), "f").unwrap();
        std::fs::create_dir(m.join("newdir")).unwrap();
        std::fs::write(m.join("newdir/x"), "x").unwrap();
        symlink("etc/hostname", m.join("link")).unwrap();
    }
    assert!(!strata_os::mount::is_mountpoint(&m), "unmounted");
    let u = sn.usage("c1").unwrap();
    assert!(u.bytes >= 100_000, "usage counts the written bytes: {u:?}");
    assert!(u.inodes >= 9, "{u:?}");
    let c = sn.commit("c1").unwrap();
    assert_eq!(c.parent.as_ref(), Some(&top));
    assert_eq!(
        c.chain_id,
        Digest::of(format!("{top} {}", c.diff_id).as_bytes())
    );
    assert_eq!(c.lowers[0], c.chain_id);
    assert_eq!(c.blob.media_type, strata_image::oci::OCI_LAYER_GZIP);
    // The active snapshot is gone: record and directory.
    assert!(is_not_found(&sn.stat("c1").unwrap_err()));
    assert!(!st.active.path("c1").exists());
    assert!(sn.list().unwrap().is_empty());
    assert!(st.snapshots.has(&c.chain_id));

    // The blob: the diff in OCI form, whiteouts and the opaque marker included.
    let entries = blob_entries(&st, &c);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    for want in [
        "etc/.wh.keep",
        "etc/hostname",
        "data/added",
        "olddir/",
        "olddir/.wh..wh..opq",
        "olddir/fresh",
        "newdir/",
        "newdir/x",
        "link",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    for absent in ["data/gone", "olddir/a", "data/new", "etc/.wh.hostname"] {
        assert!(!names.contains(&absent), "{absent} not in {names:?}");
    }
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert_eq!(
        at("olddir/.wh..wh..opq"),
        at("olddir/") + 1,
        "marker right after its dir"
    );
    assert_eq!(entries[at("data/added")].1.len(), 100_000);

    // A view of the new chain shows exactly what was written over the image...
    let vm = sn.view("v1", Some(&c.chain_id)).unwrap();
    assert!(vm[0].readonly());
    let v = t.path().join("v");
    let _g = mounted(&vm, &v);
    let seen = tree(&v);
    assert_eq!(seen["etc/hostname"], "changed\n");
    assert_eq!(seen["data/gone"], "x");
    assert_eq!(seen["data/new"], "n");
    assert_eq!(seen["link"], "-> etc/hostname");
    assert!(!seen.contains_key("etc/keep") && !seen.contains_key("tmp1"));
    let olddir: Vec<&String> = seen.keys().filter(|k| k.starts_with("olddir/")).collect();
    assert_eq!(
        olddir,
        ["olddir/fresh"],
        "the opaque dir hides the lower one"
    );
    assert!(std::fs::write(v.join("etc/new"), "x").is_err(), "read-only");
    // ...and the same as the image's layers plus the committed blob, applied in order.
    let flat = t.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    let img = st.meta().list().unwrap().pop().unwrap();
    strata_image::mount::flatten(&st, &img, &flat).unwrap();
    let fd = strata_image::fsops::open_trusted_dir(&flat).unwrap();
    let gz = st.content.open_blob(&c.blob.digest).unwrap();
    let opts =
        strata_image::unpack::ApplyOptions::new(strata_image::unpack::WhiteoutMode::Flatten, false);
    strata_image::unpack::apply_tar(flate2::read::GzDecoder::new(gz), &fd, opts).unwrap();
    assert_eq!(tree(&flat), seen, "view == image + committed layer");
    drop(_g);
    assert!(!strata_os::mount::is_mountpoint(&v), "unmounted");
    sn.remove("v1").unwrap();
    assert!(!st.active.path("v1").exists());
    assert!(is_not_found(&sn.stat("v1").unwrap_err()));
}

#[test]
fn without_a_parent_a_bind_mount_and_a_bottom_layer() {
    if !strata_testkit::require_root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let st = Store::open(&t.path().join("root"), &t.path().join("run")).unwrap();
    let sn = Snapshotter::new(&st);
    let mounts = sn.prepare("base", None).unwrap();
    assert_eq!(mounts[0].fstype, "bind");
    assert!(!mounts[0].readonly());
    {
        let _g = mounted(&mounts, &t.path().join("m"));
        std::fs::create_dir(t.path().join("m/bin")).unwrap();
        std::fs::write(t.path().join("m/bin/tool"), "#!/bin/sh\n").unwrap();
    }
    // A bind mount of a directory of the same file system: unmounted all the same.
    assert!(!strata_os::mount::is_mountpoint(&t.path().join("m")));
    let c = sn.commit("base").unwrap();
    assert_eq!(c.parent, None);
    assert_eq!(
        c.chain_id, c.diff_id,
        "a bottom layer's chain id is its diff id"
    );
    // A writable layer over it, and a read-only view of it (one layer: a bind mount).
    let over = sn.prepare("next", Some(&c.chain_id)).unwrap();
    assert_eq!(over[0].fstype, "overlay");
    let view = sn.view("look", Some(&c.chain_id)).unwrap();
    assert_eq!(
        (view[0].fstype.as_str(), view[0].readonly()),
        ("bind", true)
    );
    {
        let _g = mounted(&view, &t.path().join("v"));
        assert_eq!(
            std::fs::read_to_string(t.path().join("v/bin/tool")).unwrap(),
            "#!/bin/sh\n"
        );
    }
    assert!(!strata_os::mount::is_mountpoint(&t.path().join("v")));
    let kinds: Vec<(String, Kind)> = sn
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.kind))
        .collect();
    assert_eq!(
        kinds,
        [("look".into(), Kind::View), ("next".into(), Kind::Active)]
    );
    assert_eq!(sn.usage("look").unwrap().inodes, 0, "a view writes nothing");
    sn.remove("next").unwrap();
    sn.remove("look").unwrap();
    assert_eq!(
        std::fs::read_dir(t.path().join("root/active"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn bad_keys_and_unknown_parents_are_refused_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (st, top) = store_with_image(t.path());
    let sn = Snapshotter::new(&st);
    let active = t.path().join("root/active");
    let long = "k".repeat(201);
    for bad in ["", ".", "..", "a/b", ".hidden", "nul\0", long.as_str()] {
        let e = sn.prepare(bad, Some(&top)).unwrap_err();
        assert!(matches!(e.root(), Error::Invalid { .. }), "{bad:?}: {e}");
        assert!(e.to_string().contains("invalid snapshot key"), "{e}");
        assert!(sn.view(bad, None).is_err());
    }
    let unknown = Digest::of(b"no such layer");
    let e = sn.prepare("k", Some(&unknown)).unwrap_err();
    assert!(is_not_found(&e), "{e}");
    assert_eq!(
        e.to_string(),
        format!("snapshot k: parent snapshot {unknown}: not found")
    );
    assert_eq!(
        std::fs::read_dir(&active).unwrap().count(),
        0,
        "nothing on disk"
    );
    assert!(sn.list().unwrap().is_empty(), "nothing recorded");
    // A key in use: refused, the first one untouched.
    sn.prepare("k", Some(&top)).unwrap();
    let e = sn.prepare("k", None).unwrap_err();
    assert!(matches!(e.root(), Error::AlreadyExists(_)), "{e}");
    assert_eq!(sn.stat("k").unwrap().parent.as_ref(), Some(&top));
    assert!(st.active.fs("k").is_dir());
    assert_eq!(std::fs::read_dir(&active).unwrap().count(), 1);
    // A view cannot be committed; unknown keys are not found.
    sn.view("ro", Some(&top)).unwrap();
    let e = sn.commit("ro").unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(sn.stat("ro").is_ok(), "still there");
    assert!(is_not_found(&sn.commit("nope").unwrap_err()));
    assert!(is_not_found(&sn.remove("nope").unwrap_err()));
    assert!(is_not_found(&sn.usage("nope").unwrap_err()));
    sn.remove("ro").unwrap();
    sn.remove("k").unwrap();
    assert_eq!(std::fs::read_dir(&active).unwrap().count(), 0);
}

#[test]
fn crash_leftovers_are_dropped_by_the_next_open() {
    let t = tempfile::tempdir().unwrap();
    let (st, top) = store_with_image(t.path());
    let sn = Snapshotter::new(&st);
    sn.prepare("kept", Some(&top)).unwrap();
    sn.prepare("moved", Some(&top)).unwrap();
    sn.view("gone", Some(&top)).unwrap();
    let active = t.path().join("root/active");
    // A prepare that died before naming its directory; a directory no record names; a
    // commit that died after moving the layer out; a view whose directory went (a
    // removal that died between the directory and the record).
    std::fs::create_dir_all(active.join(".tmp-999999-1-0/fs")).unwrap();
    std::fs::create_dir_all(active.join("orphan/fs")).unwrap();
    std::fs::remove_dir(st.active.fs("moved")).unwrap();
    std::fs::remove_dir_all(st.active.path("gone")).unwrap();
    drop(st);
    let st = Store::open(&t.path().join("root"), &t.path().join("run")).unwrap();
    let sn = Snapshotter::new(&st);
    let keys: Vec<String> = sn.list().unwrap().into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["kept"]);
    let mut left: Vec<String> = std::fs::read_dir(&active)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["kept"]);
    assert!(st.active.fs("kept").is_dir() && st.active.work("kept").is_dir());
    // While another process holds the store, nothing is touched.
    std::fs::create_dir_all(active.join(".tmp-999999-2-0")).unwrap();
    let lock = st.lock(false).unwrap();
    drop(Store::open(&t.path().join("root"), &t.path().join("run")).unwrap());
    assert!(active.join(".tmp-999999-2-0").exists());
    drop(lock);
    drop(Store::open(&t.path().join("root"), &t.path().join("run")).unwrap());
    assert!(!active.join(".tmp-999999-2-0").exists());
}

#[test]
fn garbage_collection_keeps_what_active_snapshots_use() {
    let t = tempfile::tempdir().unwrap();
    let (st, top) = store_with_image(t.path());
    let sn = Snapshotter::new(&st);
    let img = st.meta().list().unwrap().pop().unwrap();
    sn.prepare("a1", Some(&top)).unwrap();
    std::fs::write(st.active.fs("a1").join("made"), "in a1").unwrap();
    let c = sn.commit("a1").unwrap();
    sn.prepare("a2", Some(&c.chain_id)).unwrap();
    // The image goes; what a2 stacks on stays: the committed layer (snapshot and blob)
    // and the image's snapshots under it.
    ops::prune(&st, true).unwrap();
    assert!(st.meta().list().unwrap().is_empty());
    for l in &img.layers {
        assert!(st.snapshots.has(&l.chain_id), "image snapshot kept");
    }
    assert!(st.snapshots.has(&c.chain_id));
    assert!(st.content.has(&c.blob.digest), "committed blob kept");
    assert_eq!(st.meta().list_committed().unwrap().len(), 1);
    // Its ancestry is still known: another snapshot over the committed layer.
    let again = sn.prepare("a3", Some(&c.chain_id)).unwrap();
    assert_eq!(again[0].to_overlay().unwrap().lowers.len(), 3);
    sn.remove("a3").unwrap();
    // Once nothing uses them, they are collected.
    sn.remove("a2").unwrap();
    ops::gc(&st).unwrap();
    assert!(st.snapshots.list().unwrap().is_empty());
    assert!(!st.content.has(&c.blob.digest));
    assert!(st.meta().list_committed().unwrap().is_empty());
}
