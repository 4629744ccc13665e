//! The OCI seccomp profile compiled with libseccomp: defaultAction, defaultErrnoRet,
//! architectures, syscalls with argument filters and errnoRet, flags, and SCMP_ACT_NOTIFY with
//! the listener fd handed to the caller for `listenerPath`.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag as F, LinuxSeccompOperator as O,
};
use std::os::fd::{FromRawFd, OwnedFd};
use std::str::FromStr;

fn action(a: A, errno: Option<u32>, default_errno: Option<u32>) -> ScmpAction {
    match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => {
            ScmpAction::Errno(errno.or(default_errno).unwrap_or(libc::EPERM as u32) as i32)
        }
        A::ScmpActTrace => {
            ScmpAction::Trace(errno.or(default_errno).unwrap_or(libc::EPERM as u32) as u16)
        }
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => ScmpAction::Notify,
    }
}

fn op(o: O, value: u64, value_two: Option<u64>) -> (ScmpCompareOp, u64) {
    match o {
        O::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        O::ScmpCmpLt => (ScmpCompareOp::Less, value),
        O::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        O::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        O::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        O::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        O::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0)),
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("seccomp: {what}: {e}"))
}

/// Builds the filter. `nnp` is whether the process has noNewPrivileges (libseccomp would
/// otherwise set it on load).
pub fn build(s: &LinuxSeccomp, nnp: bool) -> Result<ScmpFilterContext> {
    let def = action(s.default_action(), None, s.default_errno_ret());
    let mut f = ScmpFilterContext::new_filter(def).map_err(|e| err("new filter", e))?;
    f.set_ctl_nnp(nnp).map_err(|e| err("nnp attribute", e))?;
    for arch in s.architectures().iter().flatten() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        match ScmpArch::from_str(&name) {
            Ok(a) => {
                f.add_arch(a)
                    .map_err(|e| err(&format!("architecture {name}"), e))?;
            }
            Err(_) => crate::logging::debug(&format!(
                "seccomp: architecture {name} unknown to libseccomp, skipped"
            )),
        }
    }
    for flag in s.flags().iter().flatten() {
        match flag {
            F::SeccompFilterFlagLog => f.set_ctl_log(true),
            F::SeccompFilterFlagSpecAllow => f.set_ctl_ssb(true),
            F::SeccompFilterFlagTsync => f.set_ctl_tsync(true),
        }
        .map_err(|e| err("flag", e))?;
    }
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret(), s.default_errno_ret());
        if act == def {
            continue; // libseccomp refuses rules equal to the default action
        }
        let conds: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let (o, datum) = op(a.op(), a.value(), a.value_two());
                ScmpArgCompare::new(a.index() as u32, o, datum)
            })
            .collect();
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                crate::logging::debug(&format!("seccomp: syscall {name} unknown, skipped"));
                continue;
            };
            let r = if conds.is_empty() {
                f.add_rule(act, sc)
            } else {
                f.add_rule_conditional(act, sc, &conds)
            };
            r.map_err(|e| err(&format!("rule for {name}"), e))?;
        }
    }
    Ok(f)
}

/// Whether any rule (or the default) uses SCMP_ACT_NOTIFY.
pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.default_action() == A::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == A::ScmpActNotify)
}

/// Loads the filter into the calling thread; returns the notify listener fd when the profile
/// uses SCMP_ACT_NOTIFY.
pub fn load(f: &ScmpFilterContext, notify: bool) -> Result<Option<OwnedFd>> {
    f.load().map_err(|e| err("load filter", e))?;
    if !notify {
        return Ok(None);
    }
    let fd = f.get_notify_fd().map_err(|e| err("notify fd", e))?;
    // SAFETY: libseccomp hands us the listener fd it got from the kernel; we become its owner
    // (the filter context never closes it).
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}
