//! The image endpoints: list, pull (`POST /images/create?fromImage=&tag=`, a stream of JSON
//! progress lines), inspect, tag and remove, through the image store as `strata pull`,
//! `images`, `tag` and `rmi` do.

use crate::body::{json, json_status, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use strata_image::digest::Digest;
use strata_image::progress::Progress;
use strata_image::registry::{RegistriesConfig, RegistryOptions};
use strata_image::store::ImageRecord;
use strata_image::{ops, pull};
use tokio::sync::mpsc::UnboundedSender;

/// An image as `GET /images/json` lists it.
pub fn summary(img: &ImageRecord) -> Value {
    let tags: Vec<&String> = img.names.iter().filter(|n| !n.contains('@')).collect();
    json!({
        "Id": img.id.to_string(),
        "ParentId": "",
        "RepoTags": if tags.is_empty() { json!(["<none>:<none>"]) } else { json!(tags) },
        "RepoDigests": img.repo_digests,
        "Created": img.created,
        "Size": img.size,
        "VirtualSize": img.size,
        "SharedSize": -1,
        "Labels": {},
        "Containers": -1,
    })
}

/// `GET /images/json`.
pub async fn list(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let filters = q.filters()?;
    let dangling = filters
        .get("dangling")
        .and_then(|v| v.first())
        .map(|v| v == "true" || v == "1");
    let refs = filters.get("reference").cloned().unwrap_or_default();
    let out = api
        .blocking(move |e| {
            let list = e.store()?.meta().list()?;
            Ok(list
                .iter()
                .filter(|i| dangling.is_none_or(|d| d == i.names.is_empty()))
                .filter(|i| {
                    refs.is_empty()
                        || refs.iter().any(|r| {
                            i.names.iter().any(|n| {
                                n == r
                                    || n.ends_with(&format!("/{r}"))
                                    || n.split(':')
                                        .next()
                                        .is_some_and(|repo| repo.ends_with(r.as_str()))
                            })
                        })
                })
                .map(summary)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json(&Value::Array(out)))
}

/// `GET /images/{name}/json`.
pub async fn inspect(api: &Arc<Api>, name: &str) -> Result<Response<Body>, ApiError> {
    let name = name.to_string();
    let doc = api
        .blocking(move |e| {
            let store = e.store()?;
            let img = ops::lookup(&store, &name, &e.opts.default_registry).map_err(|_| {
                ApiError::not_found(format!("No such image: {name} [layer: image]"))
            })?;
            let mut doc = ops::inspect(&store, &img)?;
            doc["Id"] = json!(img.id.to_string());
            doc["Parent"] = json!("");
            doc["VirtualSize"] = json!(img.size);
            doc["GraphDriver"] = json!({"Name": "overlay", "Data": {}});
            doc["ContainerConfig"] = doc["Config"].clone();
            Ok(doc)
        })
        .await?;
    Ok(json(&doc))
}

/// `POST /images/{name}/tag?repo=R&tag=T`.
pub async fn tag(api: &Arc<Api>, name: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let repo = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("tag: the repo parameter is required [layer: api]"))?;
    let target = format!(
        "{repo}:{}",
        q.get("tag").filter(|t| !t.is_empty()).unwrap_or("latest")
    );
    let name = name.to_string();
    api.blocking(move |e| {
        let store = e.store()?;
        ops::lookup(&store, &name, &e.opts.default_registry)
            .map_err(|_| ApiError::not_found(format!("No such image: {name} [layer: image]")))?;
        Ok(ops::tag(&store, &name, &target, &e.opts.default_registry)?)
    })
    .await?;
    Ok(json_status(StatusCode::CREATED, &Value::Null))
}

/// `DELETE /images/{name}?force=1`.
pub async fn remove(api: &Arc<Api>, name: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let force = q.flag("force", false);
    let name = name.to_string();
    let out = api
        .blocking(move |e| {
            let store = e.store()?;
            let img = ops::lookup(&store, &name, &e.opts.default_registry).map_err(|_| {
                ApiError::not_found(format!("No such image: {name} [layer: image]"))
            })?;
            if !force || img.names.len() <= 1 {
                if let Some(c) =
                    e.db.containers()?
                        .into_iter()
                        .find(|c| c.config.image_id == img.id.to_string())
                {
                    if !force || c.state.status.is_live() {
                        return Err(ApiError::conflict(format!(
                            "image {name}: in use by container {} [layer: image]",
                            c.short_id()
                        )));
                    }
                }
            }
            if strata_image::mount::is_mounted(&store, &img) {
                return Err(ApiError::conflict(format!(
                    "image {name}: mounted (strata image unmount first) [layer: image]"
                )));
            }
            let done = ops::remove(&store, &name, &e.opts.default_registry)?;
            Ok(done
                .into_iter()
                .map(|r| match r {
                    ops::Removed::Untagged(n) => json!({"Untagged": n}),
                    ops::Removed::Deleted(d) => json!({"Deleted": d.to_string()}),
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json(&Value::Array(out)))
}

/// `POST /images/prune?filters={"dangling":["false"]}`: removes dangling images (every
/// unused one with dangling=false), as `strata image prune` does.
pub async fn prune(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let all = q
        .filters()?
        .get("dangling")
        .is_some_and(|v| v.iter().any(|d| d == "false" || d == "0"));
    let deleted = api
        .blocking(move |e| {
            let store = e.store()?;
            Ok(ops::prune(&store, all)?
                .into_iter()
                .map(|d| json!({"Deleted": d.to_string()}))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(json(
        &json!({"ImagesDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}

/// Pull progress as docker's JSON message lines.
struct JsonProgress(UnboundedSender<Value>);

/// A layer's id in progress lines (its digest's first 12 hex digits).
pub fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

impl Progress for JsonProgress {
    fn start(&self, d: &Digest, size: u64) {
        let _ = self.0.send(json!({"status": "Pulling fs layer", "progressDetail": {"total": size}, "id": short(d)}));
    }
    fn finish(&self, d: &Digest, status: &str) {
        let s = match status {
            "exists" => "Already exists",
            _ => "Pull complete",
        };
        let _ = self
            .0
            .send(json!({"status": s, "progressDetail": {}, "id": short(d)}));
    }
    fn message(&self, msg: &str) {
        let _ = self.0.send(json!({"status": msg}));
    }
}

/// The reference pulled by `fromImage` and `tag` (a digest tag is `@digest`).
pub fn reference(from: &str, tag: Option<&str>) -> String {
    match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => {
            let last = from.rsplit('/').next().unwrap_or(from);
            if last.contains(':') || from.contains('@') {
                from.to_string()
            } else {
                format!("{from}:latest")
            }
        }
    }
}

/// `POST /images/create?fromImage=NAME&tag=T`: pulls, answering with progress lines (an
/// error after the headers went out is an `errorDetail` line, as docker sends it).
pub async fn create(api: &Arc<Api>, q: &Query) -> Result<Response<Body>, ApiError> {
    let from = q
        .get("fromImage")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "images/create: fromImage is required (import is not served) [layer: api]",
            )
        })?;
    let image = reference(from, q.get("tag"));
    let mut opts = RegistryOptions::new();
    opts.config = RegistriesConfig::load(&api.registries).map_err(|e| {
        ApiError::internal(format!(
            "registries {}: {e} [layer: image]",
            api.registries.display()
        ))
    })?;
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        opts.platform = strata_image::oci::Platform::parse(p)?;
    }
    let (ptx, response) = crate::body::json_lines();
    let store = Arc::clone(&api.store);
    let progress: Arc<dyn Progress> = Arc::new(JsonProgress(ptx.clone()));
    let _ = ptx.send(
        json!({"status": format!("Pulling from {from}"), "id": q.get("tag").unwrap_or("latest")}),
    );
    tokio::spawn(async move {
        let r = pull::pull(store, &opts, &image, progress).await;
        let last = match r {
            Ok(r) => {
                let _ = ptx.send(json!({"status": format!("Digest: {}", r.id)}));
                if r.already_present {
                    json!({"status": format!("Status: Image is up to date for {image}")})
                } else {
                    json!({"status": format!("Status: Downloaded newer image for {image}")})
                }
            }
            Err(e) => crate::body::json_error(&format!("{e} [layer: image]")),
        };
        let _ = ptx.send(last);
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_references() {
        assert_eq!(reference("busybox", Some("1.36")), "busybox:1.36");
        assert_eq!(reference("busybox", None), "busybox:latest");
        assert_eq!(
            reference("localhost:5000/bb", Some("")),
            "localhost:5000/bb:latest"
        );
        assert_eq!(reference("bb", Some("sha256:abc")), "bb@sha256:abc");
        assert_eq!(
            reference("localhost:5000/bb:x", None),
            "localhost:5000/bb:x"
        );
    }
}
