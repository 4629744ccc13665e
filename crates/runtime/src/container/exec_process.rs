//! The process `exec` runs when the caller names a command rather than a whole process: the
//! container's own process with the caller's changes, as runc builds it from `exec`'s flags.
//! Shared by `strata-runc exec` and the engine's monitor.

use crate::error::{Error, Result};
use crate::process::caps;
use oci_spec::runtime::{Capabilities, Process, User};

/// The caller's changes to the container's process.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Give it a terminal.
    pub tty: bool,
    /// `KEY=value` added to (or replacing in) the environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// uid and gid (replacing the container's user).
    pub user: Option<(u32, u32)>,
    /// Supplementary gids.
    pub additional_gids: Vec<u32>,
    /// Capabilities added to the bounding, effective, permitted and ambient sets.
    pub caps: Vec<String>,
    /// Set no_new_privileges.
    pub no_new_privs: bool,
}

/// Applies `o` to `p`, the container's process (or one given whole); `args` replaces its
/// command when given.
pub fn apply(mut p: Process, args: Option<Vec<String>>, o: &Overrides) -> Result<Process> {
    if let Some(args) = args {
        p.set_args(Some(args));
    }
    if o.tty {
        p.set_terminal(Some(true));
    }
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for e in &o.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(c) = &o.cwd {
        p.set_cwd(c.into());
    }
    if let Some((uid, gid)) = o.user {
        let mut user = User::default();
        user.set_uid(uid);
        user.set_gid(gid);
        p.set_user(user);
    }
    if !o.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(o.additional_gids.clone()));
        p.set_user(u);
    }
    if !o.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let cap = caps::parse(name)?;
            let add = |s: &Option<Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            c.set_bounding(add(c.bounding()));
            c.set_effective(add(c.effective()));
            c.set_permitted(add(c.permitted()));
            c.set_ambient(add(c.ambient()));
        }
        p.set_capabilities(Some(c));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("exec: process.args must not be empty".into()));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_env_keys_user_and_add_caps() {
        let mut p = Process::default();
        p.set_env(Some(vec!["A=1".into(), "B=2".into()]));
        let o = Overrides {
            env: vec!["A=3".into()],
            user: Some((5, 6)),
            additional_gids: vec![7],
            caps: vec!["CAP_NET_ADMIN".into()],
            ..Default::default()
        };
        let p = apply(p, Some(vec!["sh".into()]), &o).unwrap();
        assert_eq!(p.env().as_ref().unwrap(), &["B=2", "A=3"]);
        assert_eq!(
            (
                p.user().uid(),
                p.user().gid(),
                p.user().additional_gids().clone()
            ),
            (5, 6, Some(vec![7]))
        );
        let eff = p
            .capabilities()
            .as_ref()
            .unwrap()
            .effective()
            .clone()
            .unwrap();
        assert!(eff.contains(&oci_spec::runtime::Capability::NetAdmin));
        assert!(apply(Process::default(), Some(vec![]), &Overrides::default()).is_err());
        let bad = Overrides {
            caps: vec!["CAP_NOPE".into()],
            ..Default::default()
        };
        assert!(apply(Process::default(), Some(vec!["x".into()]), &bad).is_err());
    }
}
