//! Snapshot records in the metadata database: active snapshots (and views) by key, and
//! the layers made by committing them (with what they stack on, so that a snapshot can be
//! prepared over one after the image that led to it is gone).

use super::meta::MetaStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::snapshot::{Committed, Info, Kind};
use rusqlite::{params, OptionalExtension, Row};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records serialise")
}

fn parse<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::invalid(what, e))
}

fn digest_opt(s: Option<String>) -> Result<Option<Digest>> {
    s.map(|p| Digest::parse(&p)).transpose()
}

type ActiveRow = (String, String, Option<String>, String, String, String);

fn active_row(r: &Row<'_>) -> rusqlite::Result<ActiveRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn active_info(row: ActiveRow) -> Result<Info> {
    let (key, kind, parent, lowers, created, labels) = row;
    Ok(Info {
        key,
        kind: Kind::parse(&kind)?,
        parent: digest_opt(parent)?,
        lowers: parse("snapshot record", &lowers)?,
        created,
        labels: parse("snapshot record", &labels)?,
    })
}

const ACTIVE_COLS: &str = "key, kind, parent, lowers, created, labels";

impl MetaStore {
    /// Records an active snapshot; [`Error::AlreadyExists`] if its key is taken.
    pub fn put_active(&mut self, i: &Info) -> Result<()> {
        let r = self.conn.execute(
            "INSERT INTO active_snapshots (key, kind, parent, lowers, created, labels)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                i.key,
                i.kind.as_str(),
                i.parent.as_ref().map(Digest::as_str),
                json(&i.lowers),
                i.created,
                json(&i.labels)
            ],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::AlreadyExists(format!("snapshot {}", i.key)))
            }
            r => r.map(drop).map_err(Error::from),
        }
    }

    /// The active snapshot `key`, if recorded.
    pub fn active(&self, key: &str) -> Result<Option<Info>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {ACTIVE_COLS} FROM active_snapshots WHERE key = ?1"),
                params![key],
                active_row,
            )
            .optional()?;
        row.map(active_info).transpose()
    }

    /// Every active snapshot, by key.
    pub fn list_active(&self) -> Result<Vec<Info>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {ACTIVE_COLS} FROM active_snapshots ORDER BY key"
        ))?;
        let rows = st
            .query_map([], active_row)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter().map(active_info).collect()
    }

    /// Removes the record of `key`; returns whether there was one.
    pub fn remove_active(&mut self, key: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM active_snapshots WHERE key = ?1", params![key])?
            > 0)
    }

    /// Records a committed layer (replacing a record of the same chain id).
    pub fn put_committed(&mut self, c: &Committed) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO committed_snapshots
             (chain_id, parent, lowers, diff_id, blob, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.chain_id.as_str(),
                c.parent.as_ref().map(Digest::as_str),
                json(&c.lowers),
                c.diff_id.as_str(),
                json(&c.blob),
                c.created
            ],
        )?;
        Ok(())
    }

    /// Every committed layer's record.
    pub fn list_committed(&self) -> Result<Vec<Committed>> {
        self.committed_where("", params![])
    }

    /// The record of the committed layer `chain`, if any.
    pub fn committed(&self, chain: &Digest) -> Result<Option<Committed>> {
        Ok(self
            .committed_where("WHERE chain_id = ?1", params![chain.as_str()])?
            .pop())
    }

    fn committed_where(&self, filter: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<Committed>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT chain_id, parent, lowers, diff_id, blob, created FROM committed_snapshots {filter} ORDER BY chain_id"
        ))?;
        let rows = st
            .query_map(p, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(chain, parent, lowers, diff, blob, created)| {
                Ok(Committed {
                    chain_id: Digest::parse(&chain)?,
                    parent: digest_opt(parent)?,
                    lowers: parse("layer record", &lowers)?,
                    diff_id: Digest::parse(&diff)?,
                    blob: parse("layer record", &blob)?,
                    created,
                })
            })
            .collect()
    }

    /// Removes the record of the committed layer `chain`.
    pub fn remove_committed(&mut self, chain: &Digest) -> Result<()> {
        self.conn.execute(
            "DELETE FROM committed_snapshots WHERE chain_id = ?1",
            params![chain.as_str()],
        )?;
        Ok(())
    }
}
