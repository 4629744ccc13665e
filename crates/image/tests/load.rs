//! Loading OCI layouts built here: zstd, gzip and uncompressed layers.

use std::io::Write;
use strata_image::archive;
use strata_image::oci::{OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST};
use strata_image::store::Store;
use strata_image::Digest;

fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o640);
    h.set_mtime(1234);
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

fn put(dir: &std::path::Path, data: &[u8]) -> Digest {
    let d = Digest::of(data);
    std::fs::write(dir.join("blobs/sha256").join(d.hex()), data).unwrap();
    d
}

/// Writes an OCI layout of uncompressed layers; returns its path.
fn layout_of(dir: &std::path::Path, layers: &[Vec<u8>], tag: &str) -> std::path::PathBuf {
    let lay = dir.join(format!("layout-{tag}"));
    std::fs::create_dir_all(lay.join("blobs/sha256")).unwrap();
    let mut descs = Vec::new();
    for l in layers {
        let d = put(&lay, l);
        descs.push(serde_json::json!({"mediaType": OCI_LAYER_TAR, "digest": d, "size": l.len()}));
    }
    let diffs: Vec<Digest> = layers.iter().map(|l| Digest::of(l)).collect();
    let cfg = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diffs}}))
    .unwrap();
    put_manifest(&lay, &cfg, descs, tag);
    lay
}

/// Puts the config blob `cfg` and a manifest of it and the layer descriptors `descs` into
/// the layout `lay`, and writes its index.json naming the manifest `tag`.
fn put_manifest(lay: &std::path::Path, cfg: &[u8], descs: Vec<serde_json::Value>, tag: &str) {
    let cd = put(lay, cfg);
    let m = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cfg.len()}, "layers": descs}),
    )
    .unwrap();
    let md = put(lay, &m);
    std::fs::write(
        lay.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": md, "size": m.len(),
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
        .unwrap(),
    )
    .unwrap();
}

fn link_layer(name: &str, target: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o644);
    b.append_link(&mut h, name, target).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn hard_links_to_lower_layers_are_copied_up() {
    let dir = tempfile::tempdir().unwrap();
    let lay = layout_of(
        dir.path(),
        &[
            tar_with("a/f", b"lower content"),
            link_layer("b/link", "a/f"),
        ],
        "links",
    );
    let st = Store::open(&dir.path().join("root"), &dir.path().join("run")).unwrap();
    archive::load(&st, &lay).unwrap();
    let img = st.meta().find("localhost/links:latest").unwrap().unwrap();
    let upper = st.snapshots.path(&img.layers[1].chain_id);
    assert_eq!(
        std::fs::read(upper.join("b/link")).unwrap(),
        b"lower content"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(upper.join("b/link"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    // A link to nothing in any layer fails, and leaves no snapshot or image behind.
    let bad = layout_of(
        dir.path(),
        &[tar_with("a/f", b"x"), link_layer("b/link", "a/missing")],
        "bad",
    );
    let st2 = Store::open(&dir.path().join("root2"), &dir.path().join("run2")).unwrap();
    let e = archive::load(&st2, &bad).unwrap_err().to_string();
    assert!(e.contains("hard link") && e.contains("not found"), "{e}");
    assert!(st2.meta().list().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("root2/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn loads_zstd_gzip_and_plain_layers() {
    let dir = tempfile::tempdir().unwrap();
    let lay = dir.path().join("layout");
    std::fs::create_dir_all(lay.join("blobs/sha256")).unwrap();
    let t1 = tar_with("a/plain", b"plain");
    let t2 = tar_with("a/zstd", b"zstd");
    let t3 = tar_with("a/gzip", b"gzip");
    let z2 = zstd::encode_all(&t2[..], 3).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&t3).unwrap();
    let g3 = gz.finish().unwrap();
    let layers = [
        (OCI_LAYER_TAR, t1.clone(), &t1),
        (OCI_LAYER_ZSTD, z2, &t2),
        (OCI_LAYER_GZIP, g3, &t3),
    ];
    let mut descs = Vec::new();
    let mut diffs = Vec::new();
    for (mt, blob, raw) in &layers {
        let d = put(&lay, blob);
        descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": blob.len()}));
        diffs.push(Digest::of(raw));
    }
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diffs},
        "config": {"Cmd": ["sh"]},
    }))
    .unwrap();
    put_manifest(&lay, &cfg, descs, "mixed");
    std::fs::write(lay.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let st = Store::open(&dir.path().join("root"), &dir.path().join("run")).unwrap();
    let loaded = archive::load(&st, &lay).unwrap();
    assert_eq!(loaded[0].1, vec!["localhost/mixed:latest".to_string()]);
    let img = st.meta().find("localhost/mixed:latest").unwrap().unwrap();
    let flat = dir.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    strata_image::mount::flatten(&st, &img, &flat).unwrap();
    for f in ["plain", "zstd", "gzip"] {
        assert_eq!(std::fs::read(flat.join("a").join(f)).unwrap(), f.as_bytes());
    }
    // A layout whose blob does not match its name is refused, and nothing is kept.
    let st2 = Store::open(&dir.path().join("root2"), &dir.path().join("run2")).unwrap();
    let victim = lay.join("blobs/sha256").join(Digest::of(&t1).hex());
    std::fs::write(&victim, b"tampered").unwrap();
    let e = archive::load(&st2, &lay).unwrap_err().to_string();
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(st2.content.list().unwrap().is_empty());
    assert!(st2.meta().list().unwrap().is_empty());
}

#[test]
fn garbage_collection_waits_for_running_writers() {
    let dir = tempfile::tempdir().unwrap();
    let st = std::sync::Arc::new(
        Store::open(&dir.path().join("root"), &dir.path().join("run")).unwrap(),
    );
    let orphan = st
        .content
        .put(
            b"written by a pull that has not recorded its image yet",
            None,
        )
        .unwrap();
    let writer = st.lock(false).unwrap();
    let st2 = st.clone();
    let gc = std::thread::spawn(move || strata_image::ops::gc(&st2).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!gc.is_finished(), "gc must wait for the writer");
    assert!(st.content.has(&orphan));
    drop(writer);
    assert_eq!(gc.join().unwrap().0, 1);
    assert!(!st.content.has(&orphan));
}
