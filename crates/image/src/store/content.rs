//! The content-addressed blob store: `<root>/blobs/sha256/<hex>`.
//!
//! Writes go to `<root>/ingest/<random>`, are verified against the expected digest and
//! size, fsynced, and renamed into place: a crash leaves either nothing or a whole,
//! verified blob.

use crate::digest::{self, Digest};
use crate::error::{Error, IoResultExt, Result};
use crate::temp::{clean_dead, temp_name};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use strata_os::direct::DirectFile;
use strata_os::writeback;

/// The blob store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs/sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).op(format!("create {}", blobs.display()))?;
        fs::create_dir_all(&ingest).op(format!("create {}", ingest.display()))?;
        Ok(ContentStore { blobs, ingest })
    }

    /// Path of a blob (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// Whether the blob is present.
    pub fn has(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Size of a present blob.
    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    /// Reads a (small) blob fully and verifies it.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let data = fs::read(self.path(d)).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::NotFound(format!("blob {d}"))
            } else {
                Error::io(format!("read blob {d}"), e)
            }
        })?;
        d.verify(&data)?;
        Ok(data)
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.path(d)).op(format!("open blob {d}"))
    }

    /// Starts writing a blob expected to have digest `expected` (and `size` if known).
    pub fn writer(&self, expected: &Digest, size: Option<u64>) -> Result<Ingest> {
        self.writer_inner(Some(expected.clone()), size)
    }

    /// Starts writing a blob whose digest is not known in advance (stored under the
    /// digest of what is written).
    pub fn writer_any(&self) -> Result<Ingest> {
        self.writer_inner(None, None)
    }

    fn writer_inner(&self, expected: Option<Digest>, size: Option<u64>) -> Result<Ingest> {
        let path = self.ingest.join(temp_name("in-"));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .op(format!("create {}", path.display()))?;
        Ok(Ingest {
            file: Some(DirectFile::new(file)),
            path,
            blobs: self.blobs.clone(),
            expected,
            size,
            hasher: Sha256::new(),
            count: 0,
            unkicked: 0,
            committed: false,
            synced: false,
        })
    }

    /// Stores a small blob, verifying it against `expected` if given. Returns its digest.
    pub fn put(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let d = Digest::of(data);
        if let Some(e) = expected {
            digest::check(e, None, &d, data.len() as u64)?;
        }
        if self.has(&d) {
            return Ok(d);
        }
        let mut w = self.writer(&d, Some(data.len() as u64))?;
        w.write_all(data).op("write ingest")?;
        w.commit()?;
        Ok(d)
    }

    /// Removes a blob (missing is fine).
    pub fn delete(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("remove blob {d}"), e))
            }
            _ => Ok(()),
        }
    }

    /// Lists all blobs.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.blobs).op("list blobs")? {
            let e = e.op("list blobs")?;
            if let Ok(d) = Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Removes ingest files left by writers that died (crashed or killed).
    pub fn clean_ingest(&self) -> Result<usize> {
        clean_dead(&self.ingest)
    }
}

/// An in-progress blob write. Dropping it without `commit` removes the ingest file.
pub struct Ingest {
    file: Option<DirectFile>,
    path: PathBuf,
    blobs: PathBuf,
    expected: Option<Digest>,
    size: Option<u64>,
    hasher: Sha256,
    count: u64,
    /// Bytes written since writeback was last started.
    unkicked: u64,
    committed: bool,
    synced: bool,
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest closed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        self.unkicked += n as u64;
        if self.unkicked >= writeback::every() {
            self.unkicked = 0;
            writeback::kick(f.get_ref());
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Ingest {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.count
    }

    /// Checks digest and size of what was written so far, without committing.
    pub fn verify(&self) -> Result<()> {
        let got = Digest::from_hasher(self.hasher.clone());
        match &self.expected {
            Some(e) => digest::check(e, self.size, &got, self.count),
            None => Ok(()),
        }
    }

    /// Flushes and fsyncs what was written (so `commit` only renames).
    pub fn sync(&mut self) -> Result<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| Error::invalid("ingest", "closed"))?;
        f.finish().op("write ingest")?;
        f.get_ref()
            .sync_all()
            .op(format!("fsync {}", self.path.display()))?;
        self.synced = true;
        Ok(())
    }

    /// Verifies digest and size, fsyncs, and renames into the store.
    pub fn commit(mut self) -> Result<Digest> {
        let got = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if let Some(e) = &self.expected {
            digest::check(e, self.size, &got, self.count)?;
        }
        let dest = self.blobs.join(got.hex());
        let f = self.file.take().expect("ingest open");
        let f = f.into_inner().op("write ingest")?;
        if !self.synced {
            f.sync_all().op(format!("fsync {}", self.path.display()))?;
        }
        drop(f);
        fs::rename(&self.path, &dest).op(format!("commit blob {got}"))?;
        if let Ok(d) = File::open(&self.blobs) {
            let _ = d.sync_all();
        }
        self.committed = true;
        Ok(got)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_verify_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = cs.put(b"hello", None).unwrap();
        assert!(cs.has(&d));
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        // wrong digest: nothing stored, ingest cleaned
        let wrong = Digest::of(b"other");
        let e = cs.put(b"hello!", Some(&wrong)).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        let mut w = cs.writer(&wrong, Some(5)).unwrap();
        w.write_all(b"abc").unwrap();
        assert!(matches!(
            w.commit().unwrap_err(),
            Error::SizeMismatch { .. }
        ));
        assert!(!cs.has(&wrong));
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
        // a corrupted blob on disk is detected on read
        fs::write(cs.path(&d), b"HELLO").unwrap();
        assert!(cs.read(&d).is_err());
    }
}
