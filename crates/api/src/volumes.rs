//! The volume endpoints (list, inspect, create, remove) over the engine's local volumes,
//! as `strata volume` does.

use crate::body::{empty, json, json_status, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::parse_json;
use crate::state::Api;
use hyper::{Response, StatusCode};
use serde_json::json;
use std::sync::Arc;
use strata_engine::volume;

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("get {name}: no such volume [layer: engine]"))
}

/// `GET /volumes`.
pub async fn list(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let f = q.filters()?;
    let out = api
        .blocking(move |e| {
            let mut out = Vec::new();
            for v in e.db.volumes()? {
                if f.get("name")
                    .is_some_and(|n| !n.iter().any(|x| v.name.contains(x.as_str())))
                {
                    continue;
                }
                if let Some(d) = f.get("dangling").and_then(|d| d.first()) {
                    let unused = volume::users(e, &v.name)?.is_empty();
                    if (d == "true" || d == "1") != unused {
                        continue;
                    }
                }
                out.push(volume::inspect(e, &v));
            }
            Ok(out)
        })
        .await?;
    Ok(json(&json!({"Volumes": out, "Warnings": []})))
}

/// `GET /volumes/{name}`.
pub async fn inspect(api: &Arc<Api>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let doc = api
        .blocking(move |e| {
            let v = e.db.volume(&name)?.ok_or_else(|| no_such(&name))?;
            Ok(volume::inspect(e, &v))
        })
        .await?;
    Ok(json(&doc))
}

/// `POST /volumes/create` (an existing volume of that name is answered as is, as docker does).
pub async fn create(api: &Arc<Api>, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let v = parse_json(body)?;
    if !(v.is_object() || v.is_null()) {
        return Err(ApiError::bad_request(
            "volume create: the body must be a JSON object [layer: api]",
        ));
    }
    match v["Driver"].as_str().unwrap_or("") {
        "" | "local" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "volume create: driver {other:?} is not served (local only) [layer: api]"
            )))
        }
    }
    let name = v["Name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let labels = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let doc = api
        .blocking(move |e| {
            let v = volume::create(e, name.as_deref(), labels)?;
            Ok(volume::inspect(e, &v))
        })
        .await?;
    Ok(json_status(StatusCode::CREATED, &doc))
}

/// `DELETE /volumes/{name}` (`force` is accepted; a volume in use is a 409 either way).
pub async fn remove(api: &Arc<Api>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    api.blocking(move |e| {
        if e.db.volume(&name)?.is_none() {
            return Err(no_such(&name));
        }
        Ok(volume::remove(e, &name)?)
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`: removes every volume no container uses.
pub async fn prune(api: &Arc<Api>) -> Result<Response<Body>, ApiError> {
    let deleted = api.blocking(|e| Ok(volume::prune(e)?)).await?;
    Ok(json(
        &json!({"VolumesDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}
