//! `--systemd-cgroup` on a host that runs systemd: the container's cgroup is registered as a
//! transient scope unit (`prefix-name.scope` in the slice of `slice:prefix:name`), created by
//! systemd through its D-Bus API with the init's pid, `Delegate=yes` and the main limits as
//! unit properties, as runc's systemd driver does; so systemd knows the cgroup, accounts it and
//! leaves it alone. The limits are also written through cgroupfs (every resource the spec has,
//! including those systemd has no property for). `delete` stops the unit.
//!
//! Where systemd does not run (no /run/systemd/system, as on our test machines), the cgroup is
//! placed at the same path with the cgroupfs driver alone.

pub mod dbus;

use super::v2::cpu::shares_to_weight;
use crate::error::{Error, Result};
use dbus::{Basic, Connection, Object, Value, BUS};
use oci_spec::runtime::LinuxResources;
use std::time::{Duration, Instant};

const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// systemd's manager object.
const SYSTEMD: Object<'static> = Object {
    dest: "org.freedesktop.systemd1",
    path: PATH,
    iface: MANAGER,
};
/// How long a start or stop job may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// The bus on which systemd answers, if this host runs systemd: `STRATA_RUNC_SYSTEMD_BUS` (an
/// explicit D-Bus address), else the system bus when /run/systemd/system exists.
pub fn bus() -> Option<String> {
    if let Ok(a) = std::env::var("STRATA_RUNC_SYSTEMD_BUS") {
        return Some(a);
    }
    if !std::path::Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    Some(
        std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into()),
    )
}

fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))])
}

/// The scope's properties: runc's set (description, slice, delegation, accounting, the pid)
/// and the limits systemd has properties for, under their v1 or v2 names.
pub fn properties(
    id: &str,
    slice: &str,
    pid: libc::pid_t,
    res: Option<&LinuxResources>,
    v2: bool,
) -> Vec<Value> {
    let mut p = vec![
        prop(
            "Description",
            Value::Str(format!("strata-runc container {id}")),
        ),
        prop("Slice", Value::Str(slice.into())),
        prop("Delegate", Value::Bool(true)),
        prop("DefaultDependencies", Value::Bool(false)),
        prop(
            "PIDs",
            Value::Array("u".into(), vec![Value::U32(pid as u32)]),
        ),
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop(
            if v2 {
                "IOAccounting"
            } else {
                "BlockIOAccounting"
            },
            Value::Bool(true),
        ),
        prop("TasksAccounting", Value::Bool(true)),
    ];
    let Some(r) = res else { return p };
    if let Some(limit) = r
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .filter(|&l| l > 0)
    {
        let name = if v2 { "MemoryMax" } else { "MemoryLimit" };
        p.push(prop(name, Value::U64(limit as u64)));
    }
    if let Some(cpu) = r.cpu().as_ref() {
        // Shares of 0 are "not set": no CPUShares, no CPUWeight (as runc).
        if let Some(shares) = cpu.shares().filter(|&s| s > 0) {
            p.push(if v2 {
                prop("CPUWeight", Value::U64(shares_to_weight(shares)))
            } else {
                prop("CPUShares", Value::U64(shares))
            });
        }
        if let Some(quota) = cpu.quota().filter(|&q| q > 0) {
            let period = cpu.period().filter(|&p| p > 0).unwrap_or(100_000);
            let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
            p.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
        }
    }
    if let Some(max) = r.pids().as_ref().map(|p| p.limit()).filter(|&l| l > 0) {
        p.push(prop("TasksMax", Value::U64(max as u64)));
    }
    p
}

fn err(unit: &str, e: String) -> Error {
    Error::Other(format!("cgroup {unit}: systemd: {e}"))
}

/// Connects and asks the bus for systemd's JobRemoved signals.
fn connect(bus: &str, unit: &str) -> Result<Connection> {
    let mut c = Connection::open(bus, JOB_TIMEOUT).map_err(|e| err(unit, e))?;
    let rule = format!("type='signal',interface='{MANAGER}',member='JobRemoved',path='{PATH}'");
    c.call(BUS, "AddMatch", &[Value::Str(rule)])
        .map_err(|e| err(unit, e))?;
    // Job signals go to subscribers (and, in recent systemd, to the job's requester anyway).
    c.call(SYSTEMD, "Subscribe", &[])
        .map_err(|e| err(unit, e))?;
    Ok(c)
}

/// Calls a Manager method that returns a job; returns the job's path.
fn call_job(c: &mut Connection, unit: &str, method: &str, args: &[Value]) -> Result<String> {
    let reply = c.call(SYSTEMD, method, args).map_err(|e| err(unit, e))?;
    reply
        .body
        .first()
        .and_then(Basic::text)
        .map(str::to_string)
        .ok_or_else(|| err(unit, format!("{method}: reply without a job")))
}

/// Waits for `job` to finish; anything but "done" is an error.
fn wait_job(c: &mut Connection, unit: &str, method: &str, job: &str) -> Result<()> {
    let deadline = Instant::now() + JOB_TIMEOUT;
    let done = c
        .wait_signal(MANAGER, "JobRemoved", deadline, &|m| {
            m.body.get(1).and_then(Basic::text) == Some(job)
        })
        .map_err(|e| err(unit, format!("{method}: {e}")))?;
    match done.body.get(3).and_then(Basic::text) {
        Some("done") => Ok(()),
        r => Err(err(
            unit,
            format!("{method}: job {}", r.unwrap_or("failed")),
        )),
    }
}

fn stop_args(unit: &str) -> [Value; 2] {
    [Value::Str(unit.into()), Value::Str("replace".into())]
}

/// Creates the transient scope `unit` in `slice` holding `pid`.
pub fn start_scope(
    bus: &str,
    unit: &str,
    slice: &str,
    id: &str,
    pid: libc::pid_t,
    res: Option<&LinuxResources>,
    v2: bool,
) -> Result<()> {
    let mut c = connect(bus, unit)?;
    let props = properties(id, slice, pid, res, v2);
    let job = call_job(
        &mut c,
        unit,
        "StartTransientUnit",
        &[
            Value::Str(unit.into()),
            Value::Str("replace".into()),
            Value::Array("(sv)".into(), props),
            Value::Array("(sa(sv))".into(), vec![]),
        ],
    )?;
    let r = wait_job(&mut c, unit, "StartTransientUnit", &job);
    if r.is_err() {
        // The unit exists (failed, or still starting): do not leave it loaded in systemd.
        if let Ok(stop) = call_job(&mut c, unit, "StopUnit", &stop_args(unit)) {
            let _ = wait_job(&mut c, unit, "StopUnit", &stop);
        }
    }
    r
}

/// Stops `unit`; a unit systemd no longer knows is already stopped.
pub fn stop_unit(bus: &str, unit: &str) -> Result<()> {
    let mut c = connect(bus, unit)?;
    match call_job(&mut c, unit, "StopUnit", &stop_args(unit)) {
        Ok(job) => wait_job(&mut c, unit, "StopUnit", &job),
        Err(e) if e.to_string().contains("NoSuchUnit") => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_properties_follow_the_cgroup_version() {
        let r: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "pids": {"limit": 64}
        }))
        .unwrap();
        let names = |v2| {
            properties("c1", "system.slice", 42, Some(&r), v2)
                .into_iter()
                .map(|p| match p {
                    Value::Struct(f) => (f[0].clone(), f[1].clone()),
                    _ => unreachable!(),
                })
                .collect::<Vec<_>>()
        };
        let v1 = names(false);
        let has = |v: &[(Value, Value)], n: &str, want: Value| {
            v.iter().any(|(k, val)| {
                *k == Value::Str(n.into()) && *val == Value::Variant(Box::new(want.clone()))
            })
        };
        assert!(has(&v1, "MemoryLimit", Value::U64(67108864)));
        assert!(has(&v1, "CPUShares", Value::U64(1024)));
        assert!(has(&v1, "CPUQuotaPerSecUSec", Value::U64(500_000)));
        assert!(has(&v1, "TasksMax", Value::U64(64)));
        assert!(has(
            &v1,
            "PIDs",
            Value::Array("u".into(), vec![Value::U32(42)])
        ));
        assert!(has(&v1, "Delegate", Value::Bool(true)));
        let v2 = names(true);
        assert!(has(&v2, "MemoryMax", Value::U64(67108864)));
        assert!(has(&v2, "CPUWeight", Value::U64(39)));
        assert!(has(&v2, "IOAccounting", Value::Bool(true)));
    }

    #[test]
    fn zero_shares_ask_for_no_weight() {
        let r: LinuxResources =
            serde_json::from_value(serde_json::json!({"cpu": {"shares": 0}})).unwrap();
        for v2 in [false, true] {
            let asked = properties("c1", "system.slice", 42, Some(&r), v2);
            assert!(!asked.iter().any(|p| matches!(p, Value::Struct(f)
                if f[0] == Value::Str("CPUWeight".into())
                    || f[0] == Value::Str("CPUShares".into()))));
        }
    }
}
