//! Container rows: identity, configuration and state (JSON columns).

use super::Db;
use crate::container::{Container, ContainerConfig, ContainerState};
use crate::error::{Error, Result};
use rusqlite::{params, OptionalExtension, Row};

fn from_row(
    r: &Row<'_>,
) -> rusqlite::Result<(String, String, i64, Option<String>, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn decode(t: (String, String, i64, Option<String>, String, String)) -> Result<Container> {
    let (id, name, created, pod, config, state) = t;
    let bad = |what: &str, e: serde_json::Error| {
        Error::Runtime(format!("container {name}: stored {what}: {e}"))
    };
    Ok(Container {
        config: serde_json::from_str::<ContainerConfig>(&config).map_err(|e| bad("config", e))?,
        state: serde_json::from_str::<ContainerState>(&state).map_err(|e| bad("state", e))?,
        id,
        name,
        created,
        pod,
    })
}

const COLUMNS: &str = "id, name, created, pod, config, state";

impl Db {
    /// Inserts a new container; a name in use is a conflict.
    pub fn insert_container(&self, c: &Container) -> Result<()> {
        let r = self.conn.execute(
            "INSERT INTO containers (id, name, created, pod, config, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.id,
                c.name,
                c.created,
                c.pod,
                serde_json::to_string(&c.config).expect("config serializes"),
                serde_json::to_string(&c.state).expect("state serializes"),
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(Error::Conflict(format!(
                    "the container name {:?} is already in use: remove that container or choose another name",
                    c.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a container's state.
    pub fn save_state(&self, id: &str, s: &ContainerState) -> Result<()> {
        self.conn.execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(s).expect("state serializes")],
        )?;
        Ok(())
    }

    /// Writes the state of a container that has just exited, unless another process recorded
    /// that exit first; whether this call did (its caller then tells the exit's events once).
    pub fn save_exit(&self, id: &str, s: &ContainerState) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1 \
             AND json_extract(state, '$.status') <> 'exited'",
            params![id, serde_json::to_string(s).expect("state serializes")],
        )?;
        Ok(n > 0)
    }

    /// Writes a container's configuration (resources updated on a live container).
    pub fn save_config(&self, id: &str, c: &ContainerConfig) -> Result<()> {
        self.conn.execute(
            "UPDATE containers SET config = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(c).expect("config serializes")],
        )?;
        Ok(())
    }

    /// Renames a container; a name in use is a conflict.
    pub fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        match self.conn.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(format!(
                    "the container name {name:?} is already in use"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a container's row.
    pub fn delete_container(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM containers WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// A container by exact id.
    pub fn container(&self, id: &str) -> Result<Option<Container>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
                params![id],
                from_row,
            )
            .optional()?
            .map(decode)
            .transpose()
    }

    /// Finds a container by name, full id or unique id prefix (docker's lookup order).
    pub fn find_container(&self, key: &str) -> Result<Container> {
        decode(self.find_by_key("containers", COLUMNS, "container", key, from_row)?)
    }

    /// Every container, oldest first.
    pub fn containers(&self) -> Result<Vec<Container>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM containers ORDER BY created"
        ))?;
        let rows: Vec<_> = st
            .query_map([], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(decode).collect()
    }

    /// The containers of a pod.
    pub fn pod_containers(&self, pod: &str) -> Result<Vec<Container>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM containers WHERE pod = ?1 ORDER BY created"
        ))?;
        let rows: Vec<_> = st
            .query_map(params![pod], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(decode).collect()
    }
}
