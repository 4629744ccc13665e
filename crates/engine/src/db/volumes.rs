//! Volume rows: a name, when it was made, and its labels (JSON).

use super::Db;
use crate::error::{Error, Result};
use rusqlite::{params, OptionalExtension};
use std::collections::BTreeMap;

/// A named volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// When it was made (nanoseconds since the epoch).
    pub created: i64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl Db {
    /// Records a volume; `Ok(false)` if one of that name exists.
    pub fn insert_volume(&self, v: &Volume) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO volumes (name, created, config) VALUES (?1, ?2, ?3)",
            params![
                v.name,
                v.created,
                serde_json::to_string(&v.labels).expect("labels serialize")
            ],
        )?;
        Ok(n == 1)
    }

    /// A volume by name.
    pub fn volume(&self, name: &str) -> Result<Option<Volume>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, created, config FROM volumes WHERE name = ?1",
                params![name],
                |r| {
                    let labels: String = r.get(2)?;
                    Ok(Volume {
                        name: r.get(0)?,
                        created: r.get(1)?,
                        labels: serde_json::from_str(&labels).unwrap_or_default(),
                    })
                },
            )
            .optional()?)
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<Volume>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, created, config FROM volumes ORDER BY name")?;
        let rows = st.query_map([], |r| {
            let labels: String = r.get(2)?;
            Ok(Volume {
                name: r.get(0)?,
                created: r.get(1)?,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets a volume.
    pub fn delete_volume(&self, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])?;
        if n == 0 {
            return Err(Error::NotFound(format!("no such volume: {name}")));
        }
        Ok(())
    }
}
