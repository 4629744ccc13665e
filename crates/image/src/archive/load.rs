//! `load`: OCI layout (dir or tar) or docker-archive into the store. Blobs are verified
//! on the way in; if anything fails, the blobs this load added are removed again.

use super::{IMAGE_NAME, REF_NAME};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoResultExt, Result, ResultExt};
use crate::fsops;
use crate::oci::{
    Compression, ConfigView, Document, Manifest, Platform, DOCKER_CONFIG, DOCKER_MANIFEST,
};
use crate::pull::{layer_records, lowers_of, now};
use crate::reference::Reference;
use crate::store::{ImageRecord, LayerRecord, Store};
use crate::unpack::{apply_tar_over, decompress, ApplyOptions, OpenLowers, WhiteoutMode};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Blobs added by this load (removed on failure).
struct Added<'a> {
    store: &'a Store,
    digests: Vec<Digest>,
    keep: bool,
}

impl Drop for Added<'_> {
    fn drop(&mut self) {
        if !self.keep {
            for d in &self.digests {
                let _ = self.store.content.delete(d);
            }
        }
    }
}

impl Added<'_> {
    fn ingest<R: Read>(&mut self, mut r: R, expected: Option<&Digest>) -> Result<Digest> {
        if let Some(e) = expected {
            if self.store.content.has(e) {
                return Ok(e.clone());
            }
        }
        let mut w = match expected {
            Some(e) => self.store.content.writer(e, None)?,
            None => self.store.content.writer_any()?,
        };
        std::io::copy(&mut r, &mut w).op("copy blob")?;
        w.verify()?;
        let pre = |d: &Digest| self.store.content.has(d);
        let d = w.commit()?;
        if !pre(&d) || !self.digests.contains(&d) {
            self.digests.push(d.clone());
        }
        Ok(d)
    }
}

/// Loads an archive or layout directory; returns (image id, names) per image.
pub fn load(store: &Store, input: &Path) -> Result<Vec<(Digest, Vec<String>)>> {
    let _lock = store.lock(false)?;
    let mut added = Added {
        store,
        digests: Vec::new(),
        keep: false,
    };
    let mut docs: HashMap<String, Vec<u8>> = HashMap::new();
    let mut files: HashMap<String, Digest> = HashMap::new();
    if input.is_dir() {
        for n in ["index.json", "manifest.json"] {
            if let Ok(b) = std::fs::read(input.join(n)) {
                docs.insert(n.into(), b);
            }
        }
        let blobs = input.join("blobs/sha256");
        if let Ok(rd) = std::fs::read_dir(&blobs) {
            for e in rd.flatten() {
                let Ok(d) = Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy()))
                else {
                    continue;
                };
                let f = File::open(e.path()).op(format!("open {}", e.path().display()))?;
                added.ingest(f, Some(&d)).with_ctx(|| format!("blob {d}"))?;
            }
        }
    } else {
        let f = File::open(input).op(format!("open {}", input.display()))?;
        let mut ar = tar::Archive::new(BufReader::with_capacity(1 << 20, f));
        for e in ar.entries().op("read archive")? {
            let mut e = e.op("read archive")?;
            if !e.header().entry_type().is_file() {
                continue;
            }
            let name = String::from_utf8_lossy(&e.path_bytes())
                .trim_start_matches("./")
                .to_string();
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let d = Digest::parse(&format!("sha256:{hex}"))?;
                added
                    .ingest(&mut e, Some(&d))
                    .with_ctx(|| format!("blob {d}"))?;
            } else if name.ends_with(".json")
                && e.header().size().unwrap_or(0) <= crate::registry::client::MAX_DOC
            {
                let mut b = Vec::new();
                e.read_to_end(&mut b).op(format!("read {name}"))?;
                docs.insert(name, b);
            } else {
                let d = added
                    .ingest(&mut e, None)
                    .with_ctx(|| format!("file {name}"))?;
                files.insert(name, d);
            }
        }
    }
    let out = if let Some(idx) = docs.get("index.json") {
        load_oci(store, idx)?
    } else if let Some(m) = docs.get("manifest.json") {
        load_docker(store, m, &docs, &files, &mut added)?
    } else {
        return Err(Error::invalid(
            "archive",
            "neither index.json nor manifest.json found",
        ));
    };
    added.keep = true;
    Ok(out)
}

fn load_oci(store: &Store, idx: &[u8]) -> Result<Vec<(Digest, Vec<String>)>> {
    let Document::Index(idx) =
        Document::parse(idx, Some(crate::oci::OCI_INDEX)).ctx("index.json")?
    else {
        return Err(Error::invalid("index.json", "not an index"));
    };
    let mut out = Vec::new();
    for desc in &idx.manifests {
        let ann = desc.annotations.clone().unwrap_or_default();
        let name = ann
            .get(IMAGE_NAME)
            .or_else(|| ann.get(REF_NAME))
            .and_then(|n| Reference::parse(n, "localhost").ok())
            .map(|r| r.store_name());
        let body = store
            .content
            .read(&desc.digest)
            .with_ctx(|| format!("manifest {}", desc.digest))?;
        let (mdigest, body, m) = match Document::parse(&body, Some(&desc.media_type))? {
            Document::Manifest(m) => (desc.digest.clone(), body, *m),
            Document::Index(inner) => {
                let d = inner.select(&Platform::host())?.digest.clone();
                let b = store
                    .content
                    .read(&d)
                    .with_ctx(|| format!("manifest {d}"))?;
                match Document::parse(&b, None)? {
                    Document::Manifest(m) => (d, b, *m),
                    Document::Index(_) => return Err(Error::invalid("index", "nested index")),
                }
            }
        };
        let _ = body;
        let id = register(store, &m, &mdigest, name.clone())?;
        out.push((id, name.into_iter().collect()));
    }
    Ok(out)
}

fn load_docker(
    store: &Store,
    manifest: &[u8],
    docs: &HashMap<String, Vec<u8>>,
    files: &HashMap<String, Digest>,
    added: &mut Added<'_>,
) -> Result<Vec<(Digest, Vec<String>)>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let entries: Vec<Entry> =
        serde_json::from_slice(manifest).map_err(|e| Error::invalid("manifest.json", e))?;
    let mut out = Vec::new();
    for e in entries {
        let cfg = docs
            .get(&e.config)
            .ok_or_else(|| Error::NotFound(format!("config {}", e.config)))?;
        let cfg_digest = added.ingest(&cfg[..], None)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let d = files
                .get(l)
                .cloned()
                .or_else(|| {
                    l.strip_prefix("blobs/sha256/")
                        .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok())
                        .filter(|d| store.content.has(d))
                })
                .ok_or_else(|| Error::NotFound(format!("layer file {l}")))?;
            let mut head = [0u8; 4];
            let n = store
                .content
                .open_blob(&d)?
                .read(&mut head)
                .op("read layer")?;
            let mt = match Compression::sniff(&head[..n]) {
                Compression::Gzip => crate::oci::DOCKER_LAYER_GZIP,
                Compression::Zstd => crate::oci::OCI_LAYER_ZSTD,
                Compression::None => "application/vnd.docker.image.rootfs.diff.tar",
            };
            let size = store.content.size(&d).unwrap_or(0);
            layers.push(serde_json::json!({"mediaType": mt, "digest": d, "size": size}));
        }
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": cfg_digest, "size": cfg.len()},
            "layers": layers,
        });
        let mb = serde_json::to_vec(&m).expect("json");
        let md = added.ingest(&mb[..], None)?;
        let m: Manifest = serde_json::from_value(m).map_err(|e| Error::invalid("manifest", e))?;
        let names: Vec<String> = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .filter_map(|t| {
                Reference::parse(t, "localhost")
                    .ok()
                    .map(|r| r.store_name())
            })
            .collect();
        let id = register(store, &m, &md, None)?;
        for n in &names {
            store.meta().tag(&id, n)?;
        }
        out.push((id, names));
    }
    Ok(out)
}

/// Unpacks a manifest's layers from the store's blobs and records the image.
fn register(store: &Store, m: &Manifest, mdigest: &Digest, name: Option<String>) -> Result<Digest> {
    let cfg = store
        .content
        .read(&m.config.digest)
        .with_ctx(|| format!("config {}", m.config.digest))?;
    let cv: ConfigView = serde_json::from_slice(&cfg).map_err(|e| Error::invalid("config", e))?;
    if cv.rootfs.diff_ids.len() != m.layers.len() {
        return Err(Error::invalid(
            "manifest",
            "layer count differs from the config's diff ids",
        ));
    }
    let records = layer_records(m, &cv);
    unpack_layers(store, &records)?;
    let rec = ImageRecord {
        id: m.config.digest.clone(),
        manifest_digest: mdigest.clone(),
        manifest_media_type: m
            .media_type
            .clone()
            .unwrap_or_else(|| crate::oci::OCI_MANIFEST.into()),
        repo_digests: vec![],
        names: name.into_iter().collect(),
        layers: records,
        created: now(),
        size: m.layers.iter().map(|l| l.size).sum(),
    };
    store.meta().put(&rec)?;
    Ok(rec.id)
}

/// Creates missing snapshots from stored layer blobs, bottom-up, verifying diff ids.
pub fn unpack_layers(store: &Store, layers: &[LayerRecord]) -> Result<()> {
    let opts = ApplyOptions::new(WhiteoutMode::Overlay, store.rootless);
    for (i, l) in layers.iter().enumerate() {
        if store.snapshots.has(&l.chain_id) {
            continue;
        }
        let ctx = || format!("layer {}", l.digest);
        let snap = store.snapshots.prepare()?;
        let f = BufReader::with_capacity(1 << 20, store.content.open_blob(&l.digest)?);
        let comp = Compression::from_media_type(&l.media_type).with_ctx(ctx)?;
        let dec = decompress::decoder(f, comp)
            .op("decompress")
            .with_ctx(ctx)?;
        let mut h = HashingReader::new(dec);
        let lowers = lowers_of(&layers[..i]);
        // The snapshots below are committed (bottom-up order).
        let roots = lowers
            .iter()
            .map(|c| {
                fsops::open_trusted_dir(&store.snapshots.path(c))
                    .map(std::sync::Arc::new)
                    .op("open lower snapshot")
            })
            .collect::<Result<Vec<_>>>()
            .with_ctx(ctx)?;
        let stats = apply_tar_over(&mut h, &snap.fd, opts, &OpenLowers(roots)).with_ctx(ctx)?;
        let (got, n, _) = h.finish().op("decompress").with_ctx(ctx)?;
        crate::digest::check(&l.diff_id, None, &got, n).with_ctx(ctx)?;
        store
            .snapshots
            .commit(snap, &l.chain_id, &stats.deferred_links, &lowers, true)
            .with_ctx(ctx)?;
    }
    Ok(())
}
