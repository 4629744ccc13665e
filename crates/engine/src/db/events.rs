//! The event log: what `strata events` shows (create, start, die with its exit code, oom,
//! kill, remove, ...), kept in the database so any later command can list it.

use super::Db;
use crate::error::Result;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Sequence number (increasing).
    pub seq: i64,
    /// Time, nanoseconds since the epoch.
    pub time: i64,
    /// `container`, `pod`, `volume`, `network`, `image`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened (`create`, `start`, `die`, ...).
    pub action: String,
    /// The object's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Details (`exitCode`, `signal`, `image`...).
    pub attributes: BTreeMap<String, String>,
}

/// Events kept: older ones are dropped as new ones come.
const KEEP: i64 = 10_000;

impl Db {
    /// Records an event now.
    pub fn event(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        name: &str,
        attrs: &[(&str, String)],
    ) -> Result<()> {
        let a: BTreeMap<&str, &String> = attrs.iter().map(|(k, v)| (*k, v)).collect();
        self.conn.execute(
            "INSERT INTO events (time, kind, action, id, name, attrs) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                strata_os::clock::now_nanos(),
                kind,
                action,
                id,
                name,
                serde_json::to_string(&a).expect("attributes serialize")
            ],
        )?;
        let seq = self.conn.last_insert_rowid();
        if seq % 100 == 0 {
            self.conn
                .execute("DELETE FROM events WHERE seq <= ?1", params![seq - KEEP])?;
        }
        Ok(())
    }

    /// The last `n` events of one object, oldest first.
    pub fn events_of(&self, id: &str, n: usize) -> Result<Vec<Event>> {
        let mut v = self.query(
            "SELECT seq, time, kind, action, id, name, attrs FROM events WHERE id = ?1 ORDER BY seq DESC LIMIT ?2",
            params![id, n as i64],
        )?;
        v.reverse();
        Ok(v)
    }

    fn query(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(p, |r| {
            let attrs: String = r.get(6)?;
            Ok(Event {
                seq: r.get(0)?,
                time: r.get(1)?,
                kind: r.get(2)?,
                action: r.get(3)?,
                id: r.get(4)?,
                name: r.get(5)?,
                attributes: serde_json::from_str(&attrs).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Events after sequence number `after` and in `[since, until]` (nanoseconds).
    pub fn events(&self, after: i64, since: i64, until: i64) -> Result<Vec<Event>> {
        self.query(
            "SELECT seq, time, kind, action, id, name, attrs FROM events \
             WHERE seq > ?1 AND time >= ?2 AND time <= ?3 ORDER BY seq",
            params![after, since, until],
        )
    }
}
