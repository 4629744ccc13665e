//! `describe`: a container's stack from the top down, one section per layer, each with its
//! identity and health (the course's "what layer am I in?"): App, Container, Pod, Node, VM
//! and Hypervisor, and the recent events; a failed container gets one line at the top that
//! names the layer and the cause (the same line as inspect's State.Error).

pub mod cgroup;
pub mod process;
pub mod render;

use crate::container::{inspect, rootfs, start, Container, Status};
use crate::engine::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};

/// The last `n` lines of a container's output (stream and text), from its log.
pub fn last_lines(e: &Engine, c: &Container, n: usize) -> Vec<Value> {
    let Ok(f) = std::fs::File::open(c.log_path(&e.paths)) else {
        return vec![];
    };
    let mut lines: Vec<Value> = Vec::new();
    let mut partial = String::new();
    for l in BufReader::new(f).split(b'\n').map_while(Result::ok) {
        let Some(r) = strata_monitor::cri_log::parse(&l) else {
            continue;
        };
        partial.push_str(&String::from_utf8_lossy(r.text));
        if r.full {
            lines.push(json!({"stream": r.stream.name(), "text": std::mem::take(&mut partial)}));
            if lines.len() > n {
                lines.remove(0);
            }
        }
    }
    lines
}

/// The host's cgroup layout (`v1 (hybrid)`, `v2`...).
pub fn cgroup_layout() -> &'static str {
    strata_runtime::cgroups::Layout::detect().describe()
}

fn kernel() -> String {
    // SAFETY: a zeroed utsname is a valid out-buffer for uname.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let f = |a: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates each field within its array.
        unsafe { std::ffi::CStr::from_ptr(a.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
}

/// The Pod layer: the infra process that holds the shared namespaces, the pod's address and
/// ports, its containers.
fn pod_section(e: &Engine, p: &crate::pod::Pod) -> Value {
    let v = crate::pod::lifecycle::inspect(e, p).unwrap_or(Value::Null);
    let ports: Vec<String> = p
        .config
        .ports
        .iter()
        .map(|x| {
            format!(
                "{}:{}->{}/{}",
                if x.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &x.host_ip
                },
                x.host_port,
                x.container_port,
                x.protocol
            )
        })
        .collect();
    let infra_pid = v["InfraPid"].as_i64().unwrap_or(0);
    json!({
        "name": p.name,
        "id": p.id,
        "infra": format!("pid {infra_pid} (strata-pause), container {}", crate::ids::short(&p.infra)),
        "shares": p.config.share.join(","),
        "ip": v["IP"],
        "ports": ports.join(", "),
        "members": v["Containers"].as_array().map(|a| a.iter().filter(|c| c["Infra"] != true).map(|c| format!("{} ({})", c["Name"].as_str().unwrap_or(""), c["State"].as_str().unwrap_or(""))).collect::<Vec<_>>().join(", ")),
    })
}

/// The container's stack by layer.
pub fn describe(e: &Engine, c: &Container) -> Value {
    let ins = inspect::inspect(e, c);
    let s = &c.state;
    let running = matches!(s.status, Status::Running | Status::Paused) && s.pid > 0;
    let saved = strata_runtime::state::Root::new(e.paths.runtime_root())
        .load(&c.id)
        .ok();
    let cg = saved.as_ref().map(|s| cgroup::facts(&s.cgroup_paths));
    let img = start::image_config(e, c).unwrap_or_default();
    let monitor = s.monitor.as_ref().filter(|m| m.alive()).map(|m| {
        let rss = std::fs::read_to_string(format!("/proc/{}/status", m.pid))
            .ok()
            .and_then(|st| {
                st.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_string()))
            });
        json!({"pid": m.pid, "rss": rss})
    });
    let events: Vec<Value> = e
        .db
        .events_of(&c.id, 10)
        .unwrap_or_default()
        .into_iter()
        .map(|ev| json!({"time": strata_os::clock::rfc3339_nanos(ev.time), "action": ev.action, "attributes": ev.attributes}))
        .collect();
    let (upper, lowers) = rootfs::layers(e, &c.id).unwrap_or_default();
    json!({
        "id": c.id,
        "name": c.name,
        "cause": s.error,
        "app": {
            "command": crate::spec::argv(&c.config, &img).unwrap_or_default(),
            "pid": s.pid,
            "state": s.status.as_str(),
            "exitCode": s.exit_code,
            "oomKilled": s.oom_killed,
            "restarts": s.restart_count,
            "startedAt": s.started_at,
            "finishedAt": s.finished_at,
            "lastLines": last_lines(e, c, 5),
        },
        "container": {
            "image": c.config.image,
            "imageId": c.config.image_id,
            // A VM container's process is in its guest: the host's is its shim.
            "inGuest": c.config.in_vm(),
            "namespaces": if running && !c.config.in_vm() { json!(process::namespaces(s.pid)) } else { Value::Null },
            "cgroup": {"path": c.cgroup_path(), "facts": cg},
            "security": match (running, c.config.in_vm()) {
                (true, false) => process::security(s.pid),
                (_, true) => std::fs::read(e.paths.bundle(&c.id).join("config.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .map(|spec| process::spec_security(&spec))
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            },
            "rootfs": {
                "mount": e.paths.rootfs(&c.id),
                "mounted": s.rootfs_mounted,
                "upper": upper,
                "lowers": lowers,
                "readonly": c.config.read_only,
            },
            "mounts": ins["Mounts"],
            "monitor": monitor,
            "log": c.log_path(&e.paths),
        },
        "pod": c.pod.as_ref().and_then(|p| e.db.find_pod(p).ok()).map(|p| pod_section(e, &p)),
        "node": {
            "kernel": kernel(),
            "cgroups": {"layout": cgroup_layout(), "driver": "cgroupfs"},
            "runtime": format!("strata-runc {} (through strata-monitor)", env!("CARGO_PKG_VERSION")),
            "network": {
                "mode": inspect::network_mode_name(c),
                "network": s.net.network,
                "namespace": s.net.netns,
                "ip": s.net.ip,
                "gateway": s.net.gateway,
                "ports": ins["NetworkSettings"]["Ports"],
                "others": s.net.extra.iter().map(|a| json!({"network": a.network, "interface": a.ifname, "ip": a.ip})).collect::<Vec<_>>(),
            },
        },
        "vm": vm_section(e, c),
        "hypervisor": hypervisor_section(e, c),
        "events": events,
    })
}

/// The VM layer: the guest's kernel, vCPUs and memory for a VM container.
fn vm_section(e: &Engine, c: &Container) -> serde_json::Value {
    if !c.config.in_vm() {
        return "none: shares the host kernel".into();
    }
    match crate::vm::state(e, c) {
        Some(v) => format!(
            "microVM: guest kernel {}, {} vCPU, {} MiB",
            v["guestKernel"].as_str().unwrap_or("?"),
            v["vcpus"],
            v["memoryMib"]
        )
        .into(),
        None => "microVM (not booted)".into(),
    }
}

/// The hypervisor layer: the VMM, its acceleration and why, its pid.
fn hypervisor_section(e: &Engine, c: &Container) -> serde_json::Value {
    if !c.config.in_vm() {
        return "none".into();
    }
    match crate::vm::state(e, c) {
        Some(v) => format!(
            "{} ({}: {}), VMM pid {}",
            v["backend"].as_str().unwrap_or("?"),
            v["accel"].as_str().unwrap_or("?"),
            v["accelReason"].as_str().unwrap_or("?"),
            v["vmmPid"]
        )
        .into(),
        None => "qemu (not started)".into(),
    }
}
