//! Commit: an active snapshot's writable layer becomes a layer of the store (blob,
//! snapshot, record), in the order that makes a crash harmless: the blob is durable
//! first; the layer directory is synced and renamed into place as a whole; the record of
//! the new layer, then the removal of the active snapshot, come last (a crash before
//! them leaves an unreferenced snapshot, collected by the next garbage collection, and a
//! record without its layer, dropped at the next open).

use super::Snapshotter;
use crate::digest::HashingWriter;
use crate::error::{Error, IoResultExt, Result};
use crate::fsops;
use crate::oci::{chain_id, Descriptor, OCI_LAYER_GZIP};
use crate::snapshot::diff::write_diff_clamped;
use crate::snapshot::{Committed, Kind};

pub(super) fn commit(
    s: &Snapshotter<'_>,
    key: &str,
    clamp_mtime: Option<i64>,
) -> Result<Committed> {
    let store = s.store;
    let info = s.stat(key)?;
    let _lock = store.lock(false)?;
    if info.kind != Kind::Active {
        return Err(Error::invalid(
            "commit",
            "a view is read-only: only a snapshot made by prepare can be committed",
        ));
    }
    let fs = store.active.fs(key);
    let root = fsops::open_trusted_dir(&fs).op(format!("open {}", fs.display()))?;
    // The diff, compressed on its way into the content store; the tar's own digest is
    // the diff id.
    let ingest = store.content.writer_any()?;
    let gz = flate2::write::GzEncoder::new(ingest, flate2::Compression::default());
    let (tar, stats) = write_diff_clamped(&root, HashingWriter::new(gz), clamp_mtime)?;
    let (diff_id, tar_size, gz) = tar.finish();
    let ingest = gz.finish().op("compress layer")?;
    let size = ingest.written();
    let digest = ingest.commit()?;
    tracing::debug!(
        key,
        entries = stats.entries,
        tar_size,
        size,
        "layer written"
    );
    drop(root);
    let chain = chain_id(info.parent.as_ref(), &diff_id);
    // Same content committed before: its snapshot stays, this one goes with the key.
    store.snapshots.install(&fs, &chain)?;
    let mut lowers = vec![chain.clone()];
    lowers.extend(info.lowers.iter().cloned());
    let c = Committed {
        chain_id: chain,
        parent: info.parent.clone(),
        lowers,
        diff_id,
        blob: Descriptor {
            media_type: OCI_LAYER_GZIP.into(),
            digest,
            size,
            platform: None,
            annotations: None,
            urls: None,
        },
        created: strata_os::clock::rfc3339_now(),
    };
    store.meta().put_committed(&c)?;
    store.meta().remove_active(key)?;
    store.active.remove(key)?;
    Ok(c)
}
