//! `POST /containers/create?name=N`: docker's container configuration (Config with its
//! HostConfig) turned into the engine's, then the engine's `create`, as `strata create`
//! does. Fields of the wrong type are a 400 naming the field; a missing image is a 404 (the
//! docker CLI then pulls it and tries again).

use crate::body::{json_status, Body};
use crate::error::ApiError;
use crate::query::Query;
use crate::router::parse_json;
use crate::state::Api;
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use strata_engine::container::config::{
    ContainerConfig, MountKind, MountSpec, NetworkMode, PortMapping, RestartPolicy, Ulimit,
};
use strata_engine::container::{create as engine_create, parse};
use strata_engine::spec::image_config::ImageConfig;

fn bad(field: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("create: {field}: {what} [layer: api]"))
}

/// A list of strings (null: none; a lone string: one).
fn strings(v: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(vec![]),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(field, "expected a list of strings"))
            })
            .collect(),
        _ => Err(bad(field, "expected a list of strings")),
    }
}

/// A string (null or empty: none).
/// A PidMode/IpcMode: `host`, or the default (empty, `private`, `shareable`).
fn host_mode(v: &Value, field: &str) -> Result<bool, ApiError> {
    match string(v, field)?.as_deref() {
        None | Some("") | Some("private") | Some("shareable") => Ok(false),
        Some("host") => Ok(true),
        Some(m) => Err(bad(
            field,
            &format!("{m:?} is not served (host, or private)"),
        )),
    }
}

fn string(v: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(bad(field, "expected a string")),
    }
}

fn boolean(v: &Value, field: &str) -> Result<bool, ApiError> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(bad(field, "expected a boolean")),
    }
}

/// An integer (null or 0: none).
fn int(v: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Ok(None),
            Some(i) => Ok(Some(i)),
            None => Err(bad(field, "expected an integer")),
        },
        _ => Err(bad(field, "expected an integer")),
    }
}

fn string_map(v: &Value, field: &str) -> Result<Vec<(String, String)>, ApiError> {
    match v {
        Value::Null => Ok(vec![]),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| match x {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Null => Ok((k.clone(), String::new())),
                _ => Err(bad(field, "expected a map of strings")),
            })
            .collect(),
        _ => Err(bad(field, "expected a map of strings")),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(bad(field, "expected an object")),
    }
}

fn network_mode(s: &str) -> NetworkMode {
    match s {
        "" | "default" | "bridge" => NetworkMode::Default,
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        other => match other.strip_prefix("container:") {
            Some(c) => NetworkMode::Container(c.to_string()),
            None => NetworkMode::Bridge(other.to_string()),
        },
    }
}

fn restart(v: &Value) -> Result<RestartPolicy, ApiError> {
    let Some(m) = object(v, "HostConfig.RestartPolicy")? else {
        return Ok(RestartPolicy::No);
    };
    let name = string(m.get("Name").unwrap_or(&Value::Null), "RestartPolicy.Name")?;
    let max = int(
        m.get("MaximumRetryCount").unwrap_or(&Value::Null),
        "RestartPolicy.MaximumRetryCount",
    )?
    .unwrap_or(0);
    match name.as_deref().unwrap_or("no") {
        "no" => Ok(RestartPolicy::No),
        "always" => Ok(RestartPolicy::Always),
        "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
        "on-failure" => Ok(RestartPolicy::OnFailure(
            max.clamp(0, u32::MAX as i64) as u32
        )),
        other => Err(bad(
            "HostConfig.RestartPolicy.Name",
            &format!("{other:?}: no, always, unless-stopped or on-failure"),
        )),
    }
}

fn ports(v: &Value) -> Result<Vec<PortMapping>, ApiError> {
    let mut out = Vec::new();
    let Some(m) = object(v, "HostConfig.PortBindings")? else {
        return Ok(out);
    };
    for (key, bindings) in m {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| bad("HostConfig.PortBindings", &format!("{key:?}: not a port")))?;
        let list = match bindings {
            Value::Array(a) if !a.is_empty() => a.clone(),
            Value::Null | Value::Array(_) => vec![json!({})],
            _ => return Err(bad("HostConfig.PortBindings", "expected lists of bindings")),
        };
        for b in list {
            let ip = string(b.get("HostIp").unwrap_or(&Value::Null), "HostIp")?;
            let hp = string(b.get("HostPort").unwrap_or(&Value::Null), "HostPort")?;
            let host_port: u16 = match hp.as_deref() {
                None => 0,
                Some(p) => p.parse().map_err(|_| {
                    bad(
                        "HostConfig.PortBindings",
                        &format!("host port {p:?}: not a port"),
                    )
                })?,
            };
            out.push(PortMapping {
                host_ip: ip.unwrap_or_default(),
                host_port,
                container_port,
                protocol: proto.to_string(),
            });
        }
    }
    Ok(out)
}

fn mounts(h: &Map<String, Value>) -> Result<Vec<MountSpec>, ApiError> {
    let null = Value::Null;
    let get = |k: &str| h.get(k).unwrap_or(&null);
    let mut out = Vec::new();
    for b in strings(get("Binds"), "HostConfig.Binds")? {
        out.push(parse::volume(&b)?);
    }
    if let Value::Array(list) = get("Mounts") {
        for m in list {
            let f = |k: &str| m.get(k).unwrap_or(&null);
            let kind = match f("Type").as_str().unwrap_or("volume") {
                "bind" => MountKind::Bind,
                "volume" => MountKind::Volume,
                "tmpfs" => MountKind::Tmpfs,
                other => {
                    return Err(bad(
                        "HostConfig.Mounts.Type",
                        &format!("{other:?} is not served"),
                    ))
                }
            };
            let target = string(f("Target"), "HostConfig.Mounts.Target")?
                .ok_or_else(|| bad("HostConfig.Mounts.Target", "required"))?;
            let mut source = string(f("Source"), "HostConfig.Mounts.Source")?.unwrap_or_default();
            if kind == MountKind::Volume && source.is_empty() {
                source = format!("anon-{}", strata_engine::ids::new_id());
            }
            let mut options = Vec::new();
            if let Some(t) = object(f("TmpfsOptions"), "HostConfig.Mounts.TmpfsOptions")? {
                if let Some(s) = t.get("SizeBytes").and_then(Value::as_i64) {
                    options.push(format!("size={s}"));
                }
                if let Some(m) = t.get("Mode").and_then(Value::as_u64) {
                    options.push(format!("mode={m:o}"));
                }
            }
            out.push(MountSpec {
                kind,
                source,
                target,
                readonly: boolean(f("ReadOnly"), "HostConfig.Mounts.ReadOnly")?,
                options,
            });
        }
    } else if !get("Mounts").is_null() {
        return Err(bad("HostConfig.Mounts", "expected a list"));
    }
    for (path, opts) in string_map(get("Tmpfs"), "HostConfig.Tmpfs")? {
        let spec = if opts.is_empty() {
            path
        } else {
            format!("{path}:{opts}")
        };
        out.push(parse::tmpfs(&spec)?);
    }
    Ok(out)
}

/// The aliases of `NetworkingConfig.EndpointsConfig` (a container joins one network: the
/// aliases of every endpoint given are its).
fn aliases(v: &Value) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let Some(nc) = object(v, "NetworkingConfig")? else {
        return Ok(out);
    };
    let null = Value::Null;
    let Some(eps) = object(
        nc.get("EndpointsConfig").unwrap_or(&null),
        "NetworkingConfig.EndpointsConfig",
    )?
    else {
        return Ok(out);
    };
    for ep in eps.values() {
        let Some(ep) = object(ep, "NetworkingConfig.EndpointsConfig")? else {
            continue;
        };
        for a in endpoint_aliases(ep)? {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// An endpoint configuration's `Aliases`, each a valid host name.
pub fn endpoint_aliases(ep: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let list = strings(ep.get("Aliases").unwrap_or(&Value::Null), "Aliases")?;
    for a in &list {
        let ok = !a.is_empty()
            && a.len() <= 253
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !ok {
            return Err(bad("Aliases", &format!("{a:?} is not a valid host name")));
        }
    }
    Ok(list)
}

/// `HostConfig.ConsoleSize` (`[rows, columns]`; `[0, 0]` or absent: unknown).
fn console_size(v: &Value) -> Result<Option<(u16, u16)>, ApiError> {
    let field = "HostConfig.ConsoleSize";
    match v {
        Value::Null => Ok(None),
        Value::Array(a) if a.len() == 2 => {
            let n = |x: &Value| {
                x.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| bad(field, "expected two sizes up to 65535"))
            };
            let (rows, cols) = (n(&a[0])?, n(&a[1])?);
            Ok((rows > 0 && cols > 0).then_some((rows, cols)))
        }
        _ => Err(bad(field, "expected [rows, columns]")),
    }
}

/// The engine's configuration and the image of docker's create body.
pub fn config_of(v: &Value) -> Result<(ContainerConfig, String), ApiError> {
    let body = v.as_object().ok_or_else(|| {
        ApiError::bad_request("create: the body must be a JSON object [layer: api]")
    })?;
    let null = Value::Null;
    let get = |k: &str| body.get(k).unwrap_or(&null);
    let image =
        string(get("Image"), "Image")?.ok_or_else(|| bad("Image", "an image is required"))?;
    let hc = object(get("HostConfig"), "HostConfig")?
        .cloned()
        .unwrap_or_default();
    let h = |k: &str| hc.get(k).unwrap_or(&null);
    let mut c = ContainerConfig {
        image: image.clone(),
        command: strings(get("Cmd"), "Cmd")?,
        entrypoint: match get("Entrypoint") {
            Value::Null => None,
            e => Some(
                strings(e, "Entrypoint")?
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
        },
        env: strings(get("Env"), "Env")?,
        workdir: string(get("WorkingDir"), "WorkingDir")?,
        user: string(get("User"), "User")?,
        group_add: strings(h("GroupAdd"), "HostConfig.GroupAdd")?,
        pid_host: host_mode(h("PidMode"), "HostConfig.PidMode")?,
        ipc_host: host_mode(h("IpcMode"), "HostConfig.IpcMode")?,
        hostname: string(get("Hostname"), "Hostname")?,
        labels: string_map(get("Labels"), "Labels")?.into_iter().collect(),
        tty: boolean(get("Tty"), "Tty")?,
        console_size: console_size(h("ConsoleSize"))?,
        interactive: boolean(get("OpenStdin"), "OpenStdin")?,
        stop_signal: string(get("StopSignal"), "StopSignal")?,
        stop_timeout: int(get("StopTimeout"), "StopTimeout")?
            .map(|t| t.clamp(0, u32::MAX as i64) as u32),
        mounts: mounts(&hc)?,
        ports: ports(h("PortBindings"))?,
        publish_all: boolean(h("PublishAllPorts"), "HostConfig.PublishAllPorts")?,
        network: network_mode(
            &string(h("NetworkMode"), "HostConfig.NetworkMode")?.unwrap_or_default(),
        ),
        dns: strings(h("Dns"), "HostConfig.Dns")?,
        dns_search: strings(h("DnsSearch"), "HostConfig.DnsSearch")?,
        dns_options: strings(h("DnsOptions"), "HostConfig.DnsOptions")?,
        add_hosts: strings(h("ExtraHosts"), "HostConfig.ExtraHosts")?,
        cap_add: strings(h("CapAdd"), "HostConfig.CapAdd")?,
        cap_drop: strings(h("CapDrop"), "HostConfig.CapDrop")?,
        privileged: boolean(h("Privileged"), "HostConfig.Privileged")?,
        read_only: boolean(h("ReadonlyRootfs"), "HostConfig.ReadonlyRootfs")?,
        restart: restart(h("RestartPolicy"))?,
        init: boolean(h("Init"), "HostConfig.Init")?,
        auto_remove: boolean(h("AutoRemove"), "HostConfig.AutoRemove")?,
        sysctls: string_map(h("Sysctls"), "HostConfig.Sysctls")?
            .into_iter()
            .collect(),
        ..Default::default()
    };
    c.network_aliases = aliases(get("NetworkingConfig"))?;
    let r = &mut c.resources;
    r.memory = int(h("Memory"), "HostConfig.Memory")?;
    r.memory_swap = int(h("MemorySwap"), "HostConfig.MemorySwap")?;
    r.cpus = int(h("NanoCpus"), "HostConfig.NanoCpus")?.map(|n| n as f64 / 1e9);
    r.cpu_shares = int(h("CpuShares"), "HostConfig.CpuShares")?.map(|n| n.max(0) as u64);
    r.cpuset_cpus = string(h("CpusetCpus"), "HostConfig.CpusetCpus")?;
    r.pids_limit = int(h("PidsLimit"), "HostConfig.PidsLimit")?;
    if let Value::Array(list) = h("Ulimits") {
        for u in list {
            let name = string(u.get("Name").unwrap_or(&null), "HostConfig.Ulimits.Name")?
                .ok_or_else(|| bad("HostConfig.Ulimits.Name", "required"))?;
            let soft = int(u.get("Soft").unwrap_or(&null), "HostConfig.Ulimits.Soft")?.unwrap_or(0);
            let hard =
                int(u.get("Hard").unwrap_or(&null), "HostConfig.Ulimits.Hard")?.unwrap_or(soft);
            r.ulimits.push(Ulimit {
                name,
                soft: soft.max(0) as u64,
                hard: hard.max(0) as u64,
            });
        }
    }
    if let Some(o) = int(h("OomScoreAdj"), "HostConfig.OomScoreAdj")? {
        c.oom_score_adj = Some(o.clamp(-1000, 1000) as i32);
    }
    for opt in strings(h("SecurityOpt"), "HostConfig.SecurityOpt")? {
        match opt.split_once(['=', ':']) {
            Some(("seccomp", p)) => c.seccomp = Some(p.to_string()),
            Some(("apparmor", p)) => c.apparmor_profile = Some(p.to_string()),
            Some(("no-new-privileges", v)) => c.no_new_privileges = v != "false",
            None if opt == "no-new-privileges" => c.no_new_privileges = true,
            _ => {
                return Err(bad(
                    "HostConfig.SecurityOpt",
                    &format!("{opt:?} is not served"),
                ))
            }
        }
    }
    if c.auto_remove && c.restart != RestartPolicy::No {
        return Err(ApiError::bad_request(
            "create: conflicting options: AutoRemove and RestartPolicy (a removed container cannot be restarted) [layer: api]",
        ));
    }
    Ok((c, image))
}

/// `POST /containers/create`.
pub async fn create(api: &Arc<Api>, q: &Query, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let (config, image) = config_of(&parse_json(body)?)?;
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_start_matches('/').to_string());
    let id = api
        .blocking(move |e| {
            let store = e.store()?;
            let img = strata_image::ops::lookup(&store, &image, &e.opts.default_registry).map_err(
                |_| ApiError::not_found(format!("No such image: {image} [layer: image]")),
            )?;
            let doc = strata_image::ops::config(&store, &img)?;
            let ic = ImageConfig::from_document(&doc);
            Ok(engine_create::create(e, name.as_deref(), config, &img, &ic)?.id)
        })
        .await?;
    Ok(json_status(
        StatusCode::CREATED,
        &json!({"Id": id, "Warnings": []}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_create_bodies_become_engine_configs() {
        let body = json!({
            "Image": "busybox", "Cmd": ["echo", "hi"], "Env": ["A=1"], "Tty": false,
            "Entrypoint": null, "WorkingDir": "", "Labels": {"k": "v"}, "User": "1000",
            "HostConfig": {
                "Binds": ["/tmp:/mnt:ro"], "AutoRemove": true, "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
                "Memory": 67108864, "NanoCpus": 500000000, "CapAdd": ["NET_ADMIN"],
                "Tmpfs": {"/run": "size=1m"}, "ExtraHosts": ["db:10.0.0.2"], "Init": true,
            }
        });
        let (c, image) = config_of(&body).unwrap();
        assert_eq!(image, "busybox");
        assert_eq!(c.command, vec!["echo", "hi"]);
        assert_eq!(c.entrypoint, None);
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert!(c.auto_remove && c.init);
        assert_eq!(c.network, NetworkMode::Default);
        assert_eq!(c.ports[0].host_port, 8080);
        assert_eq!(c.ports[0].container_port, 80);
        assert_eq!(c.resources.memory, Some(64 << 20));
        assert_eq!(c.resources.cpus, Some(0.5));
        assert_eq!(c.mounts.len(), 2);
        assert!(c.mounts[0].readonly);
        assert_eq!(c.mounts[1].kind, MountKind::Tmpfs);
        assert_eq!(c.labels["k"], "v");
        let body = json!({"Image": "b", "HostConfig": {"NetworkMode": "p_default"},
            "NetworkingConfig": {"EndpointsConfig": {"p_default": {"Aliases": ["web", "web"]}}}});
        let (c, _) = config_of(&body).unwrap();
        assert_eq!(c.network_aliases, vec!["web"]);
        assert_eq!(c.network, NetworkMode::Bridge("p_default".into()));
    }

    #[test]
    fn malformed_bodies_are_400s() {
        for b in [
            json!([]),
            json!({}),
            json!({"Image": 3}),
            json!({"Image": "x", "Cmd": 5}),
            json!({"Image": "x", "HostConfig": {"Memory": "lots"}}),
            json!({"Image": "x", "HostConfig": {"PortBindings": {"http": []}}}),
            json!({"Image": "x", "HostConfig": {"AutoRemove": true, "RestartPolicy": {"Name": "always"}}}),
            json!({"Image": "x", "NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": ["a b"]}}}}),
        ] {
            let e = config_of(&b).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{b}");
        }
    }
}
