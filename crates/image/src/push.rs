//! `push`: blobs are checked with HEAD first, mounted from another repository of the same
//! registry when the image came from there, uploaded otherwise; then the manifest.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::ops;
use crate::progress::Progress;
use crate::pull::RegistryOptions;
use crate::reference::Reference;
use crate::store::Store;
use std::sync::Arc;

/// Pushes the local image `local` to `dest` (default: its own name). Returns the manifest digest.
pub async fn push(
    store: &Store,
    opts: &RegistryOptions,
    local: &str,
    dest: Option<&str>,
    progress: Arc<dyn Progress>,
) -> Result<Digest> {
    let reg = &opts.config.default_registry;
    let img = ops::lookup(store, local, reg).map_err(|e| e.context(format!("push {local}")))?;
    let target = match dest {
        Some(d) => d.to_string(),
        None => match Reference::parse(local, reg) {
            Ok(r) if img.names.contains(&r.store_name()) => r.store_name(),
            _ => img.names.first().cloned().ok_or_else(|| {
                Error::invalid(
                    "reference",
                    format!("push {local}: image has no name, give a destination"),
                )
            })?,
        },
    };
    let r = Reference::parse(&target, reg)?;
    push_to(store, opts, &img, &r, progress)
        .await
        .map_err(|e| e.context(format!("push {r}")))
}

async fn push_to(
    store: &Store,
    opts: &RegistryOptions,
    img: &crate::store::ImageRecord,
    r: &Reference,
    progress: Arc<dyn Progress>,
) -> Result<Digest> {
    // Repositories on the same registry that already hold this image: mount sources.
    let mut sources: Vec<String> = Vec::new();
    for n in img.names.iter().chain(img.repo_digests.iter()) {
        if let Ok(src) = Reference::parse(n, &opts.config.default_registry) {
            if src.registry == r.registry
                && src.repository != r.repository
                && !sources.contains(&src.repository)
            {
                sources.push(src.repository);
            }
        }
    }
    let scopes = sources
        .iter()
        .map(|s| format!("repository:{s}:pull"))
        .collect();
    let client = opts.client(&r.registry, &r.repository, scopes)?;
    let mut blobs: Vec<(Digest, u64)> = img
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.size))
        .collect();
    let cfg_size = store
        .content
        .size(&img.id)
        .ok_or_else(|| Error::NotFound(format!("config {}", img.id)))?;
    blobs.push((img.id.clone(), cfg_size));
    for (d, size) in &blobs {
        let what = |e: Error| e.context(format!("blob {d}"));
        if client.blob_exists(d).await.map_err(what)? {
            progress.finish(d, "exists");
            continue;
        }
        let mut mounted = false;
        for s in &sources {
            if client.mount_blob(d, s).await.map_err(what)? {
                mounted = true;
                break;
            }
        }
        if mounted {
            progress.finish(d, "mounted");
            continue;
        }
        let path = store.content.path(d);
        if !path.is_file() {
            return Err(what(Error::NotFound("local blob".into())));
        }
        progress.start(d, *size);
        client.upload_blob(d, &path, *size).await.map_err(what)?;
        progress.advance(d, *size);
        progress.finish(d, "done");
    }
    let manifest = store.content.read(&img.manifest_digest)?;
    let reference = r.manifest_ref();
    client
        .put_manifest(&reference, &manifest, &img.manifest_media_type)
        .await
        .map_err(|e| e.context(format!("manifest {}", img.manifest_digest)))?;
    Ok(img.manifest_digest.clone())
}
