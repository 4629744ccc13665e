//! `GET /containers/json?all=1&limit=N&filters={...}`: docker's list shape (Names with a
//! leading '/', Created in seconds, State and the human Status).

use crate::body::{json, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use hyper::Response;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_engine::container::{inspect, status, Status};
use strata_engine::Container;

/// How long ago, as docker says it.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172799 => format!("{} hours", s / 3600),
        172800..=1209599 => format!("{} days", s / 86400),
        1209600..=5183999 => format!("{} weeks", s / 604800),
        _ => format!("{} months", s / 2592000),
    }
}

fn since(rfc: Option<&str>) -> i64 {
    let now = strata_os::clock::now_nanos();
    rfc.and_then(strata_os::clock::parse_rfc3339)
        .map_or(0, |t| (now - t) / 1_000_000_000)
}

/// docker's Status column.
pub fn status_text(c: &Container) -> String {
    let up = || human_duration(since(c.state.started_at.as_deref()));
    match c.state.status {
        Status::Running => format!("Up {}", up()),
        Status::Paused => format!("Up {} (Paused)", up()),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(since(c.state.finished_at.as_deref()))
        ),
        Status::Created => "Created".into(),
        Status::Restarting => "Restarting".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// Whether `c` passes docker's filters (each key: any of its values).
fn matches(c: &Container, f: &BTreeMap<String, Vec<String>>) -> Result<bool, ApiError> {
    for (k, vals) in f {
        if vals.is_empty() {
            continue;
        }
        let ok = match k.as_str() {
            "id" => vals.iter().any(|v| c.id.starts_with(v.as_str())),
            "name" => vals
                .iter()
                .any(|v| c.name.contains(v.trim_start_matches('/'))),
            "status" => vals.iter().any(|v| v == c.state.status.as_str()),
            "label" => vals.iter().all(|v| match v.split_once('=') {
                Some((k, val)) => c.config.labels.get(k).is_some_and(|x| x == val),
                None => c.config.labels.contains_key(v),
            }),
            "ancestor" => vals
                .iter()
                .any(|v| c.config.image == *v || c.config.image_id.contains(v.as_str())),
            "exited" => vals.iter().any(|v| {
                c.state.status == Status::Exited
                    && c.state.exit_code.map(|x| x.to_string()).as_deref() == Some(v)
            }),
            "network" => vals.iter().any(|v| inspect::network_mode_name(c) == *v),
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{other}' [layer: api]"
                )))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Each image's size by id, for [`with_sizes`] (read once per listing).
pub fn image_sizes(e: &strata_engine::Engine) -> std::collections::HashMap<String, u64> {
    e.store()
        .ok()
        .and_then(|st| st.meta().list().ok())
        .into_iter()
        .flatten()
        .map(|i| (i.id.to_string(), i.size))
        .collect()
}

/// Adds docker's `SizeRw` (the container's writable layer) and `SizeRootFs` (that and its
/// image, from `images`: [`image_sizes`]) to its summary (`docker ps -s`, `system df`).
pub fn with_sizes(
    e: &strata_engine::Engine,
    c: &Container,
    images: &std::collections::HashMap<String, u64>,
    doc: &mut Value,
) {
    let rw = strata_engine::container::rootfs::usage(e, &c.id);
    let image = images.get(&c.config.image_id).copied().unwrap_or(0);
    doc["SizeRw"] = json!(rw);
    doc["SizeRootFs"] = json!(rw + image);
}

/// A container as `GET /containers/json` lists it.
pub fn summary(e: &strata_engine::Engine, c: &Container) -> Value {
    let cmd = {
        let doc = inspect::inspect(e, c);
        let mut parts = vec![doc["Path"].as_str().unwrap_or("").to_string()];
        parts.extend(
            doc["Args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string)),
        );
        parts.join(" ")
    };
    let ports: Vec<Value> = strata_engine::network::ports::published(c)
        .iter()
        .map(|p| {
            let mut v = json!({"PrivatePort": p.container_port, "Type": p.protocol});
            if p.host_port != 0 {
                v["PublicPort"] = json!(p.host_port);
                v["IP"] = json!(if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &p.host_ip
                });
            }
            v
        })
        .collect();
    json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.config.image,
        "ImageID": c.config.image_id,
        "Command": cmd,
        "Created": c.created / 1_000_000_000,
        "Ports": ports,
        "Labels": c.config.labels,
        "State": c.state.status.as_str(),
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": inspect::network_mode_name(c)},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

/// `GET /containers/json`.
pub async fn list(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let all = q.flag("all", false);
    let size = q.flag("size", false);
    let limit = q.int("limit")?.filter(|l| *l > 0);
    let filters = q.filters()?;
    let out = api
        .blocking(move |e| {
            let mut list = e.db.containers()?;
            let images = if size {
                image_sizes(e)
            } else {
                Default::default()
            };
            list.retain(|c| !c.config.infra);
            let mut out = Vec::new();
            // Newest first, as docker lists them.
            for mut c in list.into_iter().rev() {
                status::refresh(e, &mut c)?;
                let shown = all
                    || limit.is_some()
                    || c.state.status.is_live()
                    || filters.contains_key("status");
                if shown && matches(&c, &filters)? {
                    let mut doc = summary(e, &c);
                    if size {
                        with_sizes(e, &c, &images, &mut doc);
                    }
                    out.push(doc);
                }
                if limit.is_some_and(|l| out.len() as i64 >= l) {
                    break;
                }
            }
            Ok(Value::Array(out))
        })
        .await?;
    Ok(json(&out))
}
