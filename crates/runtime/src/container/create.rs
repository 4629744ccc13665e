//! `create`: everything up to a container init that waits, inside its namespaces and rootfs, for
//! `start`. Single-threaded, no async runtime: the init is a forked copy of this process.

use super::init;
use crate::cgroups::manager::clone_into_v2;
use crate::cgroups::{CgroupDir, Layout, Manager};
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::namespaces::Plan;
use crate::spec::{self, Bundle};
use crate::state::{self, Root, Saved, Status};
use crate::sync::{Channel, Tag};
use oci_spec::runtime::{LinuxNamespaceType as T, LinuxResources};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use strata_os::{clock, fd, fdpass, process};

/// Options of `create` (and `run`).
#[derive(Clone, Debug, Default)]
pub struct CreateOpts {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Do not create a session keyring.
    pub no_new_keyring: bool,
    /// Extra descriptors (from 3) passed to the container.
    pub preserve_fds: u32,
    /// cgroupsPath uses systemd's slice:prefix:name syntax.
    pub systemd_cgroup: bool,
}

/// The result of a successful create.
pub struct Created {
    /// Host pid of the container's init.
    pub pid: libc::pid_t,
    /// What was saved in the state directory.
    pub saved: Saved,
}

/// Creates the container and leaves its init waiting on the exec fifo. The steps, in order;
/// a failure at any of them undoes what the earlier ones made ([`Cleanup`]).
pub fn create(root: &Root, o: &CreateOpts) -> Result<Created> {
    state::check_id(&o.id)?;
    let bundle = spec::load_bundle(&o.bundle)?;
    check_terminal(&bundle, o)?;
    let plan = Plan::new(&spec::namespaces(&bundle.spec))?;
    let rootfs_base = rootfs_base_mount(&plan, &bundle)?;
    let dir = root.reserve(&o.id)?;
    let mut cleanup = Cleanup::new(root, &o.id, &bundle, rootfs_base);
    let fifo_fd = save_config_and_make_fifo(&dir, &bundle)?;
    let mut cgroups = make_cgroups(o, &bundle, &plan)?;
    cleanup.cgroups = cgroups.mgr.dirs.clone();
    let idmaps = idmap_user_namespaces(&bundle)?;
    let (pid, ch, in_v2) = clone_init(o, &bundle, &plan, &fifo_fd, &cgroups, &idmaps)?;
    cgroups.cloned_into_v2 = in_v2;
    cleanup.pid = Some(pid);
    if plan.creates(T::User) {
        write_id_maps(pid, &bundle)?;
    }
    let mut saved = saved_state(o, &bundle, &plan, pid, &cgroups.mgr, rootfs_base);
    let state_json = serde_json::to_string(&saved.oci_state(Status::Created)).unwrap_or_default();
    // The init starts on its namespaces and rootfs while we move it into its cgroups (or it
    // moves itself into the v1 ones, which a move by another process can make wait for an
    // RCU grace period).
    ch.send(Tag::Go, state_json.as_bytes())
        .ctx(|| "sync with init".into())?;
    join_cgroups(o, &ch, &cgroups, pid, &mut saved, &mut cleanup)?;
    serve_init_until_ready(&ch, o, &bundle, &saved, &state_json)?;
    root.save(&saved)?;
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid)?;
    }
    cleanup.armed = false;
    Ok(Created { pid, saved })
}

/// Undo list for a create that fails half-way.
struct Cleanup<'a> {
    root: &'a Root,
    id: String,
    pid: Option<libc::pid_t>,
    cgroups: Vec<CgroupDir>,
    /// A systemd scope started for the container: (bus, unit).
    scope: Option<(String, String)>,
    /// Without a mount namespace: the rootfs and the mount that was on it before.
    rootfs_base: Option<(PathBuf, u64)>,
    armed: bool,
}

impl<'a> Cleanup<'a> {
    /// Armed for the state directory of `id` (just reserved) and, without a mount namespace,
    /// the mounts to come on the rootfs.
    fn new(root: &'a Root, id: &str, bundle: &Bundle, rootfs_base: Option<u64>) -> Self {
        Cleanup {
            root,
            id: id.to_string(),
            pid: None,
            cgroups: vec![],
            scope: None,
            rootfs_base: rootfs_base.map(|b| (bundle.rootfs.clone(), b)),
            armed: true,
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = process::kill(pid, libc::SIGKILL);
            let _ = process::waitpid(pid, 0);
        }
        if let Some((rootfs, base)) = &self.rootfs_base {
            let _ = crate::rootfs::detach_above(rootfs, *base);
        }
        if let Some((bus, unit)) = &self.scope {
            let _ = crate::cgroups::systemd::stop_unit(bus, unit);
        }
        let _ = Manager::destroy(&self.cgroups);
        let _ = self.root.remove(&self.id);
    }
}

/// A terminal needs `--console-socket`, and `--console-socket` needs a terminal.
fn check_terminal(bundle: &Bundle, o: &CreateOpts) -> Result<()> {
    let process = bundle
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("config.json: process is missing".into()))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && o.console_socket.is_none() {
        return Err(Error::Spec(
            "process.terminal is true: --console-socket is required".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Spec(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    Ok(())
}

/// Without a mount namespace of its own the container's mounts are made in ours: the id of the
/// mount on the rootfs now, to detach what is mounted above it at delete.
fn rootfs_base_mount(plan: &Plan, bundle: &Bundle) -> Result<Option<u64>> {
    if plan.has(T::Mount) {
        return Ok(None);
    }
    crate::rootfs::mount_id(&bundle.rootfs).map(Some)
}

/// Saves the config in the state directory and makes the exec fifo there; returns an
/// `O_PATH` descriptor of the fifo for the init (it opens it for reading after pivot_root).
fn save_config_and_make_fifo(dir: &Path, bundle: &Bundle) -> Result<OwnedFd> {
    std::fs::write(dir.join(state::CONFIG_COPY), &bundle.raw).ctx(|| "save config".into())?;
    let fifo = dir.join(state::EXEC_FIFO);
    fd::mkfifo(&fifo, 0o644).ctx(|| format!("mkfifo {}", fifo.display()))?;
    fd::open(&fifo, libc::O_PATH, 0).ctx(|| "open exec fifo".into())
}

/// The container's cgroups and what placing the init in them needs.
struct Cgroups {
    layout: Layout,
    /// The spec's resources, with the devices of `linux.devices` allowed.
    resources: Option<LinuxResources>,
    /// The spec's `cgroupsPath`.
    path: Option<String>,
    /// In a new user namespace the resources are applied once the init is in the cgroups.
    userns: bool,
    /// The init joins its v1 cgroups itself ([`Manager::join_v1_self`]): not in a user
    /// namespace of its own (not root on the host's cgroup files) nor through systemd; it is
    /// then cloned into its cgroup2 directory where the kernel can.
    self_join: bool,
    /// Whether the init was cloned into its cgroup2 directory.
    cloned_into_v2: bool,
    mgr: Manager,
}

/// Creates the container's cgroup directories (and applies the resources, unless the
/// container has a user namespace of its own).
fn make_cgroups(o: &CreateOpts, bundle: &Bundle, plan: &Plan) -> Result<Cgroups> {
    let layout = Layout::detect();
    let linux = bundle.spec.linux().as_ref();
    let mut resources = linux.and_then(|l| l.resources().clone());
    if let Some(r) = resources.as_mut() {
        spec::allow_spec_devices(r, &bundle.spec);
    }
    let userns = plan.creates(T::User);
    let path = linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let mgr = Manager::create(
        &layout,
        path.as_deref(),
        &o.id,
        o.systemd_cgroup,
        if userns { None } else { resources.as_ref() },
    )?;
    Ok(Cgroups {
        layout,
        resources,
        path,
        userns,
        self_join: !userns && !o.systemd_cgroup,
        cloned_into_v2: false,
        mgr,
    })
}

/// The user namespaces of idmapped mounts, index-aligned with the spec's mounts.
fn idmap_user_namespaces(bundle: &Bundle) -> Result<Vec<Option<OwnedFd>>> {
    bundle
        .extras
        .mount_idmaps
        .iter()
        .map(|m| m.as_ref().map(crate::rootfs::idmap::userns).transpose())
        .collect()
}

/// Clones the container's init with the namespaces of the plan (the pid namespace given by
/// path is joined first, for the child); returns its pid, our end of its channel and whether
/// it was cloned into its cgroup2 directory. The child runs [`init::run`] and never returns
/// here.
fn clone_init(
    o: &CreateOpts,
    bundle: &Bundle,
    plan: &Plan,
    fifo_fd: &OwnedFd,
    cgroups: &Cgroups,
    idmaps: &[Option<OwnedFd>],
) -> Result<(libc::pid_t, Channel, bool)> {
    let (parent_sock, child_sock) = fd::socketpair().ctx(|| "sync socketpair".into())?;
    plan.join_pid_for_children()?;
    let flags = plan.clone_flags;
    // SAFETY: create runs in a single-threaded process (the runtime's create path must); the
    // child is the container's init, which execs or exits.
    let (pid, in_v2) = unsafe {
        match cgroups.self_join {
            true => clone_into_v2(flags, &cgroups.mgr.dirs),
            false => process::clone_fork(flags).map(|pid| (pid, false)),
        }
    }
    .ctx(|| "clone container init".into())?;
    if pid == 0 {
        drop(parent_sock);
        init::run(init::Args {
            bundle,
            plan,
            channel: Channel::new(child_sock),
            fifo_fd: fifo_fd.as_raw_fd(),
            no_pivot: o.no_pivot,
            no_new_keyring: o.no_new_keyring,
            preserve_fds: o.preserve_fds,
            cgroups: &cgroups.mgr.dirs,
            join_v1_cgroups: cgroups.self_join,
            idmaps,
        });
    }
    drop(child_sock);
    Ok((pid, Channel::new(parent_sock), in_v2))
}

/// What the state directory will remember of the container.
fn saved_state(
    o: &CreateOpts,
    bundle: &Bundle,
    plan: &Plan,
    pid: libc::pid_t,
    mgr: &Manager,
    rootfs_base: Option<u64>,
) -> Saved {
    let hooks = bundle.spec.hooks().as_ref();
    Saved {
        id: o.id.clone(),
        pid,
        pid_start: process::process_start_time(pid).unwrap_or(0),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: clock::rfc3339_now(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup_paths: mgr.dirs.clone(),
        systemd_unit: None,
        own_pidns: plan.creates(T::Pid),
        // SAFETY: getuid never fails.
        owner: unsafe { libc::getuid() },
        poststart_hooks: hook_list_set(hooks.and_then(|h| h.poststart().as_ref())),
        poststop_hooks: hook_list_set(hooks.and_then(|h| h.poststop().as_ref())),
        rootfs_base_mount: rootfs_base,
    }
}

/// Places the init in its cgroups (through a systemd scope with `--systemd-cgroup` on a
/// systemd host), applies the resources a user namespace held back, and tells the init it is
/// there (it unshares its cgroup namespace after this).
fn join_cgroups(
    o: &CreateOpts,
    ch: &Channel,
    cg: &Cgroups,
    pid: libc::pid_t,
    saved: &mut Saved,
    cleanup: &mut Cleanup,
) -> Result<()> {
    let scoped = match systemd_scope(o, cg, pid) {
        Ok(Some(s)) => {
            saved.systemd_unit = Some(s.1.clone());
            cleanup.scope = Some(s);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    let joined = scoped
        .and_then(|_| cg.mgr.add(pid, !cg.self_join, !cg.cloned_into_v2))
        .and_then(|_| match (cg.userns, cg.resources.as_ref()) {
            (true, Some(r)) => cg.mgr.apply(&cg.layout, r, true),
            _ => Ok(()),
        });
    if let Err(e) = joined {
        // If the init failed meanwhile, its own error is the one to report. Only a message
        // already sent is read: a healthy init is waiting for our next word, not writing.
        return Err(match ch.has_pending().then(|| ch.recv()) {
            Some(Ok(Some((Tag::Error, m)))) => {
                Error::Other(String::from_utf8_lossy(&m).into_owned())
            }
            _ => e,
        });
    }
    // Second go: the init is in its cgroups. A failure to send means the init already
    // failed: its error is read next.
    let _ = ch.send(Tag::Go, b"");
    Ok(())
}

/// With `--systemd-cgroup` on a systemd host: registers the container's scope with systemd
/// (which moves the init into it); returns (bus, unit).
fn systemd_scope(
    o: &CreateOpts,
    cg: &Cgroups,
    pid: libc::pid_t,
) -> Result<Option<(String, String)>> {
    use crate::cgroups::{path, systemd};
    let Some(bus) = o.systemd_cgroup.then(systemd::bus).flatten() else {
        return Ok(None);
    };
    let (slice, unit) = path::systemd_unit(cg.path.as_deref(), &o.id).map_err(Error::Spec)?;
    let res = cg.resources.as_ref();
    systemd::start_scope(&bus, &unit, &slice, &o.id, pid, res, cg.layout.unified_only)?;
    Ok(Some((bus, unit)))
}

/// Answers the init until it is ready: runs the prestart and createRuntime hooks when it asks
/// (before its pivot_root), passes on the descriptors it sends (the console master to
/// `--console-socket`, a seccomp listener to its agent), and reports its error if it fails.
fn serve_init_until_ready(
    ch: &Channel,
    o: &CreateOpts,
    bundle: &Bundle,
    saved: &Saved,
    state_json: &str,
) -> Result<()> {
    let hooks = bundle.spec.hooks().as_ref();
    loop {
        let msg = ch.recv().ctx(|| "read from container init".into())?;
        match msg {
            None => {
                return Err(Error::Other(
                    "container init exited before it was ready".into(),
                ))
            }
            Some((Tag::Hooks, _)) => {
                if let Some(h) = hooks {
                    hooks::run(
                        "prestart",
                        h.prestart().as_deref().unwrap_or(&[]),
                        state_json,
                    )?;
                    hooks::run(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or(&[]),
                        state_json,
                    )?;
                }
                ch.send(Tag::Go, b"").ctx(|| "sync with init".into())?;
            }
            Some((Tag::Fd, label)) => {
                let fd = ch.recv_fd().ctx(|| "receive fd from init".into())?;
                match label.as_slice() {
                    b"console" => {
                        let sock = o.console_socket.as_deref().unwrap_or(Path::new(""));
                        crate::process::console::send_to_socket(sock, &fd)?;
                    }
                    b"seccomp" => send_seccomp_listener(bundle, saved, &fd)?,
                    other => {
                        return Err(Error::Other(format!(
                            "init sent an unexpected descriptor {:?}",
                            String::from_utf8_lossy(other)
                        )))
                    }
                }
            }
            Some((Tag::Ready, _)) => return Ok(()),
            Some((Tag::Error, m)) => {
                return Err(Error::Other(String::from_utf8_lossy(&m).into_owned()))
            }
            Some((Tag::Go, _)) => return Err(Error::Other("unexpected message from init".into())),
        }
    }
}

fn hook_list_set(v: Option<&Vec<oci_spec::runtime::Hook>>) -> bool {
    v.is_some_and(|v| !v.is_empty())
}

/// Writes the pid file atomically (temp file + rename), as runc does.
pub fn write_pid_file(p: &Path, pid: libc::pid_t) -> Result<()> {
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = std::ffi::OsString::from(".");
    name.push(p.file_name().unwrap_or_default());
    name.push(".tmp");
    let tmp = dir.join(name);
    std::fs::write(&tmp, pid.to_string()).ctx(|| format!("pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, p).ctx(|| format!("pid file {}", p.display()))
}

fn write_id_maps(pid: libc::pid_t, b: &Bundle) -> Result<()> {
    let linux = b.spec.linux().as_ref();
    let fmt = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.into_iter()
            .flatten()
            .map(|x| format!("{} {} {}\n", x.container_id(), x.host_id(), x.size()))
            .collect::<String>()
    };
    let uid = fmt(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = fmt(linux.and_then(|l| l.gid_mappings().as_ref()));
    if !uid.is_empty() {
        fd::write_file(format!("/proc/{pid}/uid_map"), &uid).ctx(|| format!("uid_map {uid:?}"))?;
    }
    if !gid.is_empty() {
        fd::write_file(format!("/proc/{pid}/gid_map"), &gid).ctx(|| format!("gid_map {gid:?}"))?;
    }
    Ok(())
}

/// Sends the seccomp notify fd to `listenerPath` with the container process state, per the
/// runtime spec (SCM_RIGHTS + ContainerProcessState JSON).
fn send_seccomp_listener(b: &Bundle, saved: &Saved, fd: &OwnedFd) -> Result<()> {
    let sec = b.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let Some(path) = sec.and_then(|s| s.listener_path().as_ref()) else {
        return Err(Error::Spec(
            "seccomp uses SCMP_ACT_NOTIFY but listenerPath is not set".into(),
        ));
    };
    let st = serde_json::json!({
        "ociVersion": "1.2.0",
        "fds": ["seccompFd"],
        "pid": saved.pid,
        "metadata": sec.and_then(|s| s.listener_metadata().clone()).unwrap_or_default(),
        "state": saved.oci_state(Status::Created),
    });
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("connect seccomp listener {}", path.display()))?;
    let body = st.to_string();
    // One message: the state as data, the fd as ancillary data.
    fdpass::send_fd_with(s.as_raw_fd(), body.as_bytes(), fd.as_raw_fd())
        .ctx(|| format!("send seccomp fd to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn pid_file_keeps_its_name_bytes() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(std::ffi::OsStr::from_bytes(b"pid\xff"));
        write_pid_file(&p, 42).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "42");
        assert_eq!(
            std::fs::read_dir(t.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
