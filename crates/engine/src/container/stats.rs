//! Resource usage of running containers (`stats`, `top`): CPU time, memory, pids, network and
//! block I/O, from their cgroups and /proc.

use super::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;
use strata_runtime::cgroups::CgroupDir;

/// One sample of a container's usage.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// When (nanoseconds since the epoch).
    pub time: i64,
    /// CPU time used, nanoseconds.
    pub cpu_nanos: u64,
    /// Memory in use, bytes.
    pub mem_usage: u64,
    /// Memory limit, bytes (the host's memory when there is none).
    pub mem_limit: u64,
    /// Processes.
    pub pids: u64,
    /// Bytes received and sent on its interfaces (loopback excluded).
    pub net_rx: u64,
    /// Bytes sent.
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub blk_read: u64,
    /// Bytes written to block devices.
    pub blk_write: u64,
    /// CPU time in user mode, nanoseconds.
    pub cpu_user_nanos: u64,
    /// CPU time in kernel mode, nanoseconds.
    pub cpu_kernel_nanos: u64,
    /// CPU time per host CPU, nanoseconds (cgroup v1's cpuacct only; empty on v2).
    pub percpu_nanos: Vec<u64>,
    /// CPU quota periods elapsed, those in which it was throttled, and the time throttled
    /// (nanoseconds).
    pub throttling: (u64, u64, u64),
    /// Its interfaces' counters (loopback excluded).
    pub interfaces: Vec<Interface>,
}

/// One network interface's counters, from /proc/PID/net/dev.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    /// Its name in the container (`eth0`, ...).
    pub name: String,
    /// Received: bytes, packets, errors, drops.
    pub rx: [u64; 4],
    /// Sent: bytes, packets, errors, drops.
    pub tx: [u64; 4],
}

/// USER_HZ: the unit of cgroup v1's cpuacct.stat.
const TICK_NANOS: u64 = 10_000_000;

fn read(p: &Path, f: &str) -> Option<String> {
    std::fs::read_to_string(p.join(f)).ok()
}

fn num(p: &Path, f: &str) -> Option<u64> {
    read(p, f)?.trim().parse().ok()
}

fn keyed(p: &Path, f: &str, key: &str) -> Option<u64> {
    read(p, f)?.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// The host's memory in bytes (MemTotal).
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024
}

/// The cgroup directories of a running container (from the runtime's state).
pub fn cgroups(e: &Engine, c: &Container) -> Result<Vec<CgroupDir>> {
    strata_runtime::state::Root::new(e.paths.runtime_root())
        .load(&c.id)
        .map(|s| s.cgroup_paths)
        .map_err(|err| Error::Conflict(format!("container {} is not running: {err}", c.name)))
}

/// The processes of a running container (host pids).
pub fn pids(e: &Engine, c: &Container) -> Result<Vec<i32>> {
    Ok(strata_runtime::cgroups::Manager::pids(&cgroups(e, c)?))
}

/// A sample of a running container's usage.
pub fn sample(e: &Engine, c: &Container) -> Result<Sample> {
    let dirs = cgroups(e, c)?;
    let mut s = Sample {
        time: strata_os::clock::now_nanos(),
        mem_limit: host_memory(),
        ..Default::default()
    };
    for d in &dirs {
        let p = &d.path;
        if d.v2 {
            if let Some(u) = keyed(p, "cpu.stat", "usage_usec") {
                s.cpu_nanos = u * 1000;
                let k = |key| keyed(p, "cpu.stat", key).unwrap_or(0);
                s.cpu_user_nanos = k("user_usec") * 1000;
                s.cpu_kernel_nanos = k("system_usec") * 1000;
                s.throttling = (
                    k("nr_periods"),
                    k("nr_throttled"),
                    k("throttled_usec") * 1000,
                );
            }
            if let Some(m) = num(p, "memory.current") {
                s.mem_usage =
                    m.saturating_sub(keyed(p, "memory.stat", "inactive_file").unwrap_or(0));
            }
            if let Some(l) = num(p, "memory.max") {
                s.mem_limit = s.mem_limit.min(l);
            }
            s.pids = s.pids.max(num(p, "pids.current").unwrap_or(0));
            for l in read(p, "io.stat").unwrap_or_default().lines() {
                for f in l.split_whitespace() {
                    if let Some(v) = f.strip_prefix("rbytes=") {
                        s.blk_read += v.parse::<u64>().unwrap_or(0);
                    } else if let Some(v) = f.strip_prefix("wbytes=") {
                        s.blk_write += v.parse::<u64>().unwrap_or(0);
                    }
                }
            }
        } else {
            if d.has("cpuacct") {
                s.cpu_nanos = num(p, "cpuacct.usage").unwrap_or(0);
                s.percpu_nanos = read(p, "cpuacct.usage_percpu")
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                s.cpu_user_nanos = keyed(p, "cpuacct.stat", "user").unwrap_or(0) * TICK_NANOS;
                s.cpu_kernel_nanos = keyed(p, "cpuacct.stat", "system").unwrap_or(0) * TICK_NANOS;
            }
            if d.has("cpu") {
                let k = |key| keyed(p, "cpu.stat", key).unwrap_or(0);
                s.throttling = (k("nr_periods"), k("nr_throttled"), k("throttled_time"));
            }
            if d.has("memory") {
                let usage = num(p, "memory.usage_in_bytes").unwrap_or(0);
                let cache = keyed(p, "memory.stat", "total_inactive_file").unwrap_or(0);
                s.mem_usage = usage.saturating_sub(cache);
                if let Some(l) = num(p, "memory.limit_in_bytes") {
                    s.mem_limit = s.mem_limit.min(l);
                }
            }
            if d.has("pids") {
                s.pids = num(p, "pids.current").unwrap_or(0);
            }
            if d.has("blkio") {
                for l in read(p, "blkio.throttle.io_service_bytes")
                    .unwrap_or_default()
                    .lines()
                {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() == 3 {
                        match f[1] {
                            "Read" => s.blk_read += f[2].parse::<u64>().unwrap_or(0),
                            "Write" => s.blk_write += f[2].parse::<u64>().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    if c.state.pid > 0 {
        for l in std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid))
            .unwrap_or_default()
            .lines()
            .skip(2)
        {
            let Some((iface, rest)) = l.split_once(':') else {
                continue;
            };
            if iface.trim() == "lo" {
                continue;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() >= 12 {
                s.net_rx += f[0];
                s.net_tx += f[8];
                s.interfaces.push(Interface {
                    name: iface.trim().to_string(),
                    rx: [f[0], f[1], f[2], f[3]],
                    tx: [f[8], f[9], f[10], f[11]],
                });
            }
        }
    }
    Ok(s)
}
