//! `POST /build` (docker's classic builder endpoint, `DOCKER_BUILDKIT=0 docker build`): the
//! body is the build context as a tar, unpacked into a private temporary directory (entries
//! that climb out of it refused), then built by the builder (`strata build`'s) with the
//! query's tags (`t`), `dockerfile`, `buildargs`, `target`, `labels`, `nocache` and `q`;
//! base images not in the store are pulled. The answer is a stream of JSON lines:
//! `{"stream": ...}` per progress line, then the image id (`aux`) and `Successfully
//! built`/`tagged`, or `errorDetail` naming the failed step.

use crate::body::{channel, json_error, json_line, json_stream, Body};
use crate::containers::archive::{contained, unpack_contained};
use crate::error::ApiError;
use crate::query::Query;
use crate::state::Api;
use crate::upload::spool;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use strata_build::builder;
use strata_image::progress::Progress;
use strata_image::pull;
use strata_image::registry::{RegistriesConfig, RegistryOptions};

/// Pulls of base images report nothing (the build's own lines tell the steps).
struct NoProgress;

impl Progress for NoProgress {}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("build: {what} [layer: api]"))
}

/// A JSON map of strings in the query (`buildargs`, `labels`); absent: empty.
pub fn json_map(q: &Query, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = q.get(key).filter(|s| !s.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: Value = serde_json::from_str(raw).map_err(|e| bad(&format!("{key}: {e}")))?;
    let m = v
        .as_object()
        .ok_or_else(|| bad(&format!("{key}: expected a JSON object")))?;
    m.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Null => Ok((k.clone(), String::new())),
            _ => Err(bad(&format!("{key}: {k}: expected a string"))),
        })
        .collect()
}

/// `POST /build`.
pub async fn build(
    api: &Arc<Api>,
    q: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(bad(
            "a remote context is not served: send the context as a tar",
        ));
    }
    let dockerfile = q
        .get("dockerfile")
        .filter(|d| !d.is_empty())
        .unwrap_or("Dockerfile")
        .to_string();
    if !contained(Path::new(&dockerfile)) {
        return Err(bad(&format!(
            "dockerfile {dockerfile}: outside the context"
        )));
    }
    let tags: Vec<String> = q
        .all("t")
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let build_args = json_map(q, "buildargs")?;
    let labels = json_map(q, "labels")?;
    let target = q
        .get("target")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let no_cache = q.flag("nocache", false);
    // Quiet: no progress, the image id alone as the stream (the client prints that).
    let quiet = q.flag("q", false);
    let upload = spool(req, "build context").await?;
    let (tx, body) = channel(64);
    let api = Arc::clone(api);
    let (registries, shared_store) = (api.registries.clone(), Arc::clone(&api.store));
    let tagged = tags.clone();
    tokio::spawn(async move {
        let out = tx.clone();
        let r = api
            .blocking(move |e| {
                let ctx = tempfile::Builder::new()
                    .prefix("strata-api-build")
                    .tempdir()
                    .map_err(|err| ApiError::internal(format!("build: {err} [layer: api]")))?;
                let f = upload
                    .reopen()
                    .map_err(|err| ApiError::internal(format!("build: {err} [layer: api]")))?;
                unpack_contained(f, ctx.path(), false)?;
                let file = ctx.path().join(dockerfile.trim_start_matches('/'));
                if !file.is_file() {
                    return Err(bad(&format!("cannot find {dockerfile} in the context")));
                }
                let req = builder::Request {
                    context: ctx.path().to_path_buf(),
                    dockerfile: file,
                    tags,
                    target,
                    build_args,
                    no_cache,
                    labels,
                    ..Default::default()
                };
                let store = e.store()?;
                let reg = e.opts.default_registry.clone();
                // A base image not in the store is pulled, as the docker daemon does.
                let images = |r: &str| {
                    if let Ok(img) = strata_image::ops::lookup(&store, r, &reg) {
                        return Ok(img);
                    }
                    let pull_err =
                        |err: String| format!("base image {r}: pull: {err} [layer: image]");
                    let mut opts = RegistryOptions::new();
                    opts.config = RegistriesConfig::load(&registries)
                        .map_err(|err| pull_err(err.to_string()))?;
                    let progress: Arc<dyn Progress> = Arc::new(NoProgress);
                    let reference = crate::images::reference(r, None);
                    tokio::runtime::Handle::current()
                        .block_on(pull::pull(
                            Arc::clone(&shared_store),
                            &opts,
                            &reference,
                            progress,
                        ))
                        .map_err(|err| pull_err(err.to_string()))?;
                    strata_image::ops::lookup(&store, &reference, &reg)
                        .map_err(|err| pull_err(err.to_string()))
                };
                let urls = |url: &str, to: &Path| -> Result<(), String> {
                    tokio::runtime::Handle::current()
                        .block_on(strata_image::registry::client::download(url, to))
                };
                let mut progress = |l: &str| {
                    if !quiet {
                        let _ = out.blocking_send(json_line(&json!({"stream": format!("{l}\n")})));
                    }
                };
                let built = builder::build(e, &req, &images, &urls, &mut progress)
                    .map_err(|err| ApiError::internal(format!("build: {err}")))?;
                Ok((
                    built.image.id.to_string(),
                    built.image.id.hex().chars().take(12).collect::<String>(),
                ))
            })
            .await;
        let lines = match r {
            Ok((id, _)) if quiet => vec![
                json!({"aux": {"ID": id}}),
                json!({"stream": format!("{id}\n")}),
            ],
            Ok((id, short)) => {
                let mut l = vec![
                    json!({"aux": {"ID": id}}),
                    json!({"stream": format!("Successfully built {short}\n")}),
                ];
                l.extend(
                    tagged
                        .iter()
                        .map(|t| json!({"stream": format!("Successfully tagged {t}\n")})),
                );
                l
            }
            Err(err) => {
                vec![json_error(&err.message)]
            }
        };
        for l in lines {
            if tx.send(json_line(&l)).await.is_err() {
                return;
            }
        }
    });
    Ok(json_stream(body))
}
