//! Fetching the missing layers of a pull: every layer at once, each downloaded into its
//! [`pipeline`](super::pipeline) (blob ingest beside decompression, digest and unpack);
//! the first failure stops the others; then the layers are committed bottom-up.

use super::pipeline::{unpack_stream, Fetched};
use crate::error::{Error, Result};
use crate::oci::Compression;
use crate::progress::Progress;
use crate::registry::RegistryClient;
use crate::store::{LayerRecord, Store};
use crate::unpack::lowers::{Below, SlotGuard};
use crate::unpack::{ApplyOptions, LayerGate, WhiteoutMode};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The snapshots below a layer, nearest first: the chain ids of the layers under it
/// (`below`, bottom first) in reverse order.
pub(crate) fn lowers_of(below: &[LayerRecord]) -> Vec<crate::Digest> {
    below.iter().rev().map(|l| l.chain_id.clone()).collect()
}

/// Downloads and unpacks the missing layers in parallel, then commits them bottom-up.
/// Returns how many were fetched.
pub async fn fetch_layers(
    store: &Arc<Store>,
    client: &Arc<RegistryClient>,
    layers: &[LayerRecord],
    progress: Arc<dyn Progress>,
) -> Result<usize> {
    let mut set = tokio::task::JoinSet::new();
    let (cancel_tx, cancel_rx) = watch::channel(false);
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
        let (i, r) = j.map_err(|e| Error::task("layer task", e))?;
        match r {
            Ok(f) => {
                done[i] = Some(f);
                n += 1;
            }
            Err(e) => {
                // Stop the other layers and wait for them, so their temporary files are
                // gone before returning.
                let _ = cancel_tx.send(true);
                let mut others = Vec::new();
                while let Some(j) = set.join_next().await {
                    match j {
                        Ok((_, Err(other))) => others.push(other),
                        Ok((_, Ok(_))) => {}
                        Err(je) => others.push(Error::task("layer task", je)),
                    }
                }
                return Err(first_cause(e, others));
            }
        }
    }
    let store2 = store.clone();
    let layers2 = layers.to_vec();
    let t0 = std::time::Instant::now();
    tokio::task::spawn_blocking(move || commit_layers(&store2, &layers2, done))
        .await
        .map_err(|e| Error::task("commit task", e))??;
    tracing::debug!(ms = t0.elapsed().as_millis() as u64, "layers committed");
    Ok(n)
}

/// The error to report of a failed pull: the first one, unless it is only a consequence
/// of another layer's failure (its lower layer failed, it was cancelled) and another
/// layer's own error is among `others`.
pub(crate) fn first_cause(first: Error, others: Vec<Error>) -> Error {
    if !first.is_consequence() {
        return first;
    }
    others
        .into_iter()
        .find(|e| !e.is_consequence())
        .unwrap_or(first)
}

fn commit_layers(store: &Store, layers: &[LayerRecord], done: Vec<Option<Fetched>>) -> Result<()> {
    // Every blob was synced by its worker before it returned; snapshots are committed
    // unsynced (with markers).
    for (i, f) in done.into_iter().enumerate() {
        let Some(f) = f else { continue };
        let l = &layers[i];
        let ctx = || format!("layer {}", l.digest);
        f.ingest.commit().map_err(|e| e.context(ctx()))?;
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
            .map_err(|e| e.context(ctx()))?;
    }
    Ok(())
}

async fn fetch_layer(
    store: &Store,
    client: &RegistryClient,
    l: &LayerRecord,
    progress: &dyn Progress,
    cancel: watch::Receiver<bool>,
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
    let res = worker.await.map_err(|e| Error::task("unpack task", e))?;
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
    mut cancel: watch::Receiver<bool>,
) -> Result<bool> {
    let mut got: u64 = 0;
    let mut attempts = 0;
    loop {
        let resp = tokio::select! {
            r = client.blob(&l.digest, got) => r?,
            _ = cancel.wait_for(|c| *c) => return Err(Error::Cancelled),
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
                _ = cancel.wait_for(|c| *c) => return Err(Error::Cancelled),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_reported_not_its_consequences() {
        let io = || Error::io("write \"f\"", std::io::Error::from_raw_os_error(28));
        let lower = || Error::LowerFailed.context("layer sha256:b");
        // An upper layer noticed first; the lower layer's own error is the one reported.
        let e = first_cause(
            lower(),
            vec![Error::Cancelled, io().context("layer sha256:a")],
        );
        assert!(matches!(e.root(), Error::Io { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "layer sha256:a: write \"f\": No space left on device (os error 28)"
        );
        // A real first error stays, whatever the others are.
        let e = first_cause(io(), vec![lower()]);
        assert!(matches!(e.root(), Error::Io { .. }));
        // Only consequences: the first one.
        let e = first_cause(lower(), vec![Error::Cancelled]);
        assert!(matches!(e.root(), Error::LowerFailed));
    }
}
