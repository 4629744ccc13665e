//! A container as docker's `inspect` shows it (the fields the docker CLI, docker-compose and
//! scripts read: State, Config, HostConfig, Mounts, NetworkSettings), plus podman's
//! `ConmonPid`. Shared by `strata inspect` and the Docker-compatible API.

use super::config::{MountKind, NetworkMode};
use super::Container;
use crate::engine::Engine;
use serde_json::{json, Map, Value};

fn ports_map(ports: &[super::config::PortMapping]) -> Value {
    let mut m = Map::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let host_port = if p.host_port == 0 {
            String::new()
        } else {
            p.host_port.to_string()
        };
        let ip = if p.host_ip.is_empty() {
            "0.0.0.0".to_string()
        } else {
            p.host_ip.clone()
        };
        let e = m.entry(key).or_insert_with(|| json!([]));
        if let Some(a) = e.as_array_mut() {
            a.push(json!({"HostIp": ip, "HostPort": host_port}));
        }
    }
    Value::Object(m)
}

/// The network mode as docker names it.
pub fn network_mode_name(c: &Container) -> String {
    match &c.config.network {
        NetworkMode::Default => "bridge".into(),
        NetworkMode::Bridge(n) => n.clone(),
        NetworkMode::Host => "host".into(),
        NetworkMode::None => "none".into(),
        NetworkMode::Container(id) => format!("container:{id}"),
        NetworkMode::Pod => "pod".into(),
    }
}

/// The inspect document of `c` (its state already refreshed by the caller).
pub fn inspect(e: &Engine, c: &Container) -> Value {
    let img = super::start::image_config(e, c).unwrap_or_default();
    let argv = crate::spec::argv(&c.config, &img).unwrap_or_default();
    let s = &c.state;
    let st = s.status;
    let cfg = &c.config;
    let res = &cfg.resources;
    let mounts: Vec<Value> = cfg
        .mounts
        .iter()
        .map(|m| {
            let (kind, source, name) = match m.kind {
                MountKind::Bind => ("bind", m.source.clone(), None),
                MountKind::Volume => (
                    "volume",
                    e.paths.volumes().join(&m.source).join("_data").display().to_string(),
                    Some(m.source.clone()),
                ),
                MountKind::Tmpfs => ("tmpfs", String::new(), None),
            };
            let mut v = json!({"Type": kind, "Source": source, "Destination": m.target, "RW": !m.readonly,
                "Mode": if m.readonly { "ro" } else { "" }, "Propagation": "rprivate"});
            if let Some(n) = name {
                v["Name"] = json!(n);
                v["Driver"] = json!("local");
            }
            v
        })
        .collect();
    let ip = s
        .net
        .ip
        .as_deref()
        .map(|i| i.split('/').next().unwrap_or(i).to_string())
        .unwrap_or_default();
    let prefix = s
        .net
        .ip
        .as_deref()
        .and_then(|i| i.split_once('/'))
        .and_then(|(_, p)| p.parse::<u32>().ok())
        .unwrap_or(0);
    let netname = network_mode_name(c);
    let mut networks = Map::new();
    if s.net.network.is_some()
        || matches!(cfg.network, NetworkMode::Default | NetworkMode::Bridge(_))
    {
        networks.insert(
            s.net.network.clone().unwrap_or_else(|| netname.clone()),
            json!({"IPAddress": ip, "IPPrefixLen": prefix, "Gateway": s.net.gateway.clone().unwrap_or_default(),
                   "MacAddress": s.net.mac.clone().unwrap_or_default(), "NetworkID": s.net.network.as_deref().and_then(|n| e.db.network(n).ok().flatten()).map(|n| n.id).unwrap_or_default()}),
        );
    }
    // Its other networks (`network connect`): addressed while it runs, listed always.
    for x in &cfg.extra_networks {
        let a = s.net.extra.iter().find(|a| a.network == x.name);
        let cidr = a.and_then(|a| a.ip.as_deref()).unwrap_or_default();
        let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "0"));
        networks.insert(
            x.name.clone(),
            json!({"IPAddress": addr, "IPPrefixLen": len.parse::<u32>().unwrap_or(0),
                   "Gateway": a.and_then(|a| a.gateway.clone()).unwrap_or_default(),
                   "MacAddress": a.and_then(|a| a.mac.clone()).unwrap_or_default(),
                   "Aliases": x.aliases,
                   "NetworkID": e.db.network(&x.name).ok().flatten().map(|n| n.id).unwrap_or_default()}),
        );
    }
    let exposed: Map<String, Value> = img
        .exposed_ports
        .keys()
        .cloned()
        .chain(
            cfg.ports
                .iter()
                .map(|p| format!("{}/{}", p.container_port, p.protocol)),
        )
        .map(|k| (k, json!({})))
        .collect();
    json!({
        "Id": c.id,
        "Created": strata_os::clock::rfc3339_nanos(c.created),
        "Path": argv.first().cloned().unwrap_or_default(),
        "Args": argv.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": st.as_str(),
            "Running": st == super::Status::Running || st == super::Status::Paused,
            "Paused": st == super::Status::Paused,
            "Restarting": st == super::Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": st == super::Status::Dead,
            "Pid": s.pid,
            "ConmonPid": s.monitor.as_ref().filter(|_| st.is_live()).map_or(0, |m| m.pid),
            "ExitCode": s.exit_code.unwrap_or(0),
            "Error": s.error.clone().unwrap_or_default(),
            "StartedAt": s.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": s.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": cfg.image_id,
        "ImageName": cfg.image,
        "Name": format!("/{}", c.name),
        "RestartCount": s.restart_count,
        "Pod": c.pod.clone().unwrap_or_default(),
        "LogPath": c.log_path(&e.paths),
        "Config": {
            "Hostname": c.hostname(),
            "User": cfg.user.clone().unwrap_or_else(|| img.user.clone()),
            "Env": crate::spec::env(cfg, &img, &c.hostname(), None),
            "Cmd": if cfg.command.is_empty() { img.cmd.clone().unwrap_or_default() } else { cfg.command.clone() },
            "Entrypoint": cfg.entrypoint.clone().or(img.entrypoint.clone()).unwrap_or_default(),
            "Image": cfg.image,
            "WorkingDir": cfg.workdir.clone().unwrap_or_else(|| img.working_dir.clone()),
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal.clone().unwrap_or_else(|| if img.stop_signal.is_empty() { "SIGTERM".into() } else { img.stop_signal.clone() }),
            "StopTimeout": cfg.stop_timeout.unwrap_or(10),
            "Tty": cfg.tty,
            "OpenStdin": cfg.interactive,
            "ExposedPorts": exposed,
        },
        "HostConfig": {
            "Memory": res.memory.unwrap_or(0),
            "MemorySwap": res.memory_swap.unwrap_or(0),
            "NanoCpus": res.cpus.map_or(0, |c| (c * 1e9) as i64),
            "CpuShares": res.cpu_shares.unwrap_or(0),
            "CpusetCpus": res.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": res.pids_limit.unwrap_or(0),
            "Ulimits": res.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "GroupAdd": cfg.group_add,
            "PidMode": if cfg.pid_host { "host" } else { "" },
            "IpcMode": if cfg.ipc_host { "host" } else { "private" },
            "Privileged": cfg.privileged,
            "ReadonlyRootfs": cfg.read_only,
            "RestartPolicy": {"Name": cfg.restart.name(), "MaximumRetryCount": match cfg.restart { super::config::RestartPolicy::OnFailure(n) => n, _ => 0 }},
            "AutoRemove": cfg.auto_remove,
            "NetworkMode": netname,
            "PortBindings": ports_map(&cfg.ports),
            "PublishAllPorts": cfg.publish_all,
            "Binds": cfg.mounts.iter().filter(|m| m.kind != MountKind::Tmpfs).map(|m| format!("{}:{}{}", m.source, m.target, if m.readonly { ":ro" } else { "" })).collect::<Vec<_>>(),
            "CapAdd": cfg.cap_add,
            "CapDrop": cfg.cap_drop,
            "Dns": cfg.dns,
            "ExtraHosts": cfg.add_hosts,
            "SecurityOpt": cfg.seccomp.iter().map(|s| format!("seccomp={s}")).chain(cfg.no_new_privileges.then(|| "no-new-privileges".to_string())).collect::<Vec<_>>(),
            "Init": cfg.init,
        },
        "Mounts": mounts,
        "NetworkSettings": {
            "IPAddress": ip,
            "IPPrefixLen": prefix,
            "Gateway": s.net.gateway.clone().unwrap_or_default(),
            "MacAddress": s.net.mac.clone().unwrap_or_default(),
            "Ports": ports_map(crate::network::ports::published(c)),
            "SandboxKey": s.net.netns.clone().unwrap_or_default(),
            "Networks": networks,
        },
    })
}
