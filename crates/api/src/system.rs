//! `GET /system/df`: what images, containers and volumes take, as `docker system df` reads
//! it (the builder's cache is not listed: its steps are images of the store; a container's
//! writable layer is not measured).

use crate::body::{json, Body};
use crate::error::ApiError;
use crate::state::Api;
use hyper::Response;
use serde_json::json;
use std::sync::Arc;
use strata_engine::volume;

/// The bytes under `p` (files only, not following links).
fn du(p: &std::path::Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0)
}

/// `GET /system/df`.
pub async fn df(api: &Arc<Api>) -> Result<Response<Body>, ApiError> {
    let doc = api
        .blocking(|e| {
            let containers = e.db.containers()?;
            let images = e.store()?.meta().list()?;
            let layers: u64 = images.iter().map(|i| i.size).sum();
            let imgs: Vec<_> = images
                .iter()
                .map(|i| {
                    let mut s = crate::images::summary(i);
                    let n = containers
                        .iter()
                        .filter(|c| c.config.image_id == i.id.to_string())
                        .count();
                    s["Containers"] = json!(n);
                    s
                })
                .collect();
            let sizes = images.iter().map(|i| (i.id.to_string(), i.size)).collect();
            let ctrs: Vec<_> = containers
                .iter()
                .map(|c| {
                    let mut s = crate::containers::list::summary(e, c);
                    crate::containers::list::with_sizes(e, c, &sizes, &mut s);
                    s
                })
                .collect();
            let mut vols = Vec::new();
            for v in e.db.volumes()? {
                let mut d = volume::inspect(e, &v);
                let refs = volume::users(e, &v.name)?.len();
                d["UsageData"] =
                    json!({"Size": du(&volume::data_dir(e, &v.name)), "RefCount": refs});
                vols.push(d);
            }
            Ok(json!({
                "LayersSize": layers,
                "Images": imgs,
                "Containers": ctrs,
                "Volumes": vols,
                "BuildCache": [],
            }))
        })
        .await?;
    Ok(json(&doc))
}
