//! The step cache: a step's chain key (the base image and every instruction up to it, with
//! the content a COPY brings in) names the image the step made, one small file per key under
//! `<root>/build-cache/`. It is shared by builds and survives restarts; an entry whose image
//! is gone (pruned) is a miss. `--no-cache` neither reads it nor is slowed by it.

use super::state::StageState;
use super::Builder;
use strata_image::store::ImageRecord;

fn path(b: &Builder<'_, '_>, key: &str) -> std::path::PathBuf {
    b.e.paths.root.join("build-cache").join(key)
}

/// The image cached under `key`, if it is still in the store.
pub(crate) fn lookup(b: &Builder<'_, '_>, key: &str) -> Option<ImageRecord> {
    if b.s.no_cache {
        return None;
    }
    let id = std::fs::read_to_string(path(b, key)).ok()?;
    let store = b.e.store().ok()?;
    strata_image::ops::lookup(&store, id.trim(), &b.e.opts.default_registry).ok()
}

/// Takes the step from the cache if it is there: `st` becomes its image.
pub(crate) fn reuse(
    b: &mut Builder<'_, '_>,
    st: &mut StageState,
    _step: &str,
) -> Result<bool, String> {
    let Some(img) = lookup(b, &st.key) else {
        return Ok(false);
    };
    let key = st.key.clone();
    st.adopt(b.e, &img)?;
    st.key = key;
    b.say(&format!("--> Using cache {}", img.id.hex()));
    b.cached += 1;
    Ok(true)
}

/// Records the image a step made under the step's key.
pub(crate) fn record(b: &Builder<'_, '_>, st: &StageState, img: &ImageRecord) {
    record_key(b, &st.key, img);
}

/// Records `img` under `key`.
pub(crate) fn record_key(b: &Builder<'_, '_>, key: &str, img: &ImageRecord) {
    let p = path(b, key);
    if let Some(d) = p.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    let tmp = p.with_extension("tmp");
    if std::fs::write(&tmp, img.id.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, &p);
    }
}

/// Removes every cache entry (`strata builder prune`); the number removed.
pub fn prune(root: &std::path::Path) -> std::io::Result<usize> {
    let dir = root.join("build-cache");
    let mut n = 0;
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                std::fs::remove_file(e.path())?;
                n += 1;
            }
            Ok(n)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}
