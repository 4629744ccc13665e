//! `pull`: manifest resolution, platform selection, and the one-pass layer pipeline
//! (download -> blob ingest + decompress -> diff digest -> confined unpack), layers in
//! parallel; nothing becomes visible until every layer verified.

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result, ResultExt};
use crate::oci::{chain_ids, Compression, ConfigView, Descriptor, Document, Manifest, Platform};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{AuthFile, Credentials, Endpoint, RegistriesConfig, RegistryClient};
use crate::snapshot::PendingSnapshot;
use crate::store::content::Ingest;
use crate::store::{ImageRecord, LayerRecord, Store};
use crate::stream::{chunk_channel, tee_chunks, ChunkReader};
use crate::unpack::lowers::{Below, SlotGuard, LOWER_FAILED};
use crate::unpack::{
    apply_tar_over, decompress, ApplyOptions, ApplyStats, LayerGate, WhiteoutMode,
};
use bytes::Bytes;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Settings shared by commands that talk to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Per-registry settings.
    pub config: RegistriesConfig,
    /// `Some(false)`: no TLS verification (plain http if the registry has no TLS) for every
    /// registry; `Some(true)`: verified https even where the registries file says insecure.
    pub tls_verify: Option<bool>,
    /// Credentials given on the command line (else the auth file's).
    pub creds: Option<Credentials>,
    /// The auth file.
    pub auth_file: PathBuf,
    /// Wanted platform.
    pub platform: Platform,
    /// Longest wait for a registry to answer or to send more data.
    pub timeout: std::time::Duration,
}

impl RegistryOptions {
    /// Defaults: no registries file, TLS verified, the default auth file, the host platform.
    pub fn new() -> Self {
        RegistryOptions {
            config: RegistriesConfig::default(),
            tls_verify: None,
            creds: None,
            auth_file: crate::registry::auth::default_auth_file(),
            platform: Platform::host(),
            timeout: std::time::Duration::from_secs(60),
        }
    }

    /// The endpoint for `host` with its security settings.
    pub fn endpoint(&self, host: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            insecure: match self.tls_verify {
                Some(verify) => !verify,
                None => self.config.insecure(host),
            },
        }
    }

    /// Credentials for `host`: the command line's, else the auth file's.
    pub fn credentials(&self, host: &str) -> Result<Option<Credentials>> {
        if let Some(c) = &self.creds {
            return Ok(Some(c.clone()));
        }
        Ok(AuthFile::load(&self.auth_file)?.get(host))
    }

    /// A client for `repo` on `host`.
    pub fn client(
        &self,
        host: &str,
        repo: &str,
        extra_scopes: Vec<String>,
    ) -> Result<RegistryClient> {
        let ep = self.endpoint(host);
        let http = crate::registry::client::http_client(ep.insecure, self.timeout)?;
        Ok(RegistryClient::new(
            http,
            &ep,
            repo,
            self.credentials(host)?,
            extra_scopes,
        ))
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self::new()
    }
}

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

fn parse_config(bytes: &[u8]) -> Result<ConfigView> {
    serde_json::from_slice(bytes).map_err(|e| Error::invalid("config", e))
}

async fn pull_from(
    store: &Arc<Store>,
    opts: &RegistryOptions,
    r: &Reference,
    host: &str,
    progress: Arc<dyn Progress>,
) -> Result<PullResult> {
    let client = Arc::new(opts.client(host, &r.repository, vec![])?);
    let (body, ct) = client.get_manifest(&r.manifest_ref()).await?;
    let top = Digest::of(&body);
    if let Some(want) = &r.digest {
        crate::digest::check(want, None, &top, body.len() as u64).ctx("manifest")?;
    }
    let repo_digest = format!("{}@{top}", r.name());
    let name = r.store_name();
    // Fast path: an image that is already complete costs this one manifest request.
    let existing = store.meta().by_repo_digest(&repo_digest)?;
    for img in existing {
        if store.complete(&img)
            && platform_of(store, &img).is_some_and(|p| opts.platform.matches(&p))
        {
            store.meta().tag(&img.id, &name)?;
            return Ok(PullResult {
                id: img.id,
                name,
                already_present: true,
                layers_fetched: 0,
            });
        }
    }
    let mut docs: Vec<(Digest, Vec<u8>)> = vec![(top.clone(), body.clone())];
    let (mdigest, mbody, manifest) = match Document::parse(&body, ct.as_deref()).ctx("manifest")? {
        Document::Manifest(m) => (top.clone(), body, *m),
        Document::Index(idx) => {
            let desc = idx.select(&opts.platform)?.clone();
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
                    docs.push((desc.digest.clone(), b.clone()));
                    (desc.digest, b, *m)
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
    let records = layer_records(&manifest, &cv);
    // A pull that writes retires earlier pulls' unsynced-snapshot markers once the kernel
    // has written those back (not the fast path above: it must stay a manifest check).
    if let Err(e) = store
        .snapshots
        .retire_unsynced(crate::snapshot::unsynced::RETIRE_AFTER)
    {
        tracing::warn!(error = %e, "retiring unsynced snapshot markers");
    }
    let fetched = fetch_layers(store, &client, &records, progress).await?;
    // Everything verified: make it visible. Small documents first, then record.
    store.content.put(&config, Some(&manifest.config.digest))?;
    for (d, b) in &docs {
        store.content.put(b, Some(d))?;
    }
    let _ = mbody;
    let rec = ImageRecord {
        id: manifest.config.digest.clone(),
        manifest_digest: mdigest.clone(),
        manifest_media_type: manifest
            .media_type
            .clone()
            .unwrap_or_else(|| crate::oci::OCI_MANIFEST.into()),
        repo_digests: vec![repo_digest, format!("{}@{mdigest}", r.name())],
        names: vec![name.clone()],
        layers: records,
        created: now(),
        size: manifest.layers.iter().map(|l| l.size).sum(),
    };
    store.meta().put(&rec)?;
    Ok(PullResult {
        id: rec.id,
        name,
        already_present: false,
        layers_fetched: fetched,
    })
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

/// Unix time now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The snapshots below a layer, nearest first: the chain ids of the layers under it
/// (`below`, bottom first) in reverse order.
pub(crate) fn lowers_of(below: &[LayerRecord]) -> Vec<Digest> {
    below.iter().rev().map(|l| l.chain_id.clone()).collect()
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

/// A layer fetched and unpacked, not yet visible.
struct Fetched {
    ingest: Ingest,
    snapshot: PendingSnapshot,
    stats: ApplyStats,
}

/// Downloads and unpacks the missing layers in parallel, then commits them bottom-up.
/// Returns how many were fetched.
async fn fetch_layers(
    store: &Arc<Store>,
    client: &Arc<RegistryClient>,
    layers: &[LayerRecord],
    progress: Arc<dyn Progress>,
) -> Result<usize> {
    let mut set = tokio::task::JoinSet::new();
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    // Layers are unpacked at once; one that needs to look into the layers below (a
    // parent directory it does not contain) waits for them here.
    let gate = LayerGate::new(layers.len());
    for (i, l) in layers.iter().enumerate() {
        if store.snapshots.has(&l.chain_id) && store.content.has(&l.digest) {
            match crate::fsops::open_trusted_dir(&store.snapshots.path(&l.chain_id)) {
                Ok(fd) => gate.ready(i, Arc::new(fd)),
                Err(_) => drop(gate.guard(i)), // marks it failed
            }
            progress.finish(&l.digest, "exists");
            continue;
        }
        let (store, client, l, progress) =
            (store.clone(), client.clone(), l.clone(), progress.clone());
        let cancel = cancel_rx.clone();
        let (guard, below) = (gate.guard(i), gate.below(i));
        set.spawn(async move {
            let r = fetch_layer(&store, &client, &l, progress.as_ref(), cancel, guard, below)
                .await
                .map_err(|e| e.context(format!("layer {}", l.digest)));
            (i, r)
        });
    }
    let mut done: Vec<Option<Fetched>> = (0..layers.len()).map(|_| None).collect();
    let mut n = 0;
    while let Some(j) = set.join_next().await {
        let (i, r) = j.map_err(|e| Error::Http(format!("layer task failed: {e}")))?;
        match r {
            Ok(f) => {
                done[i] = Some(f);
                n += 1;
            }
            Err(mut e) => {
                // Stop the other layers and wait for them, so their temporary files are
                // gone before returning; report a lower layer's own error rather than
                // the failure it caused above it.
                let _ = cancel_tx.send(true);
                while let Some(j) = set.join_next().await {
                    if let Ok((_, Err(other))) = j {
                        if e.to_string().ends_with(LOWER_FAILED)
                            && !other.to_string().ends_with(LOWER_FAILED)
                            && !other.to_string().ends_with("cancelled")
                        {
                            e = other;
                        }
                    }
                }
                return Err(e);
            }
        }
    }
    let store2 = store.clone();
    let layers2 = layers.to_vec();
    let t0 = std::time::Instant::now();
    tokio::task::spawn_blocking(move || commit_layers(&store2, &layers2, done))
        .await
        .map_err(|e| Error::Http(format!("commit task failed: {e}")))??;
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "layers committed");
    Ok(n)
}

fn commit_layers(store: &Store, layers: &[LayerRecord], done: Vec<Option<Fetched>>) -> Result<()> {
    // Every blob was synced by its worker before it returned; snapshots are committed
    // unsynced (with markers).
    for (i, f) in done.into_iter().enumerate() {
        let Some(f) = f else { continue };
        let l = &layers[i];
        f.ingest
            .commit()
            .with_ctx(|| format!("layer {}", l.digest))?;
        let lowers = lowers_of(&layers[..i]);
        store
            .snapshots
            .commit(
                f.snapshot,
                &l.chain_id,
                &f.stats.deferred_links,
                &lowers,
                false,
            )
            .with_ctx(|| format!("layer {}", l.digest))?;
    }
    Ok(())
}

async fn fetch_layer(
    store: &Store,
    client: &RegistryClient,
    l: &LayerRecord,
    progress: &dyn Progress,
    cancel: tokio::sync::watch::Receiver<bool>,
    guard: SlotGuard,
    below: Below,
) -> Result<Fetched> {
    let comp = Compression::from_media_type(&l.media_type)?;
    let ingest = store.content.writer(&l.digest, Some(l.size))?;
    let snapshot = store.snapshots.prepare()?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let diff_id = l.diff_id.clone();
    let opts = ApplyOptions::new(WhiteoutMode::Overlay, store.rootless);
    let worker = tokio::task::spawn_blocking(move || {
        unpack_stream(rx, ingest, snapshot, comp, &diff_id, opts, guard, &below)
    });
    progress.start(&l.digest, l.size);
    let t0 = std::time::Instant::now();
    let dl = download(client, l, tx, progress, cancel).await;
    let download_ms = t0.elapsed().as_millis() as u64;
    let res = worker
        .await
        .map_err(|e| Error::Http(format!("unpack task failed: {e}")))?;
    let total_ms = t0.elapsed().as_millis() as u64;
    tracing::debug!(layer = %l.digest, size = l.size, download_ms, total_ms, "layer fetched and unpacked");
    match (dl, res) {
        (Ok(_), Ok(f)) => {
            progress.finish(&l.digest, "done");
            Ok(f)
        }
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
    }
}

/// Streams the blob into `tx`, resuming with ranges after a cut connection.
/// Returns Ok(false) when the unpacker stopped listening (its error is the one to report).
async fn download(
    client: &RegistryClient,
    l: &LayerRecord,
    tx: mpsc::Sender<Bytes>,
    progress: &dyn Progress,
    mut cancel: tokio::sync::watch::Receiver<bool>,
) -> Result<bool> {
    let cancelled = || Error::Http("cancelled".into());
    let mut got: u64 = 0;
    let mut attempts = 0;
    loop {
        let resp = tokio::select! {
            r = client.blob(&l.digest, got) => r?,
            _ = cancel.wait_for(|c| *c) => return Err(cancelled()),
        };
        let mut skip = if got > 0 && resp.status() != reqwest::StatusCode::PARTIAL_CONTENT {
            got // server ignored the range
        } else {
            0
        };
        let mut stream = resp.bytes_stream();
        let mut cut = false;
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.wait_for(|c| *c) => return Err(cancelled()),
            };
            let Some(c) = next else { break };
            let mut c = match c {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(layer = %l.digest, error = %e, "blob stream cut");
                    cut = true;
                    break;
                }
            };
            if skip > 0 {
                let k = skip.min(c.len() as u64);
                c = c.slice(k as usize..);
                skip -= k;
                if c.is_empty() {
                    continue;
                }
            }
            got += c.len() as u64;
            if got > l.size {
                return Err(Error::SizeMismatch {
                    expected: l.size,
                    actual: got,
                });
            }
            let n = c.len() as u64;
            if tx.send(c).await.is_err() {
                return Ok(false);
            }
            progress.advance(&l.digest, n);
        }
        if got == l.size {
            return Ok(true);
        }
        attempts += 1;
        if attempts > 3 || !cut {
            return Err(Error::SizeMismatch {
                expected: l.size,
                actual: got,
            }
            .context("truncated blob"));
        }
        tracing::info!(layer = %l.digest, offset = got, "resuming blob download");
    }
}

#[allow(clippy::too_many_arguments)]
fn unpack_stream(
    rx: mpsc::Receiver<Bytes>,
    ingest: Ingest,
    snapshot: PendingSnapshot,
    comp: Compression,
    diff_id: &Digest,
    opts: ApplyOptions,
    guard: SlotGuard,
    below: &Below,
) -> Result<Fetched> {
    let (tx, crx) = chunk_channel();
    std::thread::scope(|s| {
        let writer = std::thread::Builder::new()
            .name("blob-writer".into())
            .spawn_scoped(s, move || tee_chunks(rx, ingest, tx))
            .map_err(|e| Error::io("start blob writer", e))?;
        let mut src = ChunkReader::new(crx);
        let res = (|| -> Result<ApplyStats> {
            let dec =
                decompress::decoder(&mut src, comp).map_err(|e| Error::io("decompress", e))?;
            let mut h = HashingReader::new(dec);
            let stats = apply_tar_over(&mut h, &snapshot.fd, opts, below)?;
            // The tree is complete: layers above may look into it now.
            let fd = snapshot
                .fd
                .try_clone()
                .map_err(|e| Error::io("dup snapshot fd", e))?;
            guard.ready(Arc::new(fd));
            let (got, n, _) = h.finish().map_err(|e| Error::io("decompress", e))?;
            crate::digest::check(diff_id, None, &got, n).ctx("uncompressed layer (diff id)")?;
            Ok(stats)
        })();
        if res.is_ok() {
            src.drain();
        }
        drop(src); // a failed unpacker stops the writer (and so the download)
        let written = writer
            .join()
            .map_err(|_| Error::Http("blob writer panicked".into()))?;
        // A failed blob write (disk full) explains the unpacker's failure: report it first.
        let mut ingest = written.map_err(|e| Error::io("write blob", e))?;
        let stats = res?;
        ingest.verify()?;
        // The blob is made durable here, overlapping with the other layers' work (the
        // commit then only renames); the snapshot is committed unsynced, with a marker
        // (see `store::unsynced`: a syncfs would also wait for other programs' writes).
        ingest.sync()?;
        Ok(Fetched {
            ingest,
            snapshot,
            stats,
        })
    })
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
