//! Entries whose parent directory exists only in a lower layer, through a symlink there:
//! applied as onto the merged view (tar/containerd semantics), confined to the image root.

mod common;

use common::pulling::*;
use common::*;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use strata_image::fsops;
use strata_image::progress::NoProgress;
use strata_image::pull::pull;
use strata_image::unpack::{apply_tar, apply_tar_over, ApplyOptions, OpenLowers, WhiteoutMode};

enum E<'a> {
    File(&'a str),
    Dir(&'a str, u32, u64),
    Symlink(&'a str, &'a str),
    Whiteout(&'a str),
}

/// A layer in the on-registry form (whiteouts as `.wh.` files).
fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1000);
        h.set_mode(0o644);
        match e {
            E::File(n) | E::Whiteout(n) => {
                let data: &[u8] = if matches!(e, E::File(_)) {
                    b"data"
                } else {
                    b""
                };
                h.set_size(data.len() as u64);
                b.append_data(&mut h, n, data).unwrap();
            }
            E::Dir(n, mode, uid) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_uid(*uid);
                h.set_mtime(4242);
                h.set_size(0);
                b.append_data(&mut h, n, &[][..]).unwrap();
            }
            E::Symlink(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, n, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn opts() -> ApplyOptions {
    ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        rootless: false,
        workers: 0,
    }
}

/// Snapshots `lowers` (bottom first) then `upper` under `dir`; returns the upper's path.
fn apply_layers(dir: &Path, lowers: &[Vec<u8>], upper: &[u8]) -> std::path::PathBuf {
    let mut roots: Vec<Arc<OwnedFd>> = Vec::new();
    for (i, l) in lowers.iter().enumerate() {
        let p = dir.join(format!("l{i}"));
        std::fs::create_dir(&p).unwrap();
        let fd = fsops::open_trusted_dir(&p).unwrap();
        // Each lower sees the ones below it, as in a pull.
        let below = OpenLowers(roots.iter().rev().cloned().collect());
        apply_tar_over(l.as_slice(), &fd, opts(), &below).unwrap();
        roots.push(Arc::new(fd));
    }
    let up = dir.join("upper");
    std::fs::create_dir(&up).unwrap();
    let fd = fsops::open_trusted_dir(&up).unwrap();
    let below = OpenLowers(roots.iter().rev().cloned().collect());
    apply_tar_over(upper, &fd, opts(), &below).unwrap();
    up
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn parent_through_a_lower_symlink_lands_at_its_target() {
    let d = tempfile::tempdir().unwrap();
    let lower = layer(&[
        E::Dir("b", 0o750, 1234),
        E::Symlink("a", "b"),
        E::Symlink("abs", "/b"),
        E::Dir("usr", 0o755, 0),
        E::Dir("usr/lib", 0o700, 7),
        E::Symlink("lib", "usr/lib"),
    ]);
    let upper = layer(&[
        E::File("a/file"),
        E::File("abs/file2"),
        E::File("lib/x/y"),
        E::File("new/dir/z"),
    ]);
    let up = apply_layers(d.path(), &[lower], &upper);
    assert_eq!(names(&up), vec!["b", "new", "usr"], "symlinks not shadowed");
    assert_eq!(names(&up.join("b")), vec!["file", "file2"]);
    // The directory is a copy-up of the lower one: owner, mode and mtime.
    let b = std::fs::metadata(up.join("b")).unwrap();
    assert_eq!(b.permissions().mode() & 0o7777, 0o750);
    assert_eq!(b.uid(), 1234);
    assert_eq!(b.mtime(), 4242);
    let lib = std::fs::metadata(up.join("usr/lib")).unwrap();
    assert_eq!((lib.permissions().mode() & 0o7777, lib.uid()), (0o700, 7));
    assert!(up.join("usr/lib/x/y").is_file());
    // Absent from every layer: a plain new directory.
    let n = std::fs::metadata(up.join("new/dir")).unwrap();
    assert_eq!(n.permissions().mode() & 0o7777, 0o755);
}

#[test]
fn symlinks_across_several_lowers_whiteouts_and_opaque_dirs() {
    let d = tempfile::tempdir().unwrap();
    let l0 = layer(&[
        E::Dir("b", 0o711, 0),
        E::Dir("gone", 0o755, 0),
        E::Dir("o", 0o755, 0),
        E::Dir("o/hidden", 0o700, 0),
    ]);
    // The middle layer links a -> b (b only in l0), deletes `gone`, makes `o` opaque.
    let l1 = layer(&[
        E::Symlink("a", "b"),
        E::Symlink("g", "gone"),
        E::Whiteout(".wh.gone"),
        E::Dir("o", 0o755, 0),
        E::Whiteout("o/.wh..wh..opq"),
    ]);
    let upper = layer(&[E::File("a/f"), E::File("g/f"), E::File("o/hidden/f")]);
    let up = apply_layers(d.path(), &[l0, l1], &upper);
    assert_eq!(names(&up), vec!["b", "gone", "o"]);
    let b = std::fs::metadata(up.join("b")).unwrap();
    assert_eq!(b.permissions().mode() & 0o7777, 0o711, "copied up from l0");
    // `gone` was deleted above l0 and `o/hidden` is hidden by the opaque `o`: new dirs.
    for p in ["gone", "o/hidden"] {
        let m = std::fs::metadata(up.join(p)).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o755, "{p} is new");
        assert!(up.join(p).join("f").is_file());
    }
}

/// The defence: lower symlinks pointing up or to absolute host paths stay in the root.
#[test]
fn hostile_lower_symlinks_stay_confined() {
    let d = tempfile::tempdir().unwrap();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    let abs_outside = outside.display().to_string();
    let lower = layer(&[
        E::Symlink("up", "../../.."),
        E::Symlink("rel", "../../outside"),
        E::Symlink("etc2", "/etc"),
        E::Symlink("abs", &abs_outside),
        E::Symlink("loop1", "loop2"),
        E::Symlink("loop2", "loop1"),
    ]);
    let upper = layer(&[
        E::File("up/pwned-up"),
        E::File("rel/secret"),
        E::File("etc2/pwned-etc"),
        E::File("abs/secret"),
    ]);
    let up = apply_layers(d.path(), std::slice::from_ref(&lower), &upper);
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    assert_eq!(names(&outside), vec!["secret"], "nothing created outside");
    assert!(!Path::new("/etc/pwned-etc").exists());
    assert!(!d.path().join("pwned-up").exists());
    // Each landed inside the image root, at the target resolved from the root.
    assert!(up.join("pwned-up").is_file());
    assert!(up.join("outside/secret").is_file());
    assert!(up.join("etc/pwned-etc").is_file());
    assert!(up
        .join(abs_outside.trim_start_matches('/'))
        .join("secret")
        .is_file());
    // A symlink loop is refused, not followed forever.
    let d2 = tempfile::tempdir().unwrap();
    let up2 = d2.path().join("upper");
    std::fs::create_dir(&up2).unwrap();
    let l = d2.path().join("l0");
    std::fs::create_dir(&l).unwrap();
    let lfd = fsops::open_trusted_dir(&l).unwrap();
    apply_tar(lower.as_slice(), &lfd, opts()).unwrap();
    let e = apply_tar_over(
        layer(&[E::File("loop1/f")]).as_slice(),
        &fsops::open_trusted_dir(&up2).unwrap(),
        opts(),
        &OpenLowers(vec![Arc::new(lfd)]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("loop1/f"), "{e}");
}

/// A fake registry serving a two-layer image (gzip); the lower layer's blob answers
/// after `lower_delay`, or not at all (404) when `lower_missing`.
fn two_layer_registry(lower_delay_ms: u64, lower_missing: bool) -> Mock {
    use std::io::Write;
    let l0 = layer(&[E::Dir("b", 0o750, 0), E::Symlink("a", "b")]);
    let l1 = layer(&[E::File("a/file")]);
    let gz = |raw: &[u8]| {
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(raw).unwrap();
        g.finish().unwrap()
    };
    let (b0, b1) = (gz(&l0), gz(&l1));
    let (d0, d1) = (strata_image::Digest::of(&b0), strata_image::Digest::of(&b1));
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [strata_image::Digest::of(&l0), strata_image::Digest::of(&l1)]}}))
    .unwrap();
    let cd = strata_image::Digest::of(&cfg);
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": strata_image::oci::OCI_MANIFEST,
        "config": {"mediaType": strata_image::oci::OCI_CONFIG, "digest": cd, "size": cfg.len()},
        "layers": [
            {"mediaType": strata_image::oci::OCI_LAYER_GZIP, "digest": d0, "size": b0.len()},
            {"mediaType": strata_image::oci::OCI_LAYER_GZIP, "digest": d1, "size": b1.len()}]}))
    .unwrap();
    let resp = |status: &str, body: &[u8]| {
        let mut r = format!("HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .into_bytes();
        r.extend_from_slice(body);
        r
    };
    Mock::with(move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        if path.contains("/manifests/") {
            let mut r = resp("200 OK", &m);
            let ct = format!("Content-Type: {}", strata_image::oci::OCI_MANIFEST);
            let s = String::from_utf8_lossy(&r).replacen(
                "Content-Type: application/octet-stream",
                &ct,
                1,
            );
            r = s.into_bytes();
            r
        } else if path.contains(cd.hex()) {
            resp("200 OK", &cfg)
        } else if path.contains(d0.hex()) {
            std::thread::sleep(std::time::Duration::from_millis(lower_delay_ms));
            if lower_missing {
                resp("404 Not Found", b"")
            } else {
                resp("200 OK", &b0)
            }
        } else if path.contains(d1.hex()) {
            resp("200 OK", &b1)
        } else {
            resp("404 Not Found", b"")
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_resolves_parents_through_layers_unpacked_at_the_same_time() {
    let mock = two_layer_registry(300, false);
    let (_d, st) = store();
    let img = format!("{}/links:latest", mock.addr);
    let r = pull(st.clone(), &opts_registry(), &img, Arc::new(NoProgress))
        .await
        .unwrap();
    let rec = st.meta().find(&r.id.to_string()).unwrap().unwrap();
    let up = st.snapshots.path(&rec.layers[1].chain_id);
    assert_eq!(names(&up), vec!["b"]);
    assert!(up.join("b/file").is_file());
    let b = std::fs::metadata(up.join("b")).unwrap();
    assert_eq!(b.permissions().mode() & 0o7777, 0o750);

    // A lower layer that fails: the pull reports its error, not the upper's wait.
    let mock = two_layer_registry(100, true);
    let (_d, st) = store();
    let img = format!("{}/links:latest", mock.addr);
    let e = assert_fails_cleanly(&st, &opts_registry(), &img, "not found").await;
    assert!(!e.contains("lower layer failed"), "{e}");
}

fn opts_registry() -> strata_image::registry::RegistryOptions {
    common::pulling::opts()
}
