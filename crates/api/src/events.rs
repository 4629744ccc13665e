//! `GET /events?since=T&until=T&filters={...}`: the engine's event log as docker's JSON
//! messages, one per line, following new events (polled from the log) until `until` or until
//! the client goes away.

use crate::body::{channel, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use bytes::Bytes;
use hyper::{header, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strata_engine::db::events::Event;

/// A time parameter: Unix seconds, with an optional fraction (`1700000000.5`).
fn time(q: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .map(|s| Some((s * 1e9) as i64))
            .map_err(|_| {
                ApiError::bad_request(format!("events: {key}={v:?}: not a Unix time [layer: api]"))
            }),
    }
}

/// docker's name for an action (a container's `remove` is docker's `destroy`).
fn action(ev: &Event) -> &str {
    match (ev.kind.as_str(), ev.action.as_str()) {
        ("container", "remove") => "destroy",
        (_, a) => a,
    }
}

/// docker's message for `ev`.
pub fn message(ev: &Event) -> Value {
    let action = action(ev);
    let mut attrs = ev.attributes.clone();
    attrs.insert("name".into(), ev.name.clone());
    json!({
        "status": action,
        "id": ev.id,
        "from": ev.attributes.get("image").cloned().unwrap_or_default(),
        "Type": ev.kind,
        "Action": action,
        "Actor": {"ID": ev.id, "Attributes": attrs},
        "scope": "local",
        "time": ev.time / 1_000_000_000,
        "timeNano": ev.time,
    })
}

fn keep(ev: &Event, f: &BTreeMap<String, Vec<String>>) -> bool {
    f.iter().all(|(k, vals)| {
        vals.is_empty()
            || match k.as_str() {
                "type" => vals.contains(&ev.kind),
                "event" | "action" => vals.iter().any(|v| v == action(ev)),
                "container" => {
                    ev.kind == "container"
                        && vals
                            .iter()
                            .any(|v| ev.name == *v || ev.id.starts_with(v.as_str()))
                }
                "image" => vals.iter().any(|v| ev.attributes.get("image") == Some(v)),
                "label" => vals.iter().all(|l| match l.split_once('=') {
                    Some((k, v)) => ev.attributes.get(k).is_some_and(|x| x == v),
                    None => ev.attributes.contains_key(l),
                }),
                _ => true,
            }
    })
}

/// `GET /events`.
pub async fn events(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let filters = q.filters()?;
    let until = time(q, "until")?;
    let since = time(q, "since")?.unwrap_or_else(|| {
        if until.is_some() {
            i64::MIN
        } else {
            strata_os::clock::now_nanos()
        }
    });
    let (tx, body) = channel(64);
    let api = Arc::clone(api);
    tokio::task::spawn_blocking(move || {
        let mut after = 0;
        loop {
            let upper = until.unwrap_or(i64::MAX);
            let batch = match api.with_engine(|e| Ok(e.db.events(after, since, upper)?)) {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!("events: {}", e.message);
                    return;
                }
            };
            for ev in batch {
                after = ev.seq;
                if keep(&ev, &filters) {
                    let mut line = serde_json::to_vec(&message(&ev)).unwrap_or_default();
                    line.push(b'\n');
                    if tx.blocking_send(Bytes::from(line)).is_err() {
                        return;
                    }
                }
            }
            if tx.is_closed() || until.is_some_and(|u| strata_os::clock::now_nanos() >= u) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers"))
}
