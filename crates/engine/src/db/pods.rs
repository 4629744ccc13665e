//! Pod rows: identity and configuration (JSON); a pod's state is its containers'.

use super::Db;
use crate::error::{Error, Result};
use crate::pod::{Pod, PodConfig};
use rusqlite::{params, Row};

fn from_row(r: &Row<'_>) -> rusqlite::Result<(String, String, i64, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn decode(t: (String, String, i64, String, String)) -> Result<Pod> {
    let (id, name, created, config, infra) = t;
    Ok(Pod {
        config: serde_json::from_str::<PodConfig>(&config)
            .map_err(|e| Error::Runtime(format!("pod {name}: stored config: {e}")))?,
        infra: serde_json::from_str::<String>(&infra).unwrap_or_default(),
        id,
        name,
        created,
    })
}

impl Db {
    /// Records a new pod; a name in use is a conflict.
    pub fn insert_pod(&self, p: &Pod) -> Result<()> {
        let r = self.conn.execute(
            "INSERT INTO pods (id, name, created, config, state) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                p.id,
                p.name,
                p.created,
                serde_json::to_string(&p.config).expect("config serializes"),
                serde_json::to_string(&p.infra).expect("infra id serializes"),
            ],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(format!(
                    "the pod name {:?} is already in use: remove that pod or choose another name",
                    p.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records the pod's infra container.
    pub fn set_pod_infra(&self, id: &str, infra: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE pods SET state = ?2 WHERE id = ?1",
            params![
                id,
                serde_json::to_string(infra).expect("infra id serializes")
            ],
        )?;
        Ok(())
    }

    /// Deletes a pod's row.
    pub fn delete_pod(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM pods WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// A pod by name, full id or unique id prefix.
    pub fn find_pod(&self, key: &str) -> Result<Pod> {
        decode(self.find_by_key(
            "pods",
            "id, name, created, config, state",
            "pod",
            key,
            from_row,
        )?)
    }

    /// Every pod, oldest first.
    pub fn pods(&self) -> Result<Vec<Pod>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, name, created, config, state FROM pods ORDER BY created")?;
        let rows: Vec<_> = st
            .query_map([], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(decode).collect()
    }
}
