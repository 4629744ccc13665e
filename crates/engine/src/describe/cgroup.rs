//! The Container layer's cgroup facts: its path, limits and usage, read from the cgroup files
//! the runtime made (v1 controllers or the v2 directory).

use serde_json::{json, Value};
use std::path::Path;
use strata_runtime::cgroups::CgroupDir;

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn num(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.parse().ok()
}

/// A v1 memory limit (a huge value means none) or a v2 one ("max").
fn limit(v: Option<String>) -> Value {
    match v.as_deref() {
        None => Value::Null,
        Some("max") => json!("max"),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n >= 1 << 62 => json!("max"),
            Ok(n) => json!(n),
            Err(_) => json!(s),
        },
    }
}

fn keyed(dir: &Path, file: &str, key: &str) -> Option<u64> {
    read(dir, file)?.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// Limits and usage of the container's cgroups.
pub fn facts(dirs: &[CgroupDir]) -> Value {
    let mut out = json!({
        "paths": dirs.iter().map(|d| d.path.display().to_string()).collect::<Vec<_>>(),
    });
    for d in dirs {
        let p = &d.path;
        if d.v2 {
            if p.join("memory.max").exists() {
                out["memory"] = json!({
                    "current": num(p, "memory.current"),
                    "max": limit(read(p, "memory.max")),
                    "oomEvents": keyed(p, "memory.events", "oom"),
                    "oomKills": keyed(p, "memory.events", "oom_kill"),
                });
            }
            if p.join("pids.max").exists() {
                out["pids"] =
                    json!({"current": num(p, "pids.current"), "max": limit(read(p, "pids.max"))});
            }
            if let Some(m) = read(p, "cpu.max") {
                let mut it = m.split_whitespace();
                out["cpu"] = json!({
                    "quota": it.next(), "period": it.next(),
                    "throttledPeriods": keyed(p, "cpu.stat", "nr_throttled"),
                    "throttledUsec": keyed(p, "cpu.stat", "throttled_usec"),
                    "usageUsec": keyed(p, "cpu.stat", "usage_usec"),
                });
            }
        } else {
            if d.has("memory") {
                out["memory"] = json!({
                    "current": num(p, "memory.usage_in_bytes"),
                    "max": limit(read(p, "memory.limit_in_bytes")),
                    "failcnt": num(p, "memory.failcnt"),
                    "oomKills": keyed(p, "memory.oom_control", "oom_kill"),
                    "underOom": keyed(p, "memory.oom_control", "under_oom"),
                });
            }
            if d.has("pids") {
                out["pids"] =
                    json!({"current": num(p, "pids.current"), "max": limit(read(p, "pids.max"))});
            }
            if d.has("cpu") {
                out["cpu"] = json!({
                    "quota": read(p, "cpu.cfs_quota_us"),
                    "period": read(p, "cpu.cfs_period_us"),
                    "shares": num(p, "cpu.shares"),
                    "throttledPeriods": keyed(p, "cpu.stat", "nr_throttled"),
                    "throttledNsec": keyed(p, "cpu.stat", "throttled_time"),
                });
            }
            if d.has("cpuacct") {
                out["cpuUsageNsec"] = json!(num(p, "cpuacct.usage"));
            }
        }
    }
    out
}
