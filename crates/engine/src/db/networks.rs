//! Network rows: name, id, creation time and the network's record (JSON).

use super::Db;
use crate::error::{Error, Result};
use crate::network::record::Network;
use rusqlite::{params, OptionalExtension};

fn decode(name: String, config: String) -> Result<Network> {
    serde_json::from_str(&config)
        .map_err(|e| Error::Network(format!("network {name}: stored config: {e} [layer: node]")))
}

impl Db {
    /// Inserts a network; a name in use is a conflict.
    pub fn insert_network(&self, n: &Network) -> Result<()> {
        let r = self.conn.execute(
            "INSERT INTO networks (name, id, created, config) VALUES (?1, ?2, ?3, ?4)",
            params![
                n.name,
                n.id,
                n.created,
                serde_json::to_string(n).expect("network serializes")
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(format!(
                    "network {}: the name is already in use",
                    n.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A network by exact name.
    pub fn network(&self, name: &str) -> Result<Option<Network>> {
        self.conn
            .query_row(
                "SELECT name, config FROM networks WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .map(|(n, c)| decode(n, c))
            .transpose()
    }

    /// Every network, oldest first.
    pub fn networks(&self) -> Result<Vec<Network>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name, config FROM networks ORDER BY created, name")?;
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(|(n, c)| decode(n, c)).collect()
    }

    /// Deletes a network's row.
    pub fn delete_network(&self, name: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM networks WHERE name = ?1", params![name])?;
        Ok(())
    }
}
