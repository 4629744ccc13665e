//! `POST /containers/{id}/wait?condition=not-running|next-exit|removed`. The docker CLI
//! sends it before `start` and waits for its headers before going on, so the headers go out
//! at once and `{"StatusCode": N}` follows when the condition is met. The exit code comes
//! from the container's monitor (its `wait`), which outlives an auto-removed container's
//! row. An auto-removed container is removed by the wait itself once it exited, as `strata
//! run --rm` does (the monitor's clean-up would do it too, a process start later).

use super::load;
use crate::body::{channel, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use bytes::Bytes;
use hyper::{header, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use strata_engine::container::status;
use strata_engine::{Engine, Status};
use strata_monitor::protocol::{call, Request};

/// What is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The container is not running (at once for a created or exited one).
    NotRunning,
    /// Its next exit.
    NextExit,
    /// Its removal.
    Removed,
}

/// Parses `condition`.
pub fn condition(q: &Query) -> Result<Condition, ApiError> {
    match q.get("condition").unwrap_or("") {
        "" | "not-running" => Ok(Condition::NotRunning),
        "next-exit" => Ok(Condition::NextExit),
        "removed" => Ok(Condition::Removed),
        other => Err(ApiError::bad_request(format!(
            "wait: invalid condition {other:?}: not-running, next-exit or removed [layer: api]"
        ))),
    }
}

const POLL: Duration = Duration::from_millis(20);

/// How often a removal is looked for once the container has exited: its row goes within
/// milliseconds (the monitor's clean-up), and `docker run --rm` returns only then.
const POLL_REMOVAL: Duration = Duration::from_millis(2);

/// How long a removal is looked for at `POLL_REMOVAL` before falling back to `POLL`.
const FAST_REMOVAL: Duration = Duration::from_secs(2);

/// The container brought up to date from its monitor, under its lock: a refresh that saw
/// a `start` in progress without the lock would record that start a second time.
fn refreshed(e: &Engine, id: &str) -> Result<Option<strata_engine::Container>, ApiError> {
    let _l = strata_engine::lock::lock(&e.paths, id)?;
    let Some(mut c) = e.db.container(id)? else {
        return Ok(None);
    };
    status::refresh(e, &mut c)?;
    Ok(Some(c))
}

/// Blocks until the condition holds; the exit code.
fn wait_blocking(
    e: &Engine,
    id: &str,
    cond: Condition,
    gone: impl Fn() -> bool,
) -> Result<i32, ApiError> {
    let mut c = match refreshed(e, id)? {
        Some(c) => c,
        None => return Ok(0),
    };
    let waiting_monitor = |c: &strata_engine::Container| {
        c.state.status.is_live() || c.state.monitor.as_ref().is_some_and(|m| m.alive())
    };
    // Looked at once per state read: the monitor may die between two looks.
    let mut live = waiting_monitor(&c);
    if cond == Condition::NotRunning && !live {
        return Ok(c.state.exit_code.unwrap_or(0));
    }
    // Not started yet (or exited): wait for a run to begin.
    while !live {
        if gone() {
            return Ok(255);
        }
        std::thread::sleep(POLL);
        match refreshed(e, id)? {
            Some(n) => {
                c = n;
                live = waiting_monitor(&c);
            }
            None => return Ok(c.state.exit_code.unwrap_or(0)),
        }
    }
    // The monitor's answer, asked for a second at a time: a client that went away ends
    // the wait instead of leaving a thread behind.
    let mut code = loop {
        match call(
            &e.paths.monitor(id),
            &Request::Wait,
            Some(Duration::from_secs(1)),
        ) {
            Ok(r) => break r.exit.map(|x| x.exit_code),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if gone() {
                    return Ok(255);
                }
            }
            Err(_) => break None,
        }
    };
    if code.is_none() {
        // The monitor went away just now: its record on disk tells (if still there).
        if let Some(n) = refreshed(e, id)? {
            code = n.state.exit_code;
        }
    }
    if c.config.auto_remove {
        // Removed here at once, as `strata run --rm` does after the exit (the monitor's
        // clean-up, racing for the same lock, then finds nothing left to do).
        match strata_engine::container::remove::remove(e, id, true, true) {
            Ok(_) | Err(strata_engine::Error::NotFound(_)) => {}
            Err(err) => tracing::debug!("wait {id}: auto-remove: {err}"),
        }
    }
    if cond == Condition::Removed {
        let t0 = std::time::Instant::now();
        while e.db.container(id)?.is_some() && t0.elapsed() < Duration::from_secs(120) && !gone() {
            std::thread::sleep(if t0.elapsed() < FAST_REMOVAL {
                POLL_REMOVAL
            } else {
                POLL
            });
        }
    }
    Ok(code.unwrap_or(if c.state.status == Status::Exited {
        0
    } else {
        255
    }))
}

/// `POST /containers/{id}/wait`.
pub async fn wait(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let cond = condition(q)?;
    let key = key.to_string();
    let id = api.blocking(move |e| Ok(load(e, &key)?.id)).await?;
    let (tx, body) = channel(1);
    let api = Arc::clone(api);
    tokio::spawn(async move {
        let closed = tx.clone();
        let gone = move || closed.is_closed();
        let doc = match api
            .blocking(move |e| wait_blocking(e, &id, cond, gone))
            .await
        {
            Ok(code) => serde_json::json!({"StatusCode": code, "Error": null}),
            Err(err) => serde_json::json!({"StatusCode": 255, "Error": {"Message": err.message}}),
        };
        let mut b = serde_json::to_vec(&doc).unwrap_or_default();
        b.push(b'\n');
        let _ = tx.send(Bytes::from(b)).await;
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers"))
}
