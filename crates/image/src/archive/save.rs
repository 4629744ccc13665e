//! `save`: writes stored images as an OCI layout (dir or tar) or a docker-archive.

use super::{Format, IMAGE_NAME, REF_NAME};
use crate::error::{Error, IoResultExt, Result};
use crate::oci::{Compression, Descriptor, OCI_INDEX};
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use crate::unpack::decompress;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Write};
use std::path::Path;

/// Saves `imgs` (each with the name to record) to `out` in format `fmt`.
pub fn save(
    store: &Store,
    imgs: &[(ImageRecord, Option<String>)],
    out: &Path,
    fmt: Format,
) -> Result<()> {
    match fmt {
        Format::OciDir => save_oci_dir(store, imgs, out),
        Format::OciArchive | Format::DockerArchive => {
            let tmp = out.with_extension("strata-tmp");
            let f = File::create(&tmp).op(format!("create {}", tmp.display()))?;
            let guard = RemoveOnDrop(tmp.clone());
            let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, f));
            b.mode(tar::HeaderMode::Deterministic);
            if fmt == Format::OciArchive {
                save_oci_tar(store, imgs, &mut b)?;
            } else {
                save_docker_tar(store, imgs, &mut b)?;
            }
            let w = b.into_inner().op("finish tar")?;
            let f = w
                .into_inner()
                .map_err(|e| Error::io("flush tar", e.into_error()))?;
            f.sync_all().op("fsync archive")?;
            fs::rename(&tmp, out).op(format!("write {}", out.display()))?;
            std::mem::forget(guard);
            Ok(())
        }
    }
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn index_json(imgs: &[(ImageRecord, Option<String>)], store: &Store) -> Result<Vec<u8>> {
    let mut manifests = Vec::new();
    for (img, name) in imgs {
        let mut ann = BTreeMap::new();
        if let Some(n) = name {
            ann.insert(IMAGE_NAME.to_string(), n.clone());
            if let Ok(r) = Reference::parse(n, "localhost") {
                ann.insert(
                    REF_NAME.to_string(),
                    r.tag.unwrap_or_else(|| "latest".into()),
                );
            }
        }
        manifests.push(Descriptor {
            media_type: img.manifest_media_type.clone(),
            digest: img.manifest_digest.clone(),
            size: store
                .content
                .size(&img.manifest_digest)
                .ok_or_else(|| Error::NotFound(format!("manifest {}", img.manifest_digest)))?,
            platform: None,
            annotations: (!ann.is_empty()).then_some(ann),
            urls: None,
        });
    }
    let idx =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    Ok(serde_json::to_vec(&idx).expect("json"))
}

fn blobs_of(img: &ImageRecord) -> Vec<crate::Digest> {
    let mut v = vec![img.manifest_digest.clone(), img.id.clone()];
    v.extend(img.layers.iter().map(|l| l.digest.clone()));
    v
}

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn save_oci_dir(store: &Store, imgs: &[(ImageRecord, Option<String>)], out: &Path) -> Result<()> {
    let blobs = out.join("blobs/sha256");
    fs::create_dir_all(&blobs).op(format!("create {}", blobs.display()))?;
    for (img, _) in imgs {
        for d in blobs_of(img) {
            let dst = blobs.join(d.hex());
            if !dst.exists() {
                fs::copy(store.content.path(&d), &dst).op(format!("copy blob {d}"))?;
            }
        }
    }
    fs::write(out.join("oci-layout"), LAYOUT).op("write oci-layout")?;
    fs::write(out.join("index.json"), index_json(imgs, store)?).op("write index.json")
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
        .op(format!("write {name}"))
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, name: &str, path: &Path) -> Result<()> {
    let mut f = File::open(path).op(format!("open {}", path.display()))?;
    let mut h = tar::Header::new_gnu();
    h.set_size(f.metadata().op("stat blob")?.len());
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, &mut f)
        .op(format!("write {name}"))
}

fn save_oci_tar<W: Write>(
    store: &Store,
    imgs: &[(ImageRecord, Option<String>)],
    b: &mut tar::Builder<W>,
) -> Result<()> {
    append_bytes(b, "oci-layout", LAYOUT)?;
    let mut seen = std::collections::HashSet::new();
    for (img, _) in imgs {
        for d in blobs_of(img) {
            if seen.insert(d.clone()) {
                append_file(
                    b,
                    &format!("blobs/sha256/{}", d.hex()),
                    &store.content.path(&d),
                )?;
            }
        }
    }
    append_bytes(b, "index.json", &index_json(imgs, store)?)
}

fn save_docker_tar<W: Write>(
    store: &Store,
    imgs: &[(ImageRecord, Option<String>)],
    b: &mut tar::Builder<W>,
) -> Result<()> {
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (img, name) in imgs {
        let cfg_name = format!("{}.json", img.id.hex());
        if seen.insert(cfg_name.clone()) {
            append_file(b, &cfg_name, &store.content.path(&img.id))?;
        }
        let mut layers = Vec::new();
        for l in &img.layers {
            let lname = format!("{}/layer.tar", l.diff_id.hex());
            if seen.insert(lname.clone()) {
                // docker-archive layers are uncompressed tars named by diff id.
                let tmp = store.snapshots.temp_dir("layer-");
                let guard = RemoveOnDrop(tmp.clone());
                let src = BufReader::with_capacity(1 << 20, store.content.open_blob(&l.digest)?);
                let comp = Compression::from_media_type(&l.media_type)?;
                let mut dec = decompress::decoder(src, comp).op("decompress")?;
                let mut out = File::create(&tmp).op("create temp layer")?;
                std::io::copy(&mut dec, &mut out).op(format!("decompress layer {}", l.digest))?;
                drop(out);
                append_file(b, &lname, &tmp)?;
                drop(guard);
            }
            layers.push(lname);
        }
        entries.push(serde_json::json!({
            "Config": cfg_name,
            "RepoTags": name.iter().collect::<Vec<_>>(),
            "Layers": layers,
        }));
    }
    append_bytes(
        b,
        "manifest.json",
        &serde_json::to_vec(&entries).expect("json"),
    )
}
