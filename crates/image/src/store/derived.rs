//! Caches other layers derive from a snapshot (a VM's erofs disk of a layer, say), kept
//! under `<root>/derived/<kind>/` in files named by the snapshot's chain id (hex) and an
//! extension: `<hex>.<ext>`. Garbage collection removes them with their snapshot, and any
//! whose snapshot is gone (a crash between the two), so removing an image frees them too.

use crate::digest::Digest;
use crate::error::{IoResultExt, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The directory of derived caches of `kind` under the store root `root` (made on demand).
pub fn dir(root: &Path, kind: &str) -> PathBuf {
    root.join("derived").join(kind)
}

/// Removes every derived file whose snapshot is not in `live`; how many were removed.
pub fn sweep(root: &Path, live: &HashSet<Digest>) -> Result<usize> {
    let base = root.join("derived");
    let kinds = match std::fs::read_dir(&base) {
        Ok(k) => k,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).op(format!("read {}", base.display())),
    };
    let live: HashSet<String> = live.iter().map(|d| d.hex().to_string()).collect();
    let mut removed = 0;
    for kind in kinds {
        let kind = kind.op(format!("read {}", base.display()))?.path();
        let Ok(files) = std::fs::read_dir(&kind) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.split('.').next()) else {
                continue;
            };
            if !live.contains(hex) {
                let p = f.path();
                let r = match f.file_type() {
                    Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                    _ => std::fs::remove_file(&p),
                };
                r.op(format!("remove derived cache {}", p.display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_files_go_with_their_snapshot() {
        let root = tempfile::tempdir().unwrap();
        let keep = Digest::of(b"kept");
        let gone = Digest::of(b"gone");
        let d = dir(root.path(), "vm-layers");
        std::fs::create_dir_all(&d).unwrap();
        for name in [
            format!("{}.erofs", keep.hex()),
            format!("{}.flat.erofs", keep.hex()),
            format!("{}.erofs", gone.hex()),
            format!("{}.flat.erofs", gone.hex()),
        ] {
            std::fs::write(d.join(name), b"x").unwrap();
        }
        let live = HashSet::from([keep.clone()]);
        assert_eq!(sweep(root.path(), &live).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!("{}.erofs", keep.hex()),
                format!("{}.flat.erofs", keep.hex())
            ]
        );
        // A store that never derived anything has nothing to sweep.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(sweep(empty.path(), &live).unwrap(), 0);
    }
}
