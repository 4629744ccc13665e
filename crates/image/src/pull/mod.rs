//! `pull`: [`resolve`] the reference to this platform's manifest, [`fetch`] the missing
//! layers (all at once, each through its one-pass [`pipeline`]: download -> blob ingest +
//! decompress -> diff digest -> confined unpack), then record the image. Nothing becomes
//! visible until every layer verified.

pub mod fetch;
pub mod pipeline;
pub mod resolve;

pub use crate::registry::RegistryOptions;
pub use resolve::layer_records;

use crate::digest::Digest;
use crate::error::Result;
use crate::oci::Descriptor;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{ImageRecord, LayerRecord, Store};
use std::sync::Arc;

pub(crate) use fetch::lowers_of;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullResult {
    /// The image id (config digest).
    pub id: Digest,
    /// The name it was stored under.
    pub name: String,
    /// The image was already complete in the store (only the manifest was fetched).
    pub already_present: bool,
    /// Layers downloaded.
    pub layers_fetched: usize,
}

/// Pulls `image` into `store`.
pub async fn pull(
    store: Arc<Store>,
    opts: &RegistryOptions,
    image: &str,
    progress: Arc<dyn Progress>,
) -> Result<PullResult> {
    let r = Reference::parse(image, &opts.config.default_registry)?;
    let ctx = format!("pull {r}");
    let _lock = store.lock(false).map_err(|e| e.context(&ctx))?;
    let mut last = None;
    for host in opts.config.endpoints(&r.registry) {
        match pull_from(&store, opts, &r, &host, progress.clone()).await {
            Ok(res) => return Ok(res),
            Err(e) => {
                if host != r.registry {
                    tracing::warn!(mirror = %host, error = %e, "mirror failed, trying next");
                }
                last = Some(e);
            }
        }
    }
    Err(last.expect("at least one endpoint").context(ctx))
}

async fn pull_from(
    store: &Arc<Store>,
    opts: &RegistryOptions,
    r: &Reference,
    host: &str,
    progress: Arc<dyn Progress>,
) -> Result<PullResult> {
    let client = Arc::new(opts.client(host, &r.repository, vec![])?);
    let (body, ct, top) = resolve::top_document(&client, r).await?;
    let repo_digest = format!("{}@{top}", r.name());
    let name = r.store_name();
    // Fast path: an image that is already complete costs this one manifest request.
    if let Some(img) = resolve::present(store, &repo_digest, &opts.platform)? {
        store.meta().tag(&img.id, &name)?;
        return Ok(PullResult {
            id: img.id,
            name,
            already_present: true,
            layers_fetched: 0,
        });
    }
    let res = resolve::resolve(&client, &opts.platform, top, body, ct).await?;
    // A pull that writes retires earlier pulls' unsynced-snapshot markers once the kernel
    // has written those back (not the fast path above: it must stay a manifest check).
    if let Err(e) = store
        .snapshots
        .retire_unsynced(crate::snapshot::unsynced::RETIRE_AFTER)
    {
        tracing::warn!(error = %e, "retiring unsynced snapshot markers");
    }
    let fetched = fetch::fetch_layers(store, &client, &res.layers, progress).await?;
    // Everything verified: make it visible. Small documents first, then record.
    let m = &res.manifest;
    store.content.put(&res.config, Some(&m.config.digest))?;
    for (d, b) in &res.docs {
        store.content.put(b, Some(d))?;
    }
    let rec = ImageRecord {
        id: m.config.digest.clone(),
        manifest_digest: res.manifest_digest.clone(),
        manifest_media_type: m
            .media_type
            .clone()
            .unwrap_or_else(|| crate::oci::OCI_MANIFEST.into()),
        repo_digests: vec![repo_digest, format!("{}@{}", r.name(), res.manifest_digest)],
        names: vec![name.clone()],
        layers: res.layers,
        created: now(),
        size: m.layers.iter().map(|l| l.size).sum(),
    };
    store.meta().put(&rec)?;
    Ok(PullResult {
        id: rec.id,
        name,
        already_present: false,
        layers_fetched: fetched,
    })
}

/// Unix time now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The descriptor of a stored layer.
pub fn layer_descriptor(l: &LayerRecord) -> Descriptor {
    Descriptor {
        media_type: l.media_type.clone(),
        digest: l.digest.clone(),
        size: l.size,
        platform: None,
        annotations: None,
        urls: None,
    }
}
