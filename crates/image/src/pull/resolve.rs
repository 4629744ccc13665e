//! Resolution: from a reference to the one manifest to pull (an index is narrowed to the
//! wanted platform), its config and the layer records (with chain ids); and the fast path
//! that finds the image complete in the store already.

use crate::digest::Digest;
use crate::error::{Error, Result, ResultExt};
use crate::oci::{chain_ids, ConfigView, Document, Manifest, Platform};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::store::{ImageRecord, LayerRecord, Store};

/// A manifest resolved for this platform, with everything needed to fetch its layers.
pub struct Resolved {
    /// The documents to store: the top one, and the platform's manifest if `top` is an
    /// index.
    pub docs: Vec<(Digest, Vec<u8>)>,
    /// Digest of the platform's manifest.
    pub manifest_digest: Digest,
    /// The platform's manifest.
    pub manifest: Manifest,
    /// The config blob (verified).
    pub config: Vec<u8>,
    /// The layers, bottom first, with diff and chain ids.
    pub layers: Vec<LayerRecord>,
}

/// The top document the reference names: its body, content type and digest (checked
/// against a digest reference).
pub async fn top_document(
    client: &RegistryClient,
    r: &Reference,
) -> Result<(Vec<u8>, Option<String>, Digest)> {
    let (body, ct) = client.get_manifest(&r.manifest_ref()).await?;
    let top = Digest::of(&body);
    if let Some(want) = &r.digest {
        crate::digest::check(want, None, &top, body.len() as u64).ctx("manifest")?;
    }
    Ok((body, ct, top))
}

/// A stored image pulled by `repo_digest` that is complete and of the wanted platform.
pub fn present(
    store: &Store,
    repo_digest: &str,
    platform: &Platform,
) -> Result<Option<ImageRecord>> {
    let existing = store.meta().by_repo_digest(repo_digest)?;
    Ok(existing.into_iter().find(|img| {
        store.complete(img) && platform_of(store, img).is_some_and(|p| platform.matches(&p))
    }))
}

/// Resolves the top document (`body`, of content type `ct`) to this platform's manifest,
/// then fetches and checks the config.
pub async fn resolve(
    client: &RegistryClient,
    platform: &Platform,
    top: Digest,
    body: Vec<u8>,
    ct: Option<String>,
) -> Result<Resolved> {
    let mut docs: Vec<(Digest, Vec<u8>)> = vec![(top.clone(), body.clone())];
    let (manifest_digest, manifest) = match Document::parse(&body, ct.as_deref()).ctx("manifest")? {
        Document::Manifest(m) => (top.clone(), *m),
        Document::Index(idx) => {
            let desc = idx.select(platform)?.clone();
            let (b, ct2) = client.get_manifest(desc.digest.as_str()).await?;
            crate::digest::check(
                &desc.digest,
                Some(desc.size),
                &Digest::of(&b),
                b.len() as u64,
            )
            .with_ctx(|| format!("manifest {}", desc.digest))?;
            match Document::parse(&b, ct2.as_deref())
                .with_ctx(|| format!("manifest {}", desc.digest))?
            {
                Document::Manifest(m) => {
                    docs.push((desc.digest.clone(), b));
                    (desc.digest, *m)
                }
                Document::Index(_) => return Err(Error::invalid("index", "nested index")),
            }
        }
    };
    let config = client
        .get_blob_small(&manifest.config.digest, manifest.config.size)
        .await
        .with_ctx(|| format!("config {}", manifest.config.digest))?;
    let cv = parse_config(&config).with_ctx(|| format!("config {}", manifest.config.digest))?;
    if cv.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(Error::invalid(
            "manifest",
            format!(
                "{} layers but config lists {} diff ids",
                manifest.layers.len(),
                cv.rootfs.diff_ids.len()
            ),
        ));
    }
    let layers = layer_records(&manifest, &cv);
    Ok(Resolved {
        docs,
        manifest_digest,
        manifest,
        config,
        layers,
    })
}

/// Parses an image config.
pub fn parse_config(bytes: &[u8]) -> Result<ConfigView> {
    serde_json::from_slice(bytes).map_err(|e| Error::invalid("config", e))
}

/// The platform recorded in a stored image's config.
fn platform_of(store: &Store, img: &ImageRecord) -> Option<Platform> {
    let cv = parse_config(&store.content.read(&img.id).ok()?).ok()?;
    Some(Platform {
        architecture: cv.architecture,
        os: cv.os,
        variant: cv.variant,
        os_version: None,
    })
}

/// Layer records (with chain ids) of a manifest and its config.
pub fn layer_records(m: &Manifest, cv: &ConfigView) -> Vec<LayerRecord> {
    let chains = chain_ids(&cv.rootfs.diff_ids);
    m.layers
        .iter()
        .zip(cv.rootfs.diff_ids.iter().zip(chains))
        .map(|(l, (diff, chain))| LayerRecord {
            digest: l.digest.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
            diff_id: diff.clone(),
            chain_id: chain,
        })
        .collect()
}
