//! Image records in SQLite (WAL mode, so several CLI processes can work at once); the
//! snapshot records share the database (see `records`).

use crate::digest::Digest;
use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One layer of a stored image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// Digest of the (compressed) layer blob.
    pub digest: Digest,
    /// Size of the blob.
    pub size: u64,
    /// Media type of the blob.
    pub media_type: String,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Chain id (names the snapshot).
    pub chain_id: Digest,
}

/// A stored image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// Image id: the config digest.
    pub id: Digest,
    /// Digest of the platform manifest.
    pub manifest_digest: Digest,
    /// Media type of the manifest.
    pub manifest_media_type: String,
    /// Digests this image was pulled by (index or manifest), per repository `name@digest`.
    pub repo_digests: Vec<String>,
    /// Names (`registry/repo:tag`).
    pub names: Vec<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Unix time the image was stored.
    pub created: i64,
    /// Total size of the layer blobs.
    pub size: u64,
}

/// The metadata database.
pub struct MetaStore {
    pub(super) conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,
  manifest_digest TEXT NOT NULL,
  manifest_media_type TEXT NOT NULL,
  layers TEXT NOT NULL,
  created INTEGER NOT NULL,
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS names (
  name TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS repo_digests (
  ref TEXT NOT NULL,
  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  PRIMARY KEY (ref, image_id)
);
CREATE TABLE IF NOT EXISTS active_snapshots (
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  parent TEXT,
  lowers TEXT NOT NULL,
  created TEXT NOT NULL,
  labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS committed_snapshots (
  chain_id TEXT PRIMARY KEY,
  parent TEXT,
  lowers TEXT NOT NULL,
  diff_id TEXT NOT NULL,
  blob TEXT NOT NULL,
  created TEXT NOT NULL
);
";

impl MetaStore {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(MetaStore { conn })
    }

    fn load(&self, id: &str) -> Result<Option<ImageRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, manifest_digest, manifest_media_type, layers, created, size FROM images WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, md, mt, layers, created, size)) = row else {
            return Ok(None);
        };
        let names = self.strings(
            "SELECT name FROM names WHERE image_id = ?1 ORDER BY name",
            &id,
        )?;
        let repo_digests = self.strings(
            "SELECT ref FROM repo_digests WHERE image_id = ?1 ORDER BY ref",
            &id,
        )?;
        Ok(Some(ImageRecord {
            id: Digest::parse(&id)?,
            manifest_digest: Digest::parse(&md)?,
            manifest_media_type: mt,
            repo_digests,
            names,
            layers: serde_json::from_str(&layers).map_err(|e| Error::invalid("image record", e))?,
            created,
            size: size as u64,
        }))
    }

    fn strings(&self, sql: &str, arg: &str) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(params![arg], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stores an image (replacing a record with the same id) and moves its names to it.
    pub fn put(&mut self, rec: &ImageRecord) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO images (id, manifest_digest, manifest_media_type, layers, created, size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest,
               manifest_media_type = excluded.manifest_media_type, layers = excluded.layers",
            params![
                rec.id.as_str(),
                rec.manifest_digest.as_str(),
                rec.manifest_media_type,
                serde_json::to_string(&rec.layers).expect("layers serialise"),
                rec.created,
                rec.size as i64
            ],
        )?;
        for n in &rec.names {
            tx.execute(
                "INSERT INTO names (name, image_id) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                params![n, rec.id.as_str()],
            )?;
        }
        for r in &rec.repo_digests {
            tx.execute(
                "INSERT OR IGNORE INTO repo_digests (ref, image_id) VALUES (?1, ?2)",
                params![r, rec.id.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Looks up an image by name, repo digest, full id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Option<ImageRecord>> {
        // By name first, then by repo digest.
        for sql in [
            "SELECT image_id FROM names WHERE name = ?1",
            "SELECT image_id FROM repo_digests WHERE ref = ?1 LIMIT 1",
        ] {
            if let Some(id) = self
                .conn
                .query_row(sql, params![key], |r| r.get::<_, String>(0))
                .optional()?
            {
                return self.load(&id);
            }
        }
        let hex = key.strip_prefix("sha256:").unwrap_or(key);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let ids = self.strings(
                "SELECT id FROM images WHERE id LIKE ?1 ORDER BY id LIMIT 2",
                &format!("sha256:{hex}%"),
            )?;
            if ids.len() == 1 {
                return self.load(&ids[0]);
            }
        }
        Ok(None)
    }

    /// Every image pulled by `name@digest` (an index digest maps to one image per platform).
    pub fn by_repo_digest(&self, r: &str) -> Result<Vec<ImageRecord>> {
        let ids = self.strings(
            "SELECT image_id FROM repo_digests WHERE ref = ?1 ORDER BY image_id",
            r,
        )?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(img) = self.load(&id)? {
                out.push(img);
            }
        }
        Ok(out)
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM images ORDER BY created DESC, id")?;
        let ids: Vec<String> = st
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = self.load(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Adds a name to an image (moving it from another image if needed).
    pub fn tag(&mut self, id: &Digest, name: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO names (name, image_id) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![name, id.as_str()],
        )?;
        Ok(())
    }

    /// Removes a name; returns whether it existed.
    pub fn untag(&mut self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM names WHERE name = ?1", params![name])?
            > 0)
    }

    /// Removes an image record (names and repo digests go with it).
    pub fn remove(&mut self, id: &Digest) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM images WHERE id = ?1", params![id.as_str()])?
            > 0)
    }
}
