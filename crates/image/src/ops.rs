//! Local image operations: lookup, tag, remove, prune, garbage collection, inspect.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::Document;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use std::collections::HashSet;

/// Finds an image by name (short names are qualified with `default_registry`, then, as
/// podman does for images built or imported here, with `localhost`), repo digest or id
/// prefix.
pub fn lookup(store: &Store, key: &str, default_registry: &str) -> Result<ImageRecord> {
    let meta = store.meta();
    if let Some(img) = meta.find(key)? {
        return Ok(img);
    }
    for registry in [default_registry, "localhost"] {
        if let Ok(r) = Reference::parse(key, registry) {
            for k in [r.store_name(), r.to_string()] {
                if let Some(img) = meta.find(&k)? {
                    return Ok(img);
                }
            }
        }
    }
    Err(Error::NotFound(format!("image {key}")))
}

/// Adds the name `target` to the image `source`.
pub fn tag(store: &Store, source: &str, target: &str, default_registry: &str) -> Result<()> {
    let img = lookup(store, source, default_registry)?;
    let r = Reference::parse(target, default_registry)?;
    if r.tag.is_none() {
        return Err(Error::invalid(
            "reference",
            format!("{target:?}: a tag is required"),
        ));
    }
    store.meta().tag(&img.id, &r.store_name())
}

/// What `remove` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Only a name was removed (the image has others).
    Untagged(String),
    /// The image was deleted.
    Deleted(Digest),
}

/// Removes an image by name or id: a name of an image with several names is only
/// untagged; otherwise the image is deleted and unreferenced content collected.
pub fn remove(store: &Store, key: &str, default_registry: &str) -> Result<Vec<Removed>> {
    let img = lookup(store, key, default_registry)?;
    let mut out = Vec::new();
    let by_name = img
        .names
        .iter()
        .find(|n| {
            *n == key
                || Reference::parse(key, default_registry).is_ok_and(|r| &r.store_name() == *n)
        })
        .cloned();
    if let (Some(n), true) = (by_name, img.names.len() > 1) {
        store.meta().untag(&n)?;
        out.push(Removed::Untagged(n));
        return Ok(out);
    }
    for n in &img.names {
        out.push(Removed::Untagged(n.clone()));
    }
    store.meta().remove(&img.id)?;
    out.push(Removed::Deleted(img.id.clone()));
    gc(store)?;
    Ok(out)
}

/// Removes dangling images (no names), or every image with `all`; then collects garbage.
pub fn prune(store: &Store, all: bool) -> Result<Vec<Digest>> {
    let imgs = store.meta().list()?;
    let mut removed = Vec::new();
    for img in imgs {
        if all || img.names.is_empty() {
            store.meta().remove(&img.id)?;
            removed.push(img.id);
        }
    }
    gc(store)?;
    Ok(removed)
}

/// Deletes blobs and snapshots no image and no active snapshot references, and what other
/// layers derived from those snapshots ([`crate::store::derived`]). Returns
/// (blobs, snapshots) removed. The snapshots an active snapshot stacks on stay; so does a
/// committed layer (its snapshot, its blob and its record) while an image or an active
/// snapshot uses it.
pub fn gc(store: &Store) -> Result<(usize, usize)> {
    let _lock = store.lock(true)?;
    let imgs = store.meta().list()?;
    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut snaps: HashSet<Digest> = HashSet::new();
    for a in store.meta().list_active()? {
        snaps.extend(a.lowers);
    }
    for img in &imgs {
        blobs.insert(img.id.clone());
        blobs.insert(img.manifest_digest.clone());
        for rd in &img.repo_digests {
            if let Some((_, d)) = rd.rsplit_once('@') {
                if let Ok(d) = Digest::parse(d) {
                    blobs.insert(d);
                }
            }
        }
        for l in &img.layers {
            blobs.insert(l.digest.clone());
            snaps.insert(l.chain_id.clone());
        }
    }
    let committed = store.meta().list_committed()?;
    for c in &committed {
        if snaps.contains(&c.chain_id) {
            blobs.insert(c.blob.digest.clone());
        }
    }
    let mut nb = 0;
    for d in store.content.list()? {
        if !blobs.contains(&d) {
            store.content.delete(&d)?;
            nb += 1;
        }
    }
    let mut ns = 0;
    for c in store.snapshots.list()? {
        if !snaps.contains(&c) {
            store.snapshots.remove(&c)?;
            ns += 1;
        }
    }
    for c in committed {
        if !snaps.contains(&c.chain_id) {
            store.meta().remove_committed(&c.chain_id)?;
        }
    }
    crate::store::derived::sweep(&store.root, &snaps)?;
    store.content.clean_ingest()?;
    store.snapshots.clean_temp()?;
    Ok((nb, ns))
}

/// The image's config document (the OCI/Docker image config JSON).
pub fn config(store: &Store, img: &ImageRecord) -> Result<serde_json::Value> {
    serde_json::from_slice(&store.content.read(&img.id)?).map_err(|e| Error::invalid("config", e))
}

/// A podman-style inspect document of an image.
pub fn inspect(store: &Store, img: &ImageRecord) -> Result<serde_json::Value> {
    let config = config(store, img)?;
    let manifest = store.content.read(&img.manifest_digest)?;
    let _ = Document::parse(&manifest, Some(&img.manifest_media_type))?;
    let tags: Vec<&String> = img.names.iter().filter(|n| !n.contains('@')).collect();
    Ok(serde_json::json!({
        "Id": img.id.hex(),
        "Digest": img.manifest_digest,
        "RepoTags": tags,
        "RepoDigests": img.repo_digests,
        "Created": config.get("created"),
        "Architecture": config.get("architecture"),
        "Os": config.get("os"),
        "Variant": config.get("variant"),
        "Size": img.size,
        "Config": config.get("config"),
        "RootFS": config.get("rootfs"),
        "History": config.get("history"),
        "Labels": config.get("config").and_then(|c| c.get("Labels")),
        "ManifestType": img.manifest_media_type,
        "Layers": img.layers.iter().map(|l| serde_json::json!({
            "Digest": l.digest, "Size": l.size, "MediaType": l.media_type,
            "DiffID": l.diff_id, "ChainID": l.chain_id,
        })).collect::<Vec<_>>(),
    }))
}
