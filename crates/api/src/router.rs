//! The endpoint table: an optional `/vX.YY` prefix (checked against the versions served),
//! then the method and path segments. Request bodies are read with a size bound; anything
//! malformed is a 400 with docker's JSON error, never a crash.

use crate::body::Body;
use crate::error::ApiError;
use crate::query::{decode, Query};
use crate::state::Api;
use crate::{
    build, containers, events, exec, image_archive, image_push, images, networks, system, version,
    volumes,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::sync::Arc;

/// The largest request body read (container configurations are a few KiB).
pub const MAX_BODY: usize = 4 << 20;

/// Reads a request's body, at most `MAX_BODY` bytes.
pub async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "request body: {e} (at most {MAX_BODY} bytes) [layer: api]"
            ))
        })
}

/// Parses a JSON request body (an empty body is `null`).
pub fn parse_json(b: &[u8]) -> Result<serde_json::Value, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError::bad_request(format!("request body: invalid JSON: {e} [layer: api]")))
}

/// Splits `/v1.41/containers/x/json` into the version and the decoded segments.
pub fn split_path(path: &str) -> (Option<&str>, Vec<String>) {
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let version = first
        .strip_prefix('v')
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()) && v.contains('.'));
    let rest = if version.is_some() { rest } else { trimmed };
    let segs = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    (version, segs)
}

/// Answers one request.
pub async fn route(api: Arc<Api>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    tracing::debug!(%method, %path, "request");
    match dispatch(api, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%method, %path, status = %e.status, message = %e.message, "error");
            e.response()
        }
    }
}

async fn dispatch(api: Arc<Api>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (ver, segs) = split_path(req.uri().path());
    if let Some(v) = ver {
        version::check(v)?;
    }
    let q = Query::parse(req.uri().query());
    let m = req.method().clone();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    use containers as c;
    match (&m, s.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(version::ping(&m)),
        (&Method::GET, ["version"]) => Ok(version::version()),
        (&Method::GET, ["info"]) => version::info(&api).await,
        (&Method::GET, ["events"]) => events::events(&api, &q).await,
        (&Method::GET, ["containers", "json"]) => c::list::list(&api, &q).await,
        (&Method::POST, ["containers", "prune"]) => c::lifecycle::prune(&api).await,
        (&Method::POST, ["images", "prune"]) => images::prune(&api, &q).await,
        (&Method::POST, ["volumes", "prune"]) => volumes::prune(&api).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune(&api).await,
        (&Method::POST, ["containers", id, "pause"]) => c::lifecycle::pause(&api, id, true).await,
        (&Method::POST, ["containers", id, "unpause"]) => {
            c::lifecycle::pause(&api, id, false).await
        }
        (&Method::POST, ["containers", "create"]) => {
            let body = read_body(req).await?;
            c::create::create(&api, &q, &body).await
        }
        (&Method::GET, ["containers", id, "json"]) => c::inspect(&api, id).await,
        (&Method::POST, ["containers", id, "start"]) => c::lifecycle::start(&api, id).await,
        (&Method::POST, ["containers", id, "stop"]) => c::lifecycle::stop(&api, id, &q).await,
        (&Method::POST, ["containers", id, "restart"]) => c::lifecycle::restart(&api, id, &q).await,
        (&Method::POST, ["containers", id, "kill"]) => c::lifecycle::kill(&api, id, &q).await,
        (&Method::POST, ["containers", id, "rename"]) => c::lifecycle::rename(&api, id, &q).await,
        (&Method::POST, ["containers", id, "wait"]) => c::wait::wait(&api, id, &q).await,
        (&Method::POST, ["containers", id, "resize"]) => c::attach::resize(&api, id, &q).await,
        (&Method::POST, ["containers", id, "attach"]) => {
            let id = id.to_string();
            c::attach::attach(&api, &id, &q, req).await
        }
        (&Method::POST, ["containers", id, "exec"]) => {
            let id = id.to_string();
            let body = read_body(req).await?;
            exec::create(&api, &id, &body).await
        }
        (&Method::POST, ["exec", id, "start"]) => {
            let id = id.to_string();
            exec::start(&api, &id, req).await
        }
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(&api, id).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(&api, id, &q).await,
        (&Method::GET, ["containers", id, "logs"]) => c::logs::logs(&api, id, &q).await,
        (&Method::GET, ["containers", id, "top"]) => c::top::top(&api, id, &q).await,
        (&Method::GET, ["containers", id, "stats"]) => c::stats::stats(&api, id, &q).await,
        (&Method::HEAD, ["containers", id, "archive"]) => c::archive::head(&api, id, &q).await,
        (&Method::GET, ["containers", id, "archive"]) => c::archive::get(&api, id, &q).await,
        (&Method::PUT, ["containers", id, "archive"]) => {
            let id = id.to_string();
            c::archive::put(&api, &id, &q, req).await
        }
        (&Method::GET, ["system", "df"]) => system::df(&api).await,
        (&Method::POST, ["build"]) => build::build(&api, &q, req).await,
        (&Method::POST, ["images", "load"]) => image_archive::load(&api, &q, req).await,
        (&Method::GET, ["images", "get"]) => {
            let names = q.all("names").into_iter().map(str::to_string).collect();
            image_archive::save(&api, names).await
        }
        (&Method::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            image_archive::save(&api, vec![name.join("/")]).await
        }
        (&Method::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            image_archive::history(&api, &name.join("/")).await
        }
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            let name = name.join("/");
            image_push::push(&api, &name, &q).await
        }
        (&Method::DELETE, ["containers", id]) => c::lifecycle::remove(&api, id, &q).await,
        (&Method::GET, ["networks"]) => networks::list(&api, &q).await,
        (&Method::POST, ["networks", "create"]) => {
            let body = read_body(req).await?;
            networks::create(&api, &body).await
        }
        (&Method::GET, ["networks", id]) => networks::inspect(&api, id).await,
        (&Method::POST, ["networks", id, "connect"]) => {
            let id = id.to_string();
            let body = read_body(req).await?;
            networks::connect(&api, &id, &body).await
        }
        (&Method::POST, ["networks", id, "disconnect"]) => {
            let id = id.to_string();
            let body = read_body(req).await?;
            networks::disconnect(&api, &id, &body).await
        }
        (&Method::DELETE, ["networks", id]) => networks::remove(&api, id).await,
        (&Method::GET, ["volumes"]) => volumes::list(&api, &q).await,
        (&Method::POST, ["volumes", "create"]) => {
            let body = read_body(req).await?;
            volumes::create(&api, &body).await
        }
        (&Method::GET, ["volumes", name]) => volumes::inspect(&api, name).await,
        (&Method::DELETE, ["volumes", name]) => volumes::remove(&api, name).await,
        (&Method::GET, ["images", "json"]) => images::list(&api, &q).await,
        (&Method::POST, ["images", "create"]) => images::create(&api, &q).await,
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            images::inspect(&api, &name.join("/")).await
        }
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(&api, &name.join("/"), &q).await
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::remove(&api, &name.join("/"), &q).await
        }
        _ => Err(ApiError::not_found(format!(
            "{m} {}: page not found [layer: api]",
            req.uri().path()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_and_without_versions() {
        assert_eq!(
            split_path("/v1.41/containers/abc/json"),
            (
                Some("1.41"),
                vec!["containers".into(), "abc".into(), "json".into()]
            )
        );
        assert_eq!(split_path("/_ping"), (None, vec!["_ping".to_string()]));
        assert_eq!(
            split_path("/images/localhost%3A5000/busybox/json"),
            (
                None,
                vec![
                    "images".into(),
                    "localhost:5000".into(),
                    "busybox".into(),
                    "json".into()
                ]
            )
        );
        assert_eq!(split_path("/volumes").0, None);
    }

    #[test]
    fn bodies_parse_or_give_400() {
        assert!(parse_json(b"").unwrap().is_null());
        assert_eq!(
            parse_json(b"{bad").unwrap_err().status,
            hyper::StatusCode::BAD_REQUEST
        );
    }
}
