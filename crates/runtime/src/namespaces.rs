//! Linux namespaces: which to create with clone, which to join by path, and in what order.

use crate::error::{Context, Result};
use oci_spec::runtime::LinuxNamespaceType as T;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use strata_os::{fd, process};

/// The clone/setns flag of a namespace type.
pub fn flag(t: T) -> libc::c_int {
    match t {
        T::Mount => libc::CLONE_NEWNS,
        T::Cgroup => libc::CLONE_NEWCGROUP,
        T::Uts => libc::CLONE_NEWUTS,
        T::Ipc => libc::CLONE_NEWIPC,
        T::User => libc::CLONE_NEWUSER,
        T::Pid => libc::CLONE_NEWPID,
        T::Network => libc::CLONE_NEWNET,
        T::Time => libc::CLONE_NEWTIME,
    }
}

/// The name of a namespace under /proc/PID/ns.
pub fn proc_name(t: T) -> &'static str {
    match t {
        T::Mount => "mnt",
        T::Cgroup => "cgroup",
        T::Uts => "uts",
        T::Ipc => "ipc",
        T::User => "user",
        T::Pid => "pid",
        T::Network => "net",
        T::Time => "time",
    }
}

/// A namespace to join: its type and an open descriptor.
pub struct Join {
    /// Namespace type.
    pub typ: T,
    /// Open namespace file.
    pub fd: OwnedFd,
}

/// The namespace plan of a container.
#[derive(Default)]
pub struct Plan {
    /// Flags for clone(2): namespaces created with the init process.
    pub clone_flags: libc::c_int,
    /// Namespaces created by the init itself with unshare (cgroup after joining the cgroup,
    /// time because clone(2) cannot take its flag).
    pub unshare_flags: libc::c_int,
    /// Namespaces to join, user first.
    pub join: Vec<Join>,
    /// Every namespace type the container has (new or joined).
    pub types: Vec<T>,
}

impl Plan {
    /// Builds the plan from the spec's namespace list, opening every path now so a bad path
    /// fails before any process exists.
    pub fn new(list: &[(T, Option<PathBuf>)]) -> Result<Plan> {
        let mut p = Plan::default();
        for (t, path) in list {
            p.types.push(*t);
            match path {
                Some(path) => {
                    let fd = fd::open(path, libc::O_RDONLY, 0)
                        .ctx(|| format!("namespace {} path {}", proc_name(*t), path.display()))?;
                    p.join.push(Join { typ: *t, fd });
                }
                None => match t {
                    T::Cgroup | T::Time => p.unshare_flags |= flag(*t),
                    _ => p.clone_flags |= flag(*t),
                },
            }
        }
        // The user namespace must be joined first so the others are joined with its privileges.
        p.join.sort_by_key(|j| if j.typ == T::User { 0 } else { 1 });
        Ok(p)
    }

    /// Whether the container gets a namespace of this type (new or joined).
    pub fn has(&self, t: T) -> bool {
        self.types.contains(&t)
    }

    /// Whether the container creates a new namespace of this type.
    pub fn creates(&self, t: T) -> bool {
        (self.clone_flags | self.unshare_flags) & flag(t) != 0
    }

    /// Joins every namespace listed by path (called in the init, or before fork for pid).
    pub fn join_all(&self, skip_pid: bool) -> Result<()> {
        for j in &self.join {
            if skip_pid && j.typ == T::Pid {
                continue;
            }
            process::setns(j.fd.as_raw_fd(), flag(j.typ))
                .ctx(|| format!("join {} namespace", proc_name(j.typ)))?;
        }
        Ok(())
    }

    /// Joins the pid namespace given by path, for the children of the caller.
    pub fn join_pid_for_children(&self) -> Result<()> {
        for j in self.join.iter().filter(|j| j.typ == T::Pid) {
            process::setns(j.fd.as_raw_fd(), libc::CLONE_NEWPID)
                .ctx(|| "join pid namespace".into())?;
        }
        Ok(())
    }
}

/// Opens the namespaces of a running process for `exec`, in join order (user first, then the
/// rest, mount last so /proc paths resolve until then). Namespaces identical to the caller's
/// are skipped, as setns into one's own user namespace fails.
pub fn open_of_pid(pid: libc::pid_t, types: &[T]) -> Result<Vec<Join>> {
    let mut order: Vec<T> = types.to_vec();
    order.sort_by_key(|t| match t {
        T::User => 0,
        T::Mount => 2,
        _ => 1,
    });
    let mut v = Vec::new();
    for t in order {
        let name = proc_name(t);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let same = match (
            std::fs::metadata(&theirs),
            std::fs::metadata(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.ino() == b.ino() && a.dev() == b.dev()
            }
            _ => false,
        };
        if same {
            continue;
        }
        let fd = fd::open(&theirs, libc::O_RDONLY, 0).ctx(|| format!("open {theirs}"))?;
        v.push(Join { typ: t, fd });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_splits_clone_unshare_and_join() {
        let p = Plan::new(&[
            (T::Pid, None),
            (T::Mount, None),
            (T::Cgroup, None),
            (T::Time, None),
            (T::Network, Some("/proc/self/ns/net".into())),
            (T::User, Some("/proc/self/ns/user".into())),
        ])
        .unwrap();
        assert_eq!(p.clone_flags, libc::CLONE_NEWPID | libc::CLONE_NEWNS);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME);
        assert_eq!(p.join[0].typ, T::User);
        assert!(p.has(T::Network) && !p.creates(T::Network) && p.creates(T::Pid));
    }

    #[test]
    fn bad_namespace_path_fails_early() {
        let e = Plan::new(&[(T::Network, Some("/nonexistent/ns".into()))])
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/ns"), "{e}");
    }
}
