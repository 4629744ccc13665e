//! ContainerStats, ListContainerStats, PodSandboxStats and ListPodSandboxStats from the
//! engine's cgroup sampling (`strata_engine::container::stats`) and the writable layer's
//! usage. As containerd does, a container that does not run has stats with its attributes
//! and writable layer only (no CPU or memory), not an error.

use crate::container::get as get_container;
use crate::meta;
use crate::sandbox;
use crate::status::engine as engine_err;
use k8s_cri::v1::{
    ContainerAttributes, ContainerStats, ContainerStatsFilter, CpuUsage, FilesystemIdentifier,
    FilesystemUsage, LinuxPodSandboxStats, MemoryUsage, NetworkInterfaceUsage, NetworkUsage,
    PodSandboxAttributes, PodSandboxStats, PodSandboxStatsFilter, ProcessUsage, UInt64Value,
};
use std::path::Path;
use strata_engine::container::stats::{self, Sample};
use strata_engine::container::{rootfs, status as engine_status, Container};
use strata_engine::pod::Pod;
use strata_engine::Engine;
use tonic::Status;

fn v(value: u64) -> Option<UInt64Value> {
    Some(UInt64Value { value })
}

/// Memory figures the engine's sample does not carry: raw usage, RSS and page faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryExtra {
    /// Usage including the page cache.
    pub usage: Option<u64>,
    /// Anonymous memory.
    pub rss: Option<u64>,
    /// Page faults.
    pub faults: Option<u64>,
    /// Major page faults.
    pub major_faults: Option<u64>,
}

/// Reads a key of a flat-keyed cgroup file (`memory.stat`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// The extra memory figures from a memory cgroup's `memory.stat` text and its usage file's
/// (v1: `memory.usage_in_bytes` and the hierarchical `total_*` keys; v2: `memory.current`,
/// `anon`, `pgfault`, `pgmajfault`).
pub fn memory_extra(v2: bool, stat: &str, usage: Option<u64>) -> MemoryExtra {
    let (rss, faults, major) = if v2 {
        ("anon", "pgfault", "pgmajfault")
    } else {
        ("total_rss", "total_pgfault", "total_pgmajfault")
    };
    MemoryExtra {
        usage,
        rss: keyed(stat, rss),
        faults: keyed(stat, faults),
        major_faults: keyed(stat, major),
    }
}

fn read_extra(e: &Engine, c: &Container) -> MemoryExtra {
    let dirs = stats::cgroups(e, c).unwrap_or_default();
    let Some(d) = dirs.iter().find(|d| d.v2 || d.has("memory")) else {
        return MemoryExtra::default();
    };
    let read = |f: &str| std::fs::read_to_string(Path::new(&d.path).join(f)).ok();
    let usage_file = if d.v2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    let usage = read(usage_file).and_then(|s| s.trim().parse().ok());
    memory_extra(d.v2, &read("memory.stat").unwrap_or_default(), usage)
}

fn cpu(s: &Sample) -> CpuUsage {
    CpuUsage {
        timestamp: s.time,
        usage_core_nano_seconds: v(s.cpu_nanos),
        usage_nano_cores: None,
    }
}

fn memory(s: &Sample, x: &MemoryExtra) -> MemoryUsage {
    MemoryUsage {
        timestamp: s.time,
        working_set_bytes: v(s.mem_usage),
        available_bytes: v(s.mem_limit.saturating_sub(s.mem_usage)),
        // Read a moment after the sample: never below the working set it includes.
        usage_bytes: x.usage.and_then(|u| v(u.max(s.mem_usage))),
        rss_bytes: x.rss.and_then(v),
        page_faults: x.faults.and_then(v),
        major_page_faults: x.major_faults.and_then(v),
    }
}

/// A running container's sample and extra memory figures; none if it does not run.
fn sample(e: &Engine, c: &Container) -> Option<(Sample, MemoryExtra)> {
    if !c.state.status.is_live() {
        return None;
    }
    let s = stats::sample(e, c).ok()?;
    Some((s, read_extra(e, c)))
}

/// The CRI stats of one container (brought up to date by the caller).
fn of(e: &Engine, c: &Container) -> ContainerStats {
    let now = strata_os::clock::now_nanos();
    let writable_layer = Some(FilesystemUsage {
        timestamp: now,
        fs_id: Some(FilesystemIdentifier {
            mountpoint: e.opts.root.display().to_string(),
        }),
        used_bytes: v(rootfs::usage(e, &c.id)),
        inodes_used: None,
    });
    let attributes = Some(ContainerAttributes {
        id: c.id.clone(),
        metadata: Some(meta::container_metadata(&c.config.annotations)),
        labels: meta::labels(&c.config.labels),
        annotations: meta::public(&c.config.annotations),
    });
    let (cpu, memory) = match sample(e, c) {
        Some((s, x)) => (Some(cpu(&s)), Some(memory(&s, &x))),
        None => (None, None),
    };
    ContainerStats {
        attributes,
        cpu,
        memory,
        writable_layer,
        swap: None,
    }
}

/// ContainerStats: NotFound for an unknown id.
pub fn container(e: &Engine, id: &str) -> Result<ContainerStats, Status> {
    let c = get_container(e, id)?;
    Ok(of(e, &c))
}

/// Whether a CRI container passes a stats filter (id and pod id exact or a prefix).
fn selected(c: &Container, f: &ContainerStatsFilter) -> bool {
    meta::is_cri(&c.config.annotations, "container")
        && c.id.starts_with(&f.id)
        && c.pod
            .as_deref()
            .unwrap_or("")
            .starts_with(&f.pod_sandbox_id)
        && meta::selects(&f.label_selector, &c.config.labels)
}

/// The CRI containers a filter selects, brought up to date.
fn containers(e: &Engine, f: &ContainerStatsFilter) -> Result<Vec<Container>, Status> {
    let all =
        e.db.containers()
            .map_err(|err| engine_err("ListContainerStats", err))?;
    let mut out = Vec::new();
    for mut c in all.into_iter().filter(|c| selected(c, f)) {
        let _ = engine_status::refresh(e, &mut c);
        out.push(c);
    }
    Ok(out)
}

/// ListContainerStats with its filter.
pub fn list(e: &Engine, f: Option<ContainerStatsFilter>) -> Result<Vec<ContainerStats>, Status> {
    let f = f.unwrap_or_default();
    Ok(containers(e, &f)?.iter().map(|c| of(e, c)).collect())
}

/// The stats of a pod: CPU, memory and processes summed over its running members (infra
/// included), the network of its infra (the pod's namespace), and its containers' stats.
fn pod_stats(e: &Engine, p: &Pod) -> Result<PodSandboxStats, Status> {
    let what = format!("PodSandboxStats {}", p.id);
    let members = strata_engine::pod::members(e, p).map_err(|err| engine_err(&what, err))?;
    let now = strata_os::clock::now_nanos();
    let (mut total, mut extra, mut any) = (
        Sample {
            time: now,
            ..Default::default()
        },
        MemoryExtra::default(),
        false,
    );
    let mut net = None;
    for c in &members {
        let Some((s, x)) = sample(e, c) else { continue };
        any = true;
        total.cpu_nanos += s.cpu_nanos;
        total.mem_usage += s.mem_usage;
        total.mem_limit = total.mem_limit.max(s.mem_limit);
        total.pids += s.pids;
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        extra = MemoryExtra {
            usage: add(extra.usage, x.usage),
            rss: add(extra.rss, x.rss),
            faults: add(extra.faults, x.faults),
            major_faults: add(extra.major_faults, x.major_faults),
        };
        if c.id == p.infra {
            net = Some(NetworkUsage {
                timestamp: s.time,
                default_interface: Some(NetworkInterfaceUsage {
                    name: "eth0".into(),
                    rx_bytes: v(s.net_rx),
                    rx_errors: None,
                    tx_bytes: v(s.net_tx),
                    tx_errors: None,
                }),
                interfaces: Vec::new(),
            });
        }
    }
    let containers = members
        .iter()
        .filter(|c| c.id != p.infra && meta::is_cri(&c.config.annotations, "container"))
        .map(|c| of(e, c))
        .collect();
    Ok(PodSandboxStats {
        attributes: Some(PodSandboxAttributes {
            id: p.id.clone(),
            metadata: Some(meta::pod_metadata(&p.config.annotations)),
            labels: meta::labels(&p.config.labels),
            annotations: meta::public(&p.config.annotations),
        }),
        linux: Some(LinuxPodSandboxStats {
            cpu: any.then(|| cpu(&total)),
            memory: any.then(|| memory(&total, &extra)),
            network: net,
            process: any.then(|| ProcessUsage {
                timestamp: now,
                process_count: v(total.pids),
            }),
            containers,
        }),
        windows: None,
    })
}

/// PodSandboxStats: NotFound for an unknown id.
pub fn pod(e: &Engine, id: &str) -> Result<PodSandboxStats, Status> {
    let p = sandbox::get(e, id)?;
    pod_stats(e, &p)
}

/// ListPodSandboxStats with its filter (id prefix, labels).
pub fn list_pods(
    e: &Engine,
    f: Option<PodSandboxStatsFilter>,
) -> Result<Vec<PodSandboxStats>, Status> {
    let f = f.unwrap_or_default();
    let pods =
        e.db.pods()
            .map_err(|err| engine_err("ListPodSandboxStats", err))?;
    pods.iter()
        .filter(|p| {
            meta::is_cri(&p.config.annotations, "sandbox")
                && p.id.starts_with(&f.id)
                && meta::selects(&f.label_selector, &p.config.labels)
        })
        .map(|p| pod_stats(e, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_memory_figures_follow_the_cgroup_version() {
        let v1 = "cache 10\nrss 5\ntotal_rss 4096\ntotal_pgfault 7\ntotal_pgmajfault 1\n";
        assert_eq!(
            memory_extra(false, v1, Some(9000)),
            MemoryExtra {
                usage: Some(9000),
                rss: Some(4096),
                faults: Some(7),
                major_faults: Some(1),
            }
        );
        let v2 = "anon 8192\nfile 100\npgfault 12\npgmajfault 0\n";
        let x = memory_extra(true, v2, None);
        assert_eq!(
            (x.usage, x.rss, x.faults, x.major_faults),
            (None, Some(8192), Some(12), Some(0))
        );
        assert_eq!(memory_extra(true, "", None), MemoryExtra::default());
    }

    #[test]
    fn memory_usage_reports_what_is_known() {
        let s = Sample {
            time: 5,
            mem_usage: 30,
            mem_limit: 100,
            cpu_nanos: 7,
            ..Default::default()
        };
        let m = memory(&s, &MemoryExtra::default());
        assert_eq!(m.working_set_bytes, v(30));
        assert_eq!(m.available_bytes, v(70));
        assert_eq!(m.rss_bytes, None);
        assert_eq!(cpu(&s).usage_core_nano_seconds, v(7));
    }
}
