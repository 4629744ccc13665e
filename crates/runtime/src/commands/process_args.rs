//! Building exec's process and update's resources from the command line.

use super::cli::{ExecArgs, UpdateArgs};
use super::read_arg;
use oci_spec::runtime::{LinuxResources, Process};
use strata_runtime::container::exec::ExecOpts;
use strata_runtime::container::exec_process::{self, Overrides};
use strata_runtime::state::Root;
use strata_runtime::{Error, Result};

/// exec's options: `--process` JSON, or the container's process with the command line's
/// arguments and overrides (as runc builds it).
pub fn exec_opts(root: &Root, a: ExecArgs) -> Result<ExecOpts> {
    root.load(&a.id)?;
    let (p, args) = if let Some(f) = &a.process {
        let raw = read_arg(f)?;
        let p: Process = serde_json::from_slice(&raw)
            .map_err(|e| Error::Spec(format!("process {}: {e}", f.display())))?;
        (p, None)
    } else {
        if a.command.is_empty() {
            return Err(Error::Spec("exec: give a command or --process".into()));
        }
        let spec = root.saved_spec(&a.id)?;
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_terminal(Some(a.tty));
        (p, Some(a.command.clone()))
    };
    let user = match &a.user {
        Some(u) => {
            let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
            let bad = || Error::Spec(format!("--user {u:?}: need UID[:GID]"));
            Some((
                uid.parse().map_err(|_| bad())?,
                gid.parse().map_err(|_| bad())?,
            ))
        }
        None => None,
    };
    let overrides = Overrides {
        tty: a.tty,
        env: a.env.clone(),
        cwd: a.cwd.clone(),
        user,
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
    };
    let mut p = exec_process::apply(p, args, &overrides)?;
    if let Some(ap) = &a.apparmor {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(ExecOpts {
        id: a.id,
        process: p,
        detach: a.detach,
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    })
}

/// update's resources: the `--resources` JSON, then the individual flags on top.
pub fn resources(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut v: serde_json::Value = match &a.resources {
        Some(f) => serde_json::from_slice(&read_arg(f)?)
            .map_err(|e| Error::Spec(format!("resources {}: {e}", f.display())))?,
        None => serde_json::json!({}),
    };
    let set = |v: &mut serde_json::Value, sect: &str, key: &str, val: serde_json::Value| {
        if !v[sect].is_object() {
            v[sect] = serde_json::json!({});
        }
        v[sect][key] = val;
    };
    if let Some(m) = a.memory {
        set(&mut v, "memory", "limit", m.into());
    }
    if let Some(m) = a.memory_reservation {
        set(&mut v, "memory", "reservation", m.into());
    }
    if let Some(m) = a.memory_swap {
        set(&mut v, "memory", "swap", m.into());
    }
    if let Some(s) = a.cpu_share {
        set(&mut v, "cpu", "shares", s.into());
    }
    if let Some(p) = a.cpu_period {
        set(&mut v, "cpu", "period", p.into());
    }
    if let Some(q) = a.cpu_quota {
        set(&mut v, "cpu", "quota", q.into());
    }
    if let Some(c) = &a.cpuset_cpus {
        set(&mut v, "cpu", "cpus", c.clone().into());
    }
    if let Some(c) = &a.cpuset_mems {
        set(&mut v, "cpu", "mems", c.clone().into());
    }
    if let Some(p) = a.pids_limit {
        set(&mut v, "pids", "limit", p.into());
    }
    if let Some(p) = a.cpu_rt_period {
        set(&mut v, "cpu", "realtimePeriod", p.into());
    }
    if let Some(r) = a.cpu_rt_runtime {
        set(&mut v, "cpu", "realtimeRuntime", r.into());
    }
    if let Some(i) = a.cpu_idle {
        set(&mut v, "cpu", "idle", i.into());
    }
    if let Some(k) = a.kernel_memory_tcp {
        set(&mut v, "memory", "kernelTCP", k.into());
    }
    if let Some(w) = a.blkio_weight {
        set(&mut v, "blockIO", "weight", w.into());
    }
    serde_json::from_value(v).map_err(|e| Error::Spec(format!("resources: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_flags_become_spec_resources() {
        let a = UpdateArgs {
            memory: Some(1 << 20),
            memory_swap: Some(-1),
            cpu_quota: Some(-1),
            cpu_rt_period: Some(1_000_000),
            cpu_rt_runtime: Some(950_000),
            cpu_idle: Some(1),
            kernel_memory_tcp: Some(1 << 16),
            pids_limit: Some(7),
            blkio_weight: Some(300),
            id: "c".into(),
            ..Default::default()
        };
        let r = resources(&a).unwrap();
        let m = r.memory().as_ref().unwrap();
        assert_eq!(
            (m.limit(), m.swap(), m.kernel_tcp()),
            (Some(1 << 20), Some(-1), Some(1 << 16))
        );
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(c.quota(), Some(-1));
        assert_eq!(
            (c.realtime_period(), c.realtime_runtime(), c.idle()),
            (Some(1_000_000), Some(950_000), Some(1))
        );
        assert_eq!(r.pids().as_ref().unwrap().limit(), 7);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
    }
}
