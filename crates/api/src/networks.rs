//! The network endpoints (list, inspect, create, remove) over the engine's CNI bridge
//! networks, as `strata network` does, in docker's shape.

use crate::body::{empty, json, json_status, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::parse_json;
use crate::state::Api;
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use strata_engine::container::status;
use strata_engine::network::manage::{self, CreateOptions};
use strata_engine::network::record::Network;
use strata_engine::{Container, Engine};

/// A network in docker's shape (with the containers attached to it when given).
pub fn document(n: &Network, containers: Option<&[Container]>) -> Value {
    let mut attached = Map::new();
    for c in containers
        .into_iter()
        .flatten()
        .filter(|c| c.state.net.attached && c.state.net.network.as_deref() == Some(n.name.as_str()))
    {
        attached.insert(
            c.id.clone(),
            json!({"Name": c.name, "EndpointID": "", "MacAddress": c.state.net.mac.clone().unwrap_or_default(),
                   "IPv4Address": c.state.net.ip.clone().unwrap_or_default(), "IPv6Address": ""}),
        );
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": strata_os::clock::rfc3339_nanos(n.created),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": n.subnet, "Gateway": n.gateway}]},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": attached,
        // Options as given at creation are not recorded; docker-compose recreates a network
        // whose options differ from its file's, so none are shown.
        "Options": {},
        "Labels": n.labels,
    })
}

/// The network named (or whose id starts with) `key`.
fn find(e: &Engine, key: &str) -> Result<Network, ApiError> {
    if let Ok(n) = manage::get(e, key) {
        return Ok(n);
    }
    let all = manage::list(e)?;
    let mut hits = all
        .into_iter()
        .filter(|n| !key.is_empty() && n.id.starts_with(key));
    match (hits.next(), hits.next()) {
        (Some(n), None) => Ok(n),
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "network {key}: ambiguous id prefix [layer: engine]"
        ))),
        _ => Err(ApiError::not_found(format!(
            "network {key} not found [layer: engine]"
        ))),
    }
}

fn containers(e: &Engine) -> Result<Vec<Container>, ApiError> {
    let mut list = e.db.containers()?;
    for c in list.iter_mut() {
        status::refresh(e, c)?;
    }
    Ok(list)
}

/// `GET /networks`.
pub async fn list(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let f = q.filters()?;
    let out = api
        .blocking(move |e| {
            let cs = containers(e)?;
            Ok(manage::list(e)?
                .iter()
                .filter(|n| {
                    f.get("name")
                        .is_none_or(|v| v.iter().any(|x| n.name.contains(x.as_str())))
                })
                .filter(|n| {
                    f.get("id")
                        .is_none_or(|v| v.iter().any(|x| n.id.starts_with(x.as_str())))
                })
                .filter(|n| {
                    f.get("label").is_none_or(|v| {
                        v.iter().all(|l| match l.split_once('=') {
                            Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                            None => n.labels.contains_key(l),
                        })
                    })
                })
                .map(|n| document(n, Some(&cs)))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json(&Value::Array(out)))
}

/// `GET /networks/{id}`.
pub async fn inspect(api: &Arc<Api>, key: &str) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    let doc = api
        .blocking(move |e| {
            let n = find(e, &key)?;
            Ok(document(&n, Some(&containers(e)?)))
        })
        .await?;
    Ok(json(&doc))
}

/// `POST /networks/create`.
pub async fn create(api: &Arc<Api>, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let v = parse_json(body)?;
    let name = v["Name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("network create: Name is required [layer: api]"))?
        .to_string();
    match v["Driver"].as_str().unwrap_or("") {
        "" | "bridge" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "network create {name}: driver {other:?} is not served (bridge only) [layer: api]"
            )))
        }
    }
    let ipam = v["IPAM"]["Config"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null);
    let labels = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let o = CreateOptions {
        name: Some(name.clone()),
        subnet: ipam["Subnet"].as_str().map(str::to_string),
        gateway: ipam["Gateway"].as_str().map(str::to_string),
        bridge: v["Options"]["com.docker.network.bridge.name"]
            .as_str()
            .map(str::to_string),
        labels,
    };
    let n = api
        .blocking(move |e| {
            if e.db.network(&name)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "network with name {name} already exists [layer: engine]"
                )));
            }
            Ok(manage::create(e, o)?)
        })
        .await?;
    Ok(json_status(
        StatusCode::CREATED,
        &json!({"Id": n.id, "Warning": ""}),
    ))
}

/// `DELETE /networks/{id}`.
pub async fn remove(api: &Arc<Api>, key: &str) -> Result<Response<Body>, ApiError> {
    let key = key.to_string();
    api.blocking(move |e| {
        let n = find(e, &key)?;
        manage::remove(e, &n.name, false)?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The container named by a connect/disconnect body.
fn body_container(v: &Value, verb: &str) -> Result<String, ApiError> {
    v["Container"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "network {verb}: Container is required [layer: api]"
            ))
        })
}

/// `POST /networks/{id}/connect` (`{"Container": ..., "EndpointConfig": {...}}`): the
/// container joins the network, at once if it runs (one more interface), else at its next
/// start, known to its peers there by its `EndpointConfig.Aliases` too.
pub async fn connect(api: &Arc<Api>, key: &str, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let v = parse_json(body)?;
    let key = key.to_string();
    api.blocking(move |e| {
        let n = find(e, &key)?;
        let container = body_container(&v, "connect")?;
        let null = Value::Null;
        let aliases = match v.get("EndpointConfig").unwrap_or(&null).as_object() {
            Some(ep) => crate::containers::create::endpoint_aliases(ep)?,
            None => Vec::new(),
        };
        strata_engine::network::extra::connect(e, &container, &n.name, aliases)?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`: the container leaves the network (its interface
/// deleted at once if it runs; its first network only while it is stopped).
pub async fn disconnect(
    api: &Arc<Api>,
    key: &str,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let v = parse_json(body)?;
    let key = key.to_string();
    api.blocking(move |e| {
        let n = find(e, &key)?;
        let container = body_container(&v, "disconnect")?;
        strata_engine::network::extra::disconnect(e, &container, &n.name)?;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

/// `POST /networks/prune`: removes the networks no container uses (never the default one).
pub async fn prune(api: &Arc<Api>) -> Result<Response<Body>, ApiError> {
    let deleted = api
        .blocking(|e| {
            let default = strata_engine::network::defaults::Settings::load(e)?
                .name()
                .to_string();
            let mut out = Vec::new();
            for n in manage::list(e)? {
                if n.name != default && manage::users(e, &n.name)?.is_empty() {
                    manage::remove(e, &n.name, false)?;
                    out.push(n.name);
                }
            }
            Ok(out)
        })
        .await?;
    Ok(json(&json!({"NetworksDeleted": deleted})))
}
