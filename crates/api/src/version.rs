//! `_ping`, `version` and `info`: what the docker CLI asks first (API version negotiation:
//! the client uses the lower of its version and `Api-Version`).

use crate::body::{full, json, Body};
use crate::error::ApiError;
use crate::state::Api;
use hyper::{header, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use strata_engine::container::{status, Status};

/// The API version served (docker 20.10's).
pub const API_VERSION: &str = "1.41";
/// The oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.12";

/// Parses `1.41` into (1, 41).
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Checks a request's `/vX.YY` against the versions served.
pub fn check(v: &str) -> Result<(), ApiError> {
    let got = parse_version(v).ok_or_else(|| {
        ApiError::bad_request(format!("api version {v:?}: not a version [layer: api]"))
    })?;
    let max = parse_version(API_VERSION).expect("constant");
    let min = parse_version(MIN_API_VERSION).expect("constant");
    if got > max {
        return Err(ApiError::bad_request(format!(
            "client version {v} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if got < min {
        return Err(ApiError::bad_request(format!(
            "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(())
}

/// `GET|HEAD /_ping`.
pub fn ping(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD { "" } else { "OK" };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("Api-Version", API_VERSION)
        .header("Docker-Experimental", "false")
        .header("Ostype", "linux")
        .header("Builder-Version", "1")
        .header(header::CACHE_CONTROL, "no-cache, no-store, must-revalidate")
        .header(header::PRAGMA, "no-cache")
        .body(full(body))
        .expect("static headers")
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /version`.
pub fn version() -> Response<Body> {
    let v = env!("CARGO_PKG_VERSION");
    json(&json!({
        "Platform": {"Name": "Strata"},
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch(), "KernelVersion": kernel()},
        }],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

/// `GET /info`.
pub async fn info(api: &Arc<Api>) -> Result<Response<Body>, ApiError> {
    let doc: Value = api
        .blocking(|e| {
            let mut list = e.db.containers()?;
            let mut counts = [0usize; 3];
            for c in list.iter_mut() {
                status::refresh(e, c)?;
                match c.state.status {
                    Status::Running => counts[0] += 1,
                    Status::Paused => counts[1] += 1,
                    _ => counts[2] += 1,
                }
            }
            let images = e.store()?.meta().list()?.len();
            let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            Ok(json!({
                "ID": "strata",
                "Containers": list.len(),
                "ContainersRunning": counts[0],
                "ContainersPaused": counts[1],
                "ContainersStopped": counts[2],
                "Images": images,
                "Driver": "overlay",
                "DockerRootDir": e.paths.root,
                "OperatingSystem": "linux",
                "OSType": "linux",
                "Architecture": std::env::consts::ARCH,
                "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
                "MemTotal": strata_engine::container::stats::host_memory(),
                "KernelVersion": kernel(),
                "Name": hostname.trim(),
                "ServerVersion": env!("CARGO_PKG_VERSION"),
                "CgroupDriver": "cgroupfs",
                "CgroupVersion": if strata_engine::describe::cgroup_layout().contains("v2") { "2" } else { "1" },
                "Runtimes": {"strata-runc": {"path": "strata-monitor"}},
                "DefaultRuntime": "strata-runc",
                "SecurityOptions": ["name=seccomp,profile=default"],
                "LoggingDriver": "k8s-file",
                "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["k8s-file"]},
                "Swarm": {"LocalNodeState": "inactive"},
                "ExperimentalBuild": false,
                "Labels": [],
                "IndexServerAddress": "https://index.docker.io/v1/",
                "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": []},
            }))
        })
        .await?;
    Ok(json(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked() {
        assert!(check("1.41").is_ok());
        assert!(check("1.24").is_ok());
        assert_eq!(check("1.99").unwrap_err().status, StatusCode::BAD_REQUEST);
        assert!(check("1.5").is_err());
        assert!(check("x").is_err());
    }
}
