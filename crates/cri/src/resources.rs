//! UpdateContainerResources: new CPU and memory limits checked, applied to the container's
//! cgroups through the runtime library's `update` (the same code `strata-runc update`
//! runs), and recorded in the engine's configuration so ContainerStatus and inspect report
//! them. As containerd does, a container that no longer runs only has them recorded.

use crate::container::get;
use crate::status::{engine as engine_err, invalid};
use k8s_cri::v1::{ContainerResources, HugepageLimit, LinuxContainerResources};
use strata_engine::container::config::Resources;
use strata_engine::Engine;
use tonic::Status;

/// The kernel's bounds on the CFS period and quota, microseconds.
const CFS_MIN: i64 = 1_000;
const CFS_PERIOD_MAX: i64 = 1_000_000;
/// The largest `cpu.shares` the kernel takes.
const SHARES_MAX: i64 = 262_144;

/// Why the requested resources are invalid, if they are.
pub fn check(r: &LinuxContainerResources) -> Result<(), String> {
    let fields = [
        ("cpu_period", r.cpu_period),
        ("cpu_quota", r.cpu_quota),
        ("cpu_shares", r.cpu_shares),
        ("memory_limit_in_bytes", r.memory_limit_in_bytes),
        ("memory_swap_limit_in_bytes", r.memory_swap_limit_in_bytes),
    ];
    if let Some((name, val)) = fields.iter().find(|(_, v)| *v < 0) {
        return Err(format!("{name} {val} is negative"));
    }
    if r.cpu_period != 0 && !(CFS_MIN..=CFS_PERIOD_MAX).contains(&r.cpu_period) {
        return Err(format!(
            "cpu_period {} is outside [{CFS_MIN}, {CFS_PERIOD_MAX}]",
            r.cpu_period
        ));
    }
    if r.cpu_quota != 0 && r.cpu_quota < CFS_MIN {
        return Err(format!("cpu_quota {} is below {CFS_MIN}", r.cpu_quota));
    }
    if r.cpu_shares > SHARES_MAX {
        return Err(format!("cpu_shares {} is above {SHARES_MAX}", r.cpu_shares));
    }
    if r.memory_swap_limit_in_bytes > 0
        && r.memory_limit_in_bytes > 0
        && r.memory_swap_limit_in_bytes < r.memory_limit_in_bytes
    {
        return Err("memory_swap_limit_in_bytes is below memory_limit_in_bytes".into());
    }
    let set = |s: &str| {
        s.split(',').all(|part| {
            let mut it = part.splitn(2, '-');
            let ok = |n: Option<&str>| n.is_some_and(|n| !n.is_empty() && n.parse::<u32>().is_ok());
            let lo = it.next();
            ok(lo) && it.next().is_none_or(|hi| ok(Some(hi)))
        })
    };
    for (name, s) in [
        ("cpuset_cpus", &r.cpuset_cpus),
        ("cpuset_mems", &r.cpuset_mems),
    ] {
        if !s.is_empty() && !set(s) {
            return Err(format!("{name} {s:?} is not a CPU list"));
        }
    }
    Ok(())
}

/// The container's resources with the request's set fields (non-zero, non-empty) replacing
/// the old ones, as containerd merges them.
pub fn merge(old: &Resources, r: &LinuxContainerResources) -> Resources {
    let mut out = old.clone();
    if r.memory_limit_in_bytes > 0 {
        out.memory = Some(r.memory_limit_in_bytes);
    }
    if r.memory_swap_limit_in_bytes > 0 {
        out.memory_swap = Some(r.memory_swap_limit_in_bytes);
    }
    if r.cpu_quota > 0 {
        let period = if r.cpu_period > 0 {
            r.cpu_period
        } else {
            100_000
        };
        out.cpus = Some(r.cpu_quota as f64 / period as f64);
    }
    if r.cpu_shares > 0 {
        out.cpu_shares = Some(r.cpu_shares as u64);
    }
    if !r.cpuset_cpus.is_empty() {
        out.cpuset_cpus = Some(r.cpuset_cpus.clone());
    }
    for h in &r.hugepage_limits {
        out.hugepage_limits.insert(h.page_size.clone(), h.limit);
    }
    out.unified
        .extend(r.unified.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The CRI view of an engine container's resources (ContainerStatus).
pub fn to_cri(r: &Resources) -> Option<ContainerResources> {
    if r.memory.is_none()
        && r.cpus.is_none()
        && r.cpu_shares.is_none()
        && r.cpuset_cpus.is_none()
        && r.hugepage_limits.is_empty()
        && r.unified.is_empty()
    {
        return None;
    }
    let period = r.cpus.map_or(0, |_| 100_000);
    Some(ContainerResources {
        linux: Some(LinuxContainerResources {
            cpu_period: period,
            cpu_quota: r.cpus.map_or(0, |c| (c * period as f64).round() as i64),
            cpu_shares: r.cpu_shares.map_or(0, |s| s as i64),
            memory_limit_in_bytes: r.memory.unwrap_or(0),
            memory_swap_limit_in_bytes: r.memory_swap.unwrap_or(0),
            cpuset_cpus: r.cpuset_cpus.clone().unwrap_or_default(),
            hugepage_limits: r
                .hugepage_limits
                .iter()
                .map(|(page_size, limit)| HugepageLimit {
                    page_size: page_size.clone(),
                    limit: *limit,
                })
                .collect(),
            unified: r.unified.clone().into_iter().collect(),
            ..Default::default()
        }),
        windows: None,
    })
}

/// UpdateContainerResources: InvalidArgument for bad values, NotFound for an unknown id.
pub fn update(e: &Engine, id: &str, r: Option<LinuxContainerResources>) -> Result<(), Status> {
    let what = format!("UpdateContainerResources {id}");
    let r = r.ok_or_else(|| invalid(format!("{what}: no linux resources")))?;
    check(&r).map_err(|m| invalid(format!("{what}: {m}")))?;
    let full = get(e, id)?.id;
    let _lock = strata_engine::lock::lock(&e.paths, &full).map_err(|err| engine_err(&what, err))?;
    let mut c = get(e, id)?;
    let res = merge(&c.config.resources, &r);
    strata_engine::container::manage::update_resources(e, &mut c, res)
        .map_err(|err| engine_err(&what, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: impl FnOnce(&mut LinuxContainerResources)) -> LinuxContainerResources {
        let mut r = LinuxContainerResources::default();
        f(&mut r);
        r
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(check(&req(|_| {})).is_ok());
        assert!(check(&req(|r| {
            r.cpu_period = 100_000;
            r.cpu_quota = 50_000;
            r.memory_limit_in_bytes = 64 << 20;
            r.cpuset_cpus = "0-1,3".into();
        }))
        .is_ok());
        let bad = [
            req(|r| r.memory_limit_in_bytes = -5),
            req(|r| r.cpu_period = 10),
            req(|r| r.cpu_quota = 999),
            req(|r| r.cpu_shares = 1 << 20),
            req(|r| r.cpuset_cpus = "0-".into()),
            req(|r| r.cpuset_mems = "a".into()),
            req(|r| {
                r.memory_limit_in_bytes = 100 << 20;
                r.memory_swap_limit_in_bytes = 50 << 20;
            }),
        ];
        for r in bad {
            assert!(check(&r).is_err(), "{r:?}");
        }
    }

    #[test]
    fn set_fields_replace_and_others_stay() {
        let old = Resources {
            memory: Some(64 << 20),
            cpu_shares: Some(512),
            pids_limit: Some(100),
            ..Default::default()
        };
        let new = merge(
            &old,
            &req(|r| {
                r.memory_limit_in_bytes = 32 << 20;
                r.cpu_quota = 25_000;
                r.cpu_period = 50_000;
            }),
        );
        assert_eq!(new.memory, Some(32 << 20));
        assert_eq!(new.cpus, Some(0.5));
        assert_eq!(new.cpu_shares, Some(512));
        assert_eq!(new.pids_limit, Some(100));
        let cri = to_cri(&new).unwrap().linux.unwrap();
        assert_eq!(
            (cri.cpu_period, cri.cpu_quota, cri.memory_limit_in_bytes),
            (100_000, 50_000, 32 << 20)
        );
        assert!(to_cri(&Resources::default()).is_none());
    }
}
