//! One layer's pipeline: the downloaded chunks go to a writer thread (blob digest and
//! ingest) and, shared, to the unpacker on this thread (decompression, diff digest,
//! confined unpack into a pending snapshot). Nothing here is visible until committed.

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result, ResultExt};
use crate::oci::Compression;
use crate::snapshot::PendingSnapshot;
use crate::store::content::Ingest;
use crate::stream::{chunk_channel, tee_chunks, ChunkReader};
use crate::unpack::lowers::{Below, SlotGuard};
use crate::unpack::{apply_tar_over, decompress, ApplyOptions, ApplyStats};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A layer fetched and unpacked, not yet visible.
pub struct Fetched {
    /// The blob, written, verified and synced.
    pub ingest: Ingest,
    /// The unpacked snapshot.
    pub snapshot: PendingSnapshot,
    /// What the unpack did (hard links to resolve at commit).
    pub stats: ApplyStats,
}

/// Runs the pipeline of one layer until its stream `rx` ends; marks the layer ready in
/// the gate (`guard`) as soon as its tree is complete, so layers above can look into it.
#[allow(clippy::too_many_arguments)]
pub fn unpack_stream(
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
            .map_err(|_| Error::task("blob writer", "panicked"))?;
        // A failed blob write (disk full) explains the unpacker's failure: report it first.
        let mut ingest = written.map_err(|e| Error::io("write blob", e))?;
        let stats = res?;
        ingest.verify()?;
        // The blob is made durable here, overlapping with the other layers' work (the
        // commit then only renames); the snapshot is committed unsynced, with a marker
        // (see `snapshot::unsynced`: a syncfs would also wait for other programs' writes).
        ingest.sync()?;
        Ok(Fetched {
            ingest,
            snapshot,
            stats,
        })
    })
}
