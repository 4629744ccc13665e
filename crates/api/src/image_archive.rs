//! Image archives and history: `GET /images/get?names=...` and `GET /images/{name}/get`
//! (`docker save`: a docker-archive tar), `POST /images/load` (`docker load`: a docker or
//! OCI archive, answered with JSON stream lines) and `GET /images/{name}/history`, through
//! the image store's archive support as `strata save`, `load` and `history` use it.

use crate::body::{file, json, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use crate::upload::spool;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use strata_image::archive::{self, Format};
use strata_image::ops;

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("No such image: {name} [layer: image]"))
}

/// `GET /images/get?names=A&names=B` (or `GET /images/{name}/get`): a docker-archive.
pub async fn save(api: &Arc<Api>, names: Vec<String>) -> Result<Response<Body>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "images/get: names is required [layer: api]",
        ));
    }
    let out = api
        .blocking(move |e| {
            let store = e.store()?;
            let mut imgs = Vec::new();
            for n in &names {
                let img =
                    ops::lookup(&store, n, &e.opts.default_registry).map_err(|_| no_such(n))?;
                // An id names no tag; a name is recorded as the tag it resolved to.
                let tag = img
                    .names
                    .iter()
                    .find(|x| {
                        *x == n || x.ends_with(&format!("/{n}")) || x.starts_with(&format!("{n}:"))
                    })
                    .cloned();
                imgs.push((img, tag));
            }
            let dir = tempfile::Builder::new()
                .prefix("strata-api-save")
                .tempdir()
                .map_err(|err| ApiError::internal(format!("save: {err} [layer: api]")))?;
            let path = dir.path().join("images.tar");
            archive::save(&store, &imgs, &path, Format::DockerArchive)?;
            // Opened, then the directory removed: the open file stays readable.
            std::fs::File::open(&path)
                .map_err(|err| ApiError::internal(format!("save: {err} [layer: api]")))
        })
        .await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(file(out))
        .expect("static headers"))
}

/// `POST /images/load`: the archive in the body loaded into the store.
pub async fn load(
    api: &Arc<Api>,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    // `quiet` changes nothing: the answer is the loaded names, as docker's quiet one is.
    let _ = q;
    let upload = spool(req, "load").await?;
    let lines = api
        .blocking(move |e| {
            let store = e.store()?;
            let loaded = archive::load(&store, upload.path())?;
            let mut lines = Vec::new();
            for (id, names) in loaded {
                if names.is_empty() {
                    lines.push(format!("Loaded image ID: {id}\n"));
                }
                for n in names {
                    lines.push(format!("Loaded image: {n}\n"));
                }
            }
            Ok(lines)
        })
        .await?;
    let mut body = Vec::new();
    for l in lines {
        body.extend(serde_json::to_vec(&json!({"stream": l})).unwrap_or_default());
        body.push(b'\n');
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(crate::body::full(body))
        .expect("static headers"))
}

/// `GET /images/{name}/history`: the config's history, newest first, each step that made
/// a layer with that layer's size; the top one carries the image's id and names.
pub async fn history(api: &Arc<Api>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let out = api
        .blocking(move |e| {
            let store = e.store()?;
            let img =
                ops::lookup(&store, &name, &e.opts.default_registry).map_err(|_| no_such(&name))?;
            let cfg = ops::config(&store, &img)?;
            Ok(history_of(&img, &cfg))
        })
        .await?;
    Ok(json(&Value::Array(out)))
}

/// The history documents of an image with config `cfg`.
pub fn history_of(img: &strata_image::store::ImageRecord, cfg: &Value) -> Vec<Value> {
    let mut layers = img.layers.iter();
    let mut out: Vec<Value> = Vec::new();
    let steps = cfg["history"].as_array().cloned().unwrap_or_default();
    for h in &steps {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layers.next().map_or(0, |l| l.size)
        };
        let created = h["created"]
            .as_str()
            .and_then(strata_os::clock::parse_rfc3339)
            .map_or(0, |n| n / 1_000_000_000);
        out.push(json!({
            "Id": "<missing>",
            "Created": created,
            "CreatedBy": h["created_by"].as_str().unwrap_or(""),
            "Tags": null,
            "Size": size,
            "Comment": h["comment"].as_str().unwrap_or(""),
        }));
    }
    out.reverse();
    if out.is_empty() {
        out.push(json!({"Id": "", "Created": img.created, "CreatedBy": "", "Tags": null, "Size": img.size, "Comment": ""}));
    }
    out[0]["Id"] = json!(img.id.to_string());
    let tags: Vec<&String> = img.names.iter().filter(|n| !n.contains('@')).collect();
    if !tags.is_empty() {
        out[0]["Tags"] = json!(tags);
    }
    out
}
