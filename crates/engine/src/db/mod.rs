//! The engine's state database (SQLite in WAL mode, as Podman 5 keeps its state): several
//! CLI processes read and write it at once; each change is one transaction.

pub mod containers;
pub mod events;
pub mod networks;
pub mod pods;
pub mod volumes;

use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// The open database.
pub struct Db {
    pub(crate) conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  pod TEXT,
  config TEXT NOT NULL,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pods (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  config TEXT NOT NULL,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
  name TEXT PRIMARY KEY,
  created INTEGER NOT NULL,
  config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
  name TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  created INTEGER NOT NULL,
  config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  kind TEXT NOT NULL,
  action TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  attrs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
";

impl Db {
    /// Finds the row of `table` (kind: "container", "pod") whose name is `key`, whose id is
    /// `key`, or whose id starts with `key` when only one does (docker's lookup order); a
    /// prefix shared by two is a conflict that asks for more of the id.
    pub(crate) fn find_by_key<R>(
        &self,
        table: &str,
        columns: &str,
        kind: &str,
        key: &str,
        from_row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<R> {
        use rusqlite::OptionalExtension;
        let exact = self
            .conn
            .prepare_cached(&format!(
                "SELECT {columns} FROM {table} WHERE name = ?1 OR id = ?1 LIMIT 1"
            ))?
            .query_row(rusqlite::params![key], &from_row)
            .optional()?;
        if let Some(r) = exact {
            return Ok(r);
        }
        if !key.is_empty() && key.len() <= 64 && key.bytes().all(|c| c.is_ascii_hexdigit()) {
            let mut st = self.conn.prepare_cached(&format!(
                "SELECT {columns} FROM {table} WHERE id >= ?1 AND id < ?2 LIMIT 2"
            ))?;
            let mut rows: Vec<R> = st
                .query_map(rusqlite::params![key, format!("{key}g")], &from_row)?
                .collect::<rusqlite::Result<_>>()?;
            match rows.len() {
                1 => return Ok(rows.remove(0)),
                2 => {
                    return Err(crate::error::Error::Conflict(format!(
                        "{key:?} names more than one {kind}: give more of the id"
                    )))
                }
                _ => {}
            }
        }
        Err(crate::error::Error::NotFound(format!(
            "no such {kind}: {key}"
        )))
    }

    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Db { conn })
    }
}
