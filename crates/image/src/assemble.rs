//! Making images in the store from committed layers: `import` of a root filesystem tarball
//! (one layer), and what `commit` and the builder do with the layers they commit. The image
//! is written as any pulled one is: an OCI config and manifest in the content store, its
//! layers' snapshots committed, a record in the metadata database under its names.

use crate::error::{Error, IoResultExt, Result};
use crate::oci::{OCI_CONFIG, OCI_MANIFEST};
use crate::reference::Reference;
use crate::snapshot::Committed;
use crate::snapshotter::Snapshotter;
use crate::store::{ImageRecord, LayerRecord, Store};
use crate::unpack::{apply_tar, ApplyOptions, WhiteoutMode};
use serde_json::{json, Value};
use std::io::Read;

/// An image from `layers` (bottom first, each committed on the previous one), with
/// `config` as its config's `config` object (Cmd, Env, ...) and `history` as its history,
/// recorded under `names` (references; short names take `default_registry`).
pub fn image(
    store: &Store,
    layers: &[Committed],
    config: Value,
    history: Vec<Value>,
    names: &[String],
    default_registry: &str,
) -> Result<ImageRecord> {
    let now = strata_os::clock::rfc3339_now();
    image_at(
        store,
        layers,
        config,
        history,
        names,
        default_registry,
        &now,
    )
}

/// [`image`] with its creation time given (RFC 3339): a reproducible build's
/// `SOURCE_DATE_EPOCH`.
pub fn image_at(
    store: &Store,
    layers: &[Committed],
    config: Value,
    history: Vec<Value>,
    names: &[String],
    default_registry: &str,
    created: &str,
) -> Result<ImageRecord> {
    let doc = json!({
        "created": created,
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "history": history,
    });
    let cfg = serde_json::to_vec(&doc).expect("config serializes");
    let cfg_digest = store.content.put(&cfg, None)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": cfg.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": l.blob.media_type, "digest": l.blob.digest, "size": l.blob.size})).collect::<Vec<_>>(),
    });
    let mb = serde_json::to_vec(&manifest).expect("manifest serializes");
    let md = store.content.put(&mb, None)?;
    let mut stored = Vec::new();
    for n in names {
        stored.push(Reference::parse(n, default_registry)?.store_name());
    }
    let rec = ImageRecord {
        id: cfg_digest,
        manifest_digest: md,
        manifest_media_type: OCI_MANIFEST.into(),
        repo_digests: vec![],
        names: vec![],
        layers: layers
            .iter()
            .map(|l| LayerRecord {
                digest: l.blob.digest.clone(),
                size: l.blob.size,
                media_type: l.blob.media_type.clone(),
                diff_id: l.diff_id.clone(),
                chain_id: l.chain_id.clone(),
            })
            .collect(),
        created: strata_os::clock::now().0,
        size: layers.iter().map(|l| l.blob.size).sum(),
    };
    let mut meta = store.meta();
    meta.put(&rec)?;
    for n in &stored {
        meta.tag(&rec.id, n)?;
    }
    drop(meta);
    Ok(ImageRecord {
        names: stored,
        ..rec
    })
}

/// `import`: a root filesystem tarball (as `export` writes it) as a one-layer image. The tar
/// is applied with the confined unpacker (a hostile archive stays inside its layer), then
/// committed as a layer.
pub fn import<R: Read>(
    store: &Store,
    tar: R,
    config: Value,
    names: &[String],
    default_registry: &str,
) -> Result<ImageRecord> {
    // What is committed here must not be collected before the image that uses it exists.
    let _lock = store.lock(false)?;
    let snaps = Snapshotter::new(store);
    let key = format!(
        "import-{}-{}",
        std::process::id(),
        strata_os::clock::now_nanos()
    );
    snaps.prepare(&key, None)?;
    let applied = (|| {
        let fs = store.active.fs(&key);
        let root = crate::fsops::open_trusted_dir(&fs).op(format!("open {}", fs.display()))?;
        apply_tar(
            tar,
            &root,
            ApplyOptions::new(WhiteoutMode::Overlay, store.rootless),
        )?;
        snaps.commit(&key)
    })();
    let layer = match applied {
        Ok(l) => l,
        Err(e) => {
            let _ = snaps.remove(&key);
            return Err(e.context("import"));
        }
    };
    let history = vec![
        json!({"created": layer.created, "created_by": "strata import", "comment": "imported from a tarball"}),
    ];
    image(store, &[layer], config, history, names, default_registry)
        .map_err(|e: Error| e.context("import"))
}
