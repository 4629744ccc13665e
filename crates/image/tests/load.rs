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
    let cd = put(&lay, &cfg);
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put(&lay, &m);
    std::fs::write(
        lay.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": md, "size": m.len(),
             "annotations": {"org.opencontainers.image.ref.name": "mixed"}}]}))
        .unwrap(),
    )
    .unwrap();
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
