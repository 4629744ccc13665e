//! start, stop, restart, kill, rename and remove.

use super::named;
use crate::body::{empty, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use hyper::{Response, StatusCode};
use std::sync::Arc;
use strata_engine::container::{
    manage, remove as engine_remove, start as engine_start, stop as engine_stop,
};

/// `POST /containers/{id}/start` (a container attached before its start has a monitor
/// waiting for it: the engine starts that one).
pub async fn start(api: &Arc<Api>, key: &str) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    api.blocking(move |e| match engine_start::start(e, &key) {
        Ok(_) => Ok(()),
        Err(err) => {
            // An auto-removed container that could not start is removed, as docker does.
            if let Ok(c) = super::load(e, &key) {
                if c.config.auto_remove && !c.state.status.is_live() {
                    let _ = engine_remove::remove(e, &c.id, true, true);
                }
            }
            Err(named(&key, err))
        }
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn timeout(q: &Query) -> Result<Option<u32>, ApiError> {
    Ok(q.int("t")?.map(|t| t.clamp(0, u32::MAX as i64) as u32))
}

/// `POST /containers/{id}/stop?t=N`.
pub async fn stop(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let (key, t) = (key.to_string(), timeout(q)?);
    api.blocking(move |e| engine_stop::stop(e, &key, t).map_err(|err| named(&key, err)))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart?t=N`.
pub async fn restart(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let (key, t) = (key.to_string(), timeout(q)?);
    api.blocking(move |e| {
        let c = engine_stop::stop(e, &key, t).map_err(|err| named(&key, err))?;
        engine_start::start(e, &c.id).map_err(|err| named(&key, err))
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=S` (default SIGKILL).
pub async fn kill(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    let sig = match q.get("signal").filter(|s| !s.is_empty()) {
        Some(s) => engine_stop::parse_signal(s)?,
        None => libc::SIGKILL,
    };
    api.blocking(move |e| engine_stop::kill(e, &key, sig, false).map_err(|err| named(&key, err)))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename?name=N`.
pub async fn rename(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("rename: the name parameter is required [layer: api]")
        })?
        .trim_start_matches('/')
        .to_string();
    api.blocking(move |e| manage::rename(e, &key, &name).map_err(|err| named(&key, err)))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/{id}?force=1&v=1`.
pub async fn remove(api: &Arc<Api>, key: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    let (force, volumes) = (q.flag("force", false), q.flag("v", false));
    api.blocking(move |e| {
        engine_remove::remove(e, &key, force, volumes).map_err(|err| named(&key, err))
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/pause` and `/unpause` (`on`: pause).
pub async fn pause(api: &Arc<Api>, key: &str, on: bool) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    api.blocking(move |e| manage::pause(e, &key, on).map_err(|err| named(&key, err)))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune`: removes every stopped container (`{"ContainersDeleted": [...],
/// "SpaceReclaimed": 0}`).
pub async fn prune(api: &Arc<Api>) -> Result<Response<Body>, ApiError> {
    let deleted = api
        .blocking(|e| {
            let mut out = Vec::new();
            for mut c in e.db.containers()? {
                strata_engine::container::status::refresh(e, &mut c)?;
                let stopped = matches!(
                    c.state.status,
                    strata_engine::Status::Exited
                        | strata_engine::Status::Created
                        | strata_engine::Status::Dead
                );
                let waiting = c.state.monitor.as_ref().is_some_and(|m| m.alive());
                if stopped && !waiting && !c.config.infra {
                    engine_remove::remove(e, &c.id, false, false)?;
                    out.push(c.id);
                }
            }
            Ok(out)
        })
        .await?;
    Ok(crate::body::json(
        &serde_json::json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}
