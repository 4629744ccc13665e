//! The container endpoints, one file per area; each calls the engine function the `strata`
//! CLI calls for the same verb.

pub mod archive;
pub mod attach;
pub mod create;
pub mod lifecycle;
pub mod list;
pub mod logs;
pub mod stats;
pub mod top;
pub mod wait;

use crate::body::{json, Body};
use crate::error::ApiError;
use crate::state::Api;
use hyper::Response;
use std::sync::Arc;
use strata_engine::container::{inspect as engine_inspect, stop};
use strata_engine::Engine;

/// Loads a container by name or id (up to date), naming it in a 404.
pub fn load(e: &Engine, key: &str) -> Result<strata_engine::Container, ApiError> {
    stop::load(e, key).map_err(|err| named(key, err))
}

/// Loads a container that must be running (exec, top, stats): a 409 when it is not.
pub fn load_running(e: &Engine, key: &str) -> Result<strata_engine::Container, ApiError> {
    let c = load(e, key)?;
    if !c.state.status.is_live() {
        return Err(ApiError::conflict(format!(
            "container {} is not running [layer: engine]",
            c.name
        )));
    }
    Ok(c)
}

/// An engine error about container `key`, docker's way: `No such container: x` for a 404.
pub fn named(key: &str, err: strata_engine::Error) -> ApiError {
    let mut a = ApiError::from(err);
    if a.status == hyper::StatusCode::NOT_FOUND {
        a.message = format!("No such container: {key} [layer: engine]");
    }
    a
}

/// `GET /containers/{id}/json`.
pub async fn inspect(api: &Arc<Api>, key: &str) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    let doc = api
        .blocking(move |e| {
            let c = load(e, &key)?;
            let mut doc = engine_inspect::inspect(e, &c);
            // The engine's log is in the CRI format, served by the logs endpoint; clients
            // (docker-compose) fetch logs only for the drivers they know can be read back,
            // so it is announced as docker's readable default.
            doc["HostConfig"]["LogConfig"] = serde_json::json!({"Type": "json-file", "Config": {}});
            // On a user network docker lists the container's aliases and its short id
            // (docker-compose reconnects a container whose short id is missing there).
            let on_user_network = matches!(
                c.config.network,
                strata_engine::container::config::NetworkMode::Bridge(_)
            );
            if let Some(nets) = doc["NetworkSettings"]["Networks"].as_object_mut() {
                for (name, ep) in nets.iter_mut() {
                    let mut aliases = match c.config.extra_networks.iter().find(|x| &x.name == name)
                    {
                        Some(x) => x.aliases.clone(),
                        None if on_user_network => c.config.network_aliases.clone(),
                        None => continue,
                    };
                    aliases.push(c.short_id().to_string());
                    ep["Aliases"] = serde_json::json!(aliases);
                }
            }
            Ok(doc)
        })
        .await?;
    Ok(json(&doc))
}
