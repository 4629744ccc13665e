//! cgroup resources and rlimits from `--memory`, `--cpus`, `--pids-limit`, `--ulimit`...

use crate::container::config::{Resources, Ulimit};
use serde_json::{json, Map, Value};

/// The CFS period `--cpus` is expressed in (docker's).
const CPU_PERIOD: u64 = 100_000;

/// `linux.resources` (without devices).
pub fn linux_resources(r: &Resources) -> Map<String, Value> {
    let mut out = Map::new();
    let mut mem = Map::new();
    if let Some(m) = r.memory {
        mem.insert("limit".into(), json!(m));
        // docker: without --memory-swap, swap may be as large as the memory limit.
        let swap = r.memory_swap.unwrap_or(m.saturating_mul(2));
        mem.insert("swap".into(), json!(swap));
    } else if let Some(s) = r.memory_swap {
        mem.insert("swap".into(), json!(s));
    }
    if !mem.is_empty() {
        out.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    if let Some(c) = r.cpus {
        cpu.insert(
            "quota".into(),
            json!((c * CPU_PERIOD as f64).round() as i64),
        );
        cpu.insert("period".into(), json!(CPU_PERIOD));
    }
    if let Some(s) = r.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(s) = &r.cpuset_cpus {
        cpu.insert("cpus".into(), json!(s));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = r.pids_limit {
        out.insert("pids".into(), json!({"limit": p}));
    }
    if !r.hugepage_limits.is_empty() {
        let limits: Vec<Value> = r
            .hugepage_limits
            .iter()
            .map(|(size, limit)| json!({"pageSize": size, "limit": limit}))
            .collect();
        out.insert("hugepageLimits".into(), Value::Array(limits));
    }
    if !r.unified.is_empty() {
        out.insert("unified".into(), json!(r.unified));
    }
    out
}

/// docker's `--ulimit` names and their rlimits.
const RLIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
    ("as", "RLIMIT_AS"),
];

/// The rlimit a docker name stands for.
pub fn rlimit_name(n: &str) -> Option<&'static str> {
    RLIMITS.iter().find(|(d, _)| *d == n).map(|(_, r)| *r)
}

/// The host's hard limit of open files (the default, since root here cannot raise it).
fn nofile_hard() -> u64 {
    // SAFETY: a zeroed rlimit is a valid out-buffer for getrlimit.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_max
    } else {
        1024
    }
}

/// `process.rlimits`: the `--ulimit`s, and by default open files at podman's 1048576 or the
/// host's hard limit if lower (raising a hard limit needs CAP_SYS_RESOURCE, which root on
/// some hosts lacks).
pub fn rlimits(ulimits: &[Ulimit]) -> Vec<Value> {
    let mut out: Vec<Value> = ulimits
        .iter()
        .filter_map(|u| {
            Some(json!({"type": rlimit_name(&u.name)?, "soft": u.soft, "hard": u.hard}))
        })
        .collect();
    if !ulimits.iter().any(|u| u.name == "nofile") {
        let n = nofile_hard().min(1_048_576);
        out.push(json!({"type": "RLIMIT_NOFILE", "soft": n, "hard": n}));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cpus_pids_and_ulimits() {
        let r = Resources {
            memory: Some(64 << 20),
            cpus: Some(1.5),
            pids_limit: Some(100),
            ulimits: vec![Ulimit {
                name: "nproc".into(),
                soft: 10,
                hard: 20,
            }],
            ..Default::default()
        };
        let v = Value::Object(linux_resources(&r));
        assert_eq!(v["memory"]["limit"], 64 << 20);
        assert_eq!(v["memory"]["swap"], 128 << 20);
        assert_eq!(
            (v["cpu"]["quota"].as_i64(), v["cpu"]["period"].as_u64()),
            (Some(150000), Some(100000))
        );
        assert_eq!(v["pids"]["limit"], 100);
        let l = rlimits(&r.ulimits);
        assert_eq!(l[0]["type"], "RLIMIT_NPROC");
        assert_eq!(l[1]["type"], "RLIMIT_NOFILE");
        assert!(l[1]["hard"].as_u64().unwrap() <= 1_048_576);
    }
}
