//! `POST /containers/{id}/attach` (a hijacked connection: `Upgrade: tcp`, `101 Switching
//! Protocols`, then the raw stream) and `POST /containers/{id}/resize`.
//!
//! The docker CLI attaches before it starts the container, and the output must be there
//! from its first byte: so, as `strata run` does, a created container is given to a monitor
//! that creates it and waits for its `start`, and the attach to that monitor is made before
//! the 101 goes out. The `start` that follows finds the waiting monitor.

use super::{load, named};
use crate::body::{full, Body};
use crate::error::ApiError;
use crate::hijack::{self, Streams};
use crate::query::Query;
use crate::state::Api;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use std::sync::Arc;
use strata_engine::container::start as engine_start;
use strata_engine::Status;

/// `POST /containers/{id}/attach?stream=1&stdout=1&stderr=1&stdin=1`.
pub async fn attach(
    api: &Arc<Api>,
    key: &str,
    q: &Query,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !upgrade {
        return Err(ApiError::bad_request(
            "attach: the connection must be upgraded (Upgrade: tcp) [layer: api]",
        ));
    }
    if !q.flag("stream", false) {
        return Err(ApiError::bad_request(
            "attach: only stream=1 is served (use logs for past output) [layer: api]",
        ));
    }
    let streams = Streams {
        stdout: q.flag("stdout", false),
        stderr: q.flag("stderr", false),
        stdin: q.flag("stdin", false),
        tty: false,
    };
    let key = key.to_string();
    let stdin = streams.stdin;
    let (att, tty) = api
        .blocking(move |e| {
            let c = load(e, &key)?;
            let id = c.id.clone();
            {
                let _l = strata_engine::lock::lock(&e.paths, &id).map_err(|err| named(&key, err))?;
                let mut c = load(e, &id)?;
                let waiting = c.state.monitor.as_ref().is_some_and(|m| m.alive());
                match c.state.status {
                    Status::Running | Status::Paused | Status::Restarting => {}
                    Status::Created if waiting => {}
                    // A container that cannot be created (its command is not in the
                    // image): the attach still succeeds, with nothing to relay, and the
                    // `start` that follows reports the error, as docker does.
                    Status::Created => {
                        if let Err(err) = engine_start::start_locked(e, &mut c, false) {
                            tracing::debug!("attach {key}: {err}");
                            return Ok((None, c.config.tty));
                        }
                    }
                    _ => {
                        return Err(ApiError::conflict(format!(
                            "container {}: you cannot attach to a stopped container, start it first [layer: engine]",
                            c.name
                        )))
                    }
                }
            }
            let att = strata_monitor::attach::attach(&e.paths.monitor(&id), stdin).map_err(|err| {
                ApiError::internal(format!("container {key}: attach: {err} [layer: monitor]"))
            })?;
            Ok((Some(att), c.config.tty))
        })
        .await?;
    let streams = Streams { tty, ..streams };
    let on = hyper::upgrade::on(&mut req);
    let guard = crate::state::StreamGuard::new(api);
    tokio::spawn(async move {
        let _guard = guard;
        match on.await {
            Ok(up) => match att {
                Some(att) => hijack::relay(up, att, streams, |_| {}).await,
                None => hijack::close(up).await,
            },
            Err(e) => tracing::debug!("attach: upgrade: {e}"),
        }
    });
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, ctype)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(full(""))
        .expect("static headers"))
}

/// `POST /containers/{id}/resize?h=R&w=C` (a container without a terminal ignores it).
pub async fn resize(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let rows = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let cols = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let key = key.to_string();
    api.blocking(move |e| {
        let c = load(e, &key)?;
        if c.config.tty && c.state.monitor.as_ref().is_some_and(|m| m.alive()) {
            let r = strata_monitor::Request::Resize {
                rows,
                cols,
                session: None,
            };
            let _ = strata_monitor::protocol::call(
                &e.paths.monitor(&c.id),
                &r,
                Some(std::time::Duration::from_secs(5)),
            );
        }
        Ok(())
    })
    .await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(full(""))
        .expect("static headers"))
}
