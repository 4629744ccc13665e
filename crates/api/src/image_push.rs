//! `POST /images/{name}/push?tag=T` (`docker push`): the image store's push to its
//! registry (the registries file says which are insecure), answered with docker's JSON
//! progress lines; an error after the headers went out is an `errorDetail` line.

use crate::body::Body;
use crate::error::ApiError;
use crate::images::short;
use crate::query::Query;
use crate::state::Api;
use hyper::Response;
use serde_json::{json, Value};
use std::sync::Arc;
use strata_image::digest::Digest;
use strata_image::progress::Progress;
use strata_image::registry::{RegistriesConfig, RegistryOptions};
use tokio::sync::mpsc::UnboundedSender;

/// Push progress as docker's JSON message lines.
struct PushProgress(UnboundedSender<Value>);

impl Progress for PushProgress {
    fn start(&self, d: &Digest, size: u64) {
        let _ = self.0.send(
            json!({"status": "Pushing", "progressDetail": {"current": 0, "total": size}, "id": short(d)}),
        );
    }
    fn finish(&self, d: &Digest, status: &str) {
        let s = match status {
            "exists" => "Layer already exists",
            "mounted" => "Mounted from another repository",
            _ => "Pushed",
        };
        let _ = self
            .0
            .send(json!({"status": s, "progressDetail": {}, "id": short(d)}));
    }
    fn message(&self, msg: &str) {
        let _ = self.0.send(json!({"status": msg}));
    }
}

/// `name:tag` of a push (`tag` empty or absent: the name as given, `latest` if untagged).
pub fn push_reference(name: &str, tag: Option<&str>) -> String {
    crate::images::reference(name, tag)
}

/// `POST /images/{name}/push`.
pub async fn push(api: &Arc<Api>, name: &str, q: &Query) -> Result<Response<Body>, ApiError> {
    let image = push_reference(name, q.get("tag"));
    let mut opts = RegistryOptions::new();
    opts.config = RegistriesConfig::load(&api.registries).map_err(|e| {
        ApiError::internal(format!(
            "registries {}: {e} [layer: image]",
            api.registries.display()
        ))
    })?;
    {
        let (store, img, reg) = (
            Arc::clone(&api.store),
            image.clone(),
            opts.config.default_registry.clone(),
        );
        let found = tokio::task::spawn_blocking(move || {
            strata_image::ops::lookup(&store, &img, &reg).is_ok()
        })
        .await
        .unwrap_or(false);
        if !found {
            return Err(ApiError::not_found(format!(
                "An image does not exist locally with the tag: {image} [layer: image]"
            )));
        }
    }
    let (ptx, response) = crate::body::json_lines();
    let store = Arc::clone(&api.store);
    let progress: Arc<dyn Progress> = Arc::new(PushProgress(ptx.clone()));
    let repo = image
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(image.as_str(), |(r, _)| r)
        .to_string();
    let _ = ptx.send(json!({"status": format!("The push refers to repository [{repo}]")}));
    tokio::spawn(async move {
        let r = strata_image::push::push(&store, &opts, &image, None, progress).await;
        let last = match r {
            Ok(d) => {
                let tag = image
                    .rsplit_once(':')
                    .map_or("latest", |(_, t)| t)
                    .to_string();
                let _ = ptx.send(json!({"status": format!("{tag}: digest: {d}")}));
                json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": d.to_string()}})
            }
            Err(e) => crate::body::json_error(&format!("{e} [layer: image]")),
        };
        let _ = ptx.send(last);
    });
    Ok(response)
}
