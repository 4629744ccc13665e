//! The Container layer's process facts from /proc: namespaces (as `lsns` shows them, with
//! the `nsenter` line to enter each), capabilities and the seccomp mode.

use serde_json::{json, Value};

/// The namespace kinds, with `nsenter`'s flag for each.
const KINDS: &[(&str, &str)] = &[
    ("mnt", "-m"),
    ("uts", "-u"),
    ("ipc", "-i"),
    ("pid", "-p"),
    ("net", "-n"),
    ("cgroup", "-C"),
    ("user", "-U"),
    ("time", "-T"),
];

/// The process's namespaces; `shared` when the host's (pid 1's) is the same.
pub fn namespaces(pid: i32) -> Vec<Value> {
    KINDS
        .iter()
        .filter_map(|(kind, flag)| {
            let link = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()?;
            let link = link.to_string_lossy().into_owned();
            let inode = link
                .rsplit('[')
                .next()
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok());
            let host = std::fs::read_link(format!("/proc/1/ns/{kind}"))
                .ok()
                .map(|l| l.to_string_lossy().into_owned());
            Some(json!({
                "type": kind,
                "inode": inode,
                "host": host.as_deref() == Some(link.as_str()),
                "enter": format!("nsenter -t {pid} {flag}"),
            }))
        })
        .collect()
}

/// Capability names of a bit mask.
fn cap_names(mask: u64) -> Vec<&'static str> {
    crate::spec::security::ALL_CAPS_BY_NUMBER
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Effective capabilities, seccomp mode and no_new_privs of a process.
pub fn security(pid: i32) -> Value {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
    };
    let eff = field("CapEff:")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0);
    let bnd = field("CapBnd:")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0);
    let seccomp = match field("Seccomp:").as_deref() {
        Some("0") => "disabled",
        Some("1") => "strict",
        Some("2") => "filter",
        _ => "unknown",
    };
    json!({
        "capabilities": {"effective": cap_names(eff), "bounding": cap_names(bnd)},
        "seccomp": seccomp,
        "noNewPrivileges": field("NoNewPrivs:").as_deref() == Some("1"),
        "user": field("Uid:").and_then(|u| u.split_whitespace().next().map(str::to_string)),
    })
}

/// What a container's OCI config asks of its process (capabilities, seccomp,
/// no_new_privs, user): a VM container's, whose process runs in its guest, where the host
/// cannot read it.
pub fn spec_security(config: &Value) -> Value {
    let p = &config["process"];
    json!({
        "capabilities": {"effective": p["capabilities"]["effective"], "bounding": p["capabilities"]["bounding"]},
        "seccomp": if config["linux"]["seccomp"].is_object() { "filter" } else { "disabled" },
        "noNewPrivileges": p["noNewPrivileges"].as_bool().unwrap_or(false),
        "user": p["user"]["uid"].as_u64().map(|u| u.to_string()),
    })
}
