//! `start`: the container's root filesystem mounted, its network attached, its OCI config
//! written, and its monitor launched; and `cleanup`, what is undone when it stops.

use super::state::Status;
use super::{etc_files, rootfs, status, Container};
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::network;
use crate::spec::{self, image_config::ImageConfig, HostMount, Ns, SpecInput};
use strata_monitor::{launch, LaunchOptions};

/// The image config of a container's image (none for a pod's infra).
pub fn image_config(e: &Engine, c: &Container) -> Result<ImageConfig> {
    if c.config.image_id.is_empty() {
        return Ok(ImageConfig::default());
    }
    let img = rootfs::image_of(e, &c.config.image_id)?;
    let store = e.store()?;
    let doc = strata_image::ops::config(&store, &img)?;
    Ok(ImageConfig::from_document(&doc))
}

/// Turns the runtime's error about the container's command into docker's 126/127 errors,
/// with the cause line naming the layer.
pub fn classify_start_error(c: &Container, msg: String) -> Error {
    let lower = msg.to_ascii_lowercase();
    let prog = c.config.command.first().cloned().unwrap_or_default();
    if lower.contains("no such file or directory")
        && (lower.contains("exec") || lower.contains(&prog.to_ascii_lowercase()))
    {
        let what = if prog.is_empty() {
            "the command".to_string()
        } else {
            prog
        };
        return Error::CommandNotFound(format!(
            "exited 127: {what} not found in the image's rootfs [layer: image] ({msg})"
        ));
    }
    if lower.contains("permission denied") && lower.contains("exec") {
        return Error::CommandNotRunnable(format!(
            "exited 126: the command cannot be run: {msg} [layer: image]"
        ));
    }
    Error::Runtime(msg)
}

/// Mounts, volumes and the etc files of a container, resolved to host paths (a pod's
/// container has the pod's hostname, from its infra).
fn host_mounts(
    e: &Engine,
    c: &Container,
    ip: Option<&str>,
    infra: Option<&Container>,
) -> Result<Vec<HostMount>> {
    use super::config::MountKind;
    let mut out = Vec::new();
    for m in &c.config.mounts {
        let mut options = m
            .options
            .iter()
            .filter(|o| !matches!(o.as_str(), "z" | "Z"))
            .cloned()
            .collect::<Vec<_>>();
        if m.readonly {
            options.push("ro".into());
        }
        match m.kind {
            MountKind::Tmpfs => out.push(HostMount {
                source: "tmpfs".into(),
                target: m.target.clone(),
                kind: "tmpfs",
                options: {
                    let mut o = vec!["nosuid".to_string(), "nodev".to_string()];
                    o.extend(options);
                    o
                },
            }),
            MountKind::Bind | MountKind::Volume => {
                let source = if m.kind == MountKind::Volume {
                    let d = crate::volume::data_dir(e, &m.source);
                    std::fs::create_dir_all(&d)
                        .ctx(|| format!("volume {}: create {}", m.source, d.display()))?;
                    super::copy::copy_up(&e.paths.rootfs(&c.id), &m.target, &d)
                        .map_err(|err| err.context(format!("volume {}", m.source)))?;
                    d
                } else {
                    m.source.clone().into()
                };
                options.insert(0, "rbind".into());
                out.push(HostMount {
                    source,
                    target: m.target.clone(),
                    kind: "bind",
                    options,
                });
            }
        }
    }
    let hostname = infra.map_or_else(|| c.hostname(), |i| i.hostname());
    let mut hosts = Vec::new();
    if let Some(ip) = ip {
        hosts.push((
            ip.split('/').next().unwrap_or(ip).to_string(),
            vec![c.name.clone(), hostname.clone()],
        ));
    } else {
        hosts.push((
            "127.0.1.1".to_string(),
            vec![c.name.clone(), hostname.clone()],
        ));
    }
    for h in &c.config.add_hosts {
        if let Some((name, addr)) = h.split_once(':') {
            hosts.push((addr.to_string(), vec![name.to_string()]));
        }
    }
    // A pod's containers take the pod's DNS settings (its infra's) unless they have their own.
    let own = &c.config;
    let from = match infra {
        Some(i)
            if own.dns.is_empty() && own.dns_search.is_empty() && own.dns_options.is_empty() =>
        {
            &i.config
        }
        _ => own,
    };
    let dns = etc_files::Dns {
        servers: &from.dns,
        search: &from.dns_search,
        options: &from.dns_options,
    };
    out.extend(etc_files::write(e, &c.id, &hostname, &hosts, dns)?);
    Ok(out)
}

/// The strata-pause program, installed under the run root (a pod's infra, `--init`).
pub fn pause_program(e: &Engine) -> Result<std::path::PathBuf> {
    let dir = e.paths.runroot.join("bin");
    strata_pause::install(&dir).ctx(|| format!("install strata-pause in {}", dir.display()))
}

/// A container's namespaces: new ones, or its pod's (joined by path).
pub struct Namespaces {
    /// Network.
    pub net: Ns,
    /// IPC.
    pub ipc: Ns,
    /// UTS (a joined one keeps its hostname).
    pub uts: Ns,
    /// PID.
    pub pid: Ns,
}

/// Writes the container's config.json (atomically).
fn write_bundle(
    e: &Engine,
    c: &Container,
    ns: &Namespaces,
    mut mounts: Vec<HostMount>,
) -> Result<()> {
    if c.config.infra {
        mounts.push(HostMount {
            source: pause_program(e)?,
            target: rootfs::PAUSE_PATH.to_string(),
            kind: "bind",
            options: vec!["bind".into(), "ro".into()],
        });
    }
    let img = image_config(e, c)?;
    let seccomp_profile = match c.config.seccomp.as_deref() {
        Some(s) if s != "unconfined" => Some(super::create::load_seccomp(s)?),
        _ => None,
    };
    let rootfs = e.paths.rootfs(&c.id);
    let v = spec::generate(&SpecInput {
        config: &c.config,
        image: &img,
        rootfs: &rootfs,
        hostname: c.hostname(),
        net: ns.net.clone(),
        ipc: ns.ipc.clone(),
        uts: ns.uts.clone(),
        pid: ns.pid.clone(),
        mounts,
        cgroup_path: c.cgroup_path(),
        seccomp_profile,
        // A VM container's init is the guest's copy (its initramfs carries strata-pause).
        init: match (c.config.init, c.config.in_vm()) {
            (false, _) => None,
            (true, false) => Some(pause_program(e)?),
            (true, true) => Some(strata_vmpod::GUEST_INIT.into()),
        },
    })?;
    let dir = e.paths.bundle(&c.id);
    let tmp = dir.join(".config.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&v).expect("config serializes"),
    )
    .ctx(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("config.json"))
        .ctx(|| format!("write {}/config.json", dir.display()))
}

/// The VM shim: beside the monitor binary.
fn vm_shim(e: &Engine) -> std::path::PathBuf {
    e.opts
        .monitor
        .parent()
        .map(|d| d.join("strata-vm-shim"))
        .unwrap_or_else(|| "strata-vm-shim".into())
}

/// Launch options for a container's monitor.
fn launch_options(e: &Engine, c: &Container, start_now: bool) -> LaunchOptions {
    let mut exit_command = e.opts.exit_command.clone();
    exit_command.push(c.id.clone().into());
    LaunchOptions {
        monitor: e.opts.monitor.clone(),
        id: c.id.clone(),
        bundle: e.paths.bundle(&c.id),
        runtime_root: e.paths.runtime_root(),
        dir: e.paths.monitor(&c.id),
        log: Some(c.log_path(&e.paths)),
        log_max_size: c.config.log_max_size,
        log_max_files: 1,
        stdin: c.config.interactive && !c.config.tty,
        terminal: c.config.tty,
        start: start_now,
        systemd_cgroup: c.config.systemd_cgroup,
        vm_shim: c.config.in_vm().then(|| vm_shim(e)),
        exit_command,
        lock_fd: crate::lock::held_fd(&c.id),
    }
}

/// Starts `c` (already locked by the caller and refreshed). With `start_now` false the
/// monitor creates it and waits for a `start` on its socket (attached runs).
pub fn start_locked(e: &Engine, c: &mut Container, start_now: bool) -> Result<()> {
    match c.state.status {
        Status::Running | Status::Restarting => return Ok(()),
        Status::Paused => {
            return Err(Error::Conflict(format!(
                "container {} is paused: unpause it instead",
                c.name
            )))
        }
        Status::Removing | Status::Dead => {
            return Err(Error::Conflict(format!(
                "container {} is being removed",
                c.name
            )))
        }
        Status::Created | Status::Exited => {}
    }
    // Created by a monitor that still waits (an attached run whose CLI went away): start it.
    if let Some(m) = c
        .state
        .monitor
        .clone()
        .filter(|m| c.state.status == Status::Created && m.alive())
    {
        if !start_now {
            return Ok(());
        }
        let dir = e.paths.monitor(&c.id);
        let r = strata_monitor::protocol::call(
            &dir,
            &strata_monitor::Request::Start,
            Some(std::time::Duration::from_secs(30)),
        )
        .map_err(|err| Error::Runtime(format!("container {}: monitor {}: {err}", c.name, m.pid)))?;
        if !r.ok {
            return Err(classify_start_error(c, r.error.unwrap_or_default()));
        }
        return mark_started(e, c);
    }
    // The previous run's monitor records the exit before it deletes the runtime's state:
    // let it finish (the new run reuses the id).
    if let Some(m) = c
        .state
        .monitor
        .clone()
        .filter(|_| c.state.status == Status::Exited)
    {
        let t0 = std::time::Instant::now();
        while m.alive() && t0.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    // Leftovers of a previous run that nobody cleaned (a killed monitor, a reboot that kept
    // the run root): its network, its mount, and the runtime's state and cgroups.
    cleanup(e, c)?;
    if c.state.monitor.as_ref().is_some_and(|m| !m.alive()) {
        let _ = strata_runtime::container::ops::delete(
            &strata_runtime::state::Root::new(e.paths.runtime_root()),
            &c.id,
            true,
        );
    }
    let res = start_steps(e, c, start_now);
    if let Err(err) = res {
        c.state.error = Some(err.to_string());
        let _ = cleanup(e, c);
        c.state.status = if c.state.started_at.is_some() {
            Status::Exited
        } else {
            Status::Created
        };
        let _ = e.db.save_state(&c.id, &c.state);
        return Err(err);
    }
    Ok(())
}

fn start_steps(e: &Engine, c: &mut Container, start_now: bool) -> Result<()> {
    // A pod's container joins its infra's namespaces (the infra started first).
    let pod = crate::pod::join(e, c)?;
    rootfs::mount(e, &c.id, &c.config.image_id)?;
    c.state.rootfs_mounted = true;
    e.db.save_state(&c.id, &c.state)?;
    let (ns, ip) = match &pod {
        Some(j) => {
            // The pod's address, not its namespace: the infra owns that.
            c.state.net = crate::container::state::NetworkState {
                ip: j.infra.state.net.ip.clone(),
                gateway: j.infra.state.net.gateway.clone(),
                network: j.infra.state.net.network.clone(),
                ..Default::default()
            };
            let ns = Namespaces {
                net: j.net.clone(),
                ipc: j.ipc.clone(),
                uts: j.uts.clone(),
                pid: j.pid.clone(),
            };
            (ns, j.infra.state.net.ip.clone())
        }
        None => {
            // A VM pod's infra boots its VM onto the pod's network: that is made first.
            if c.config.infra && !c.config.in_vm() {
                if let Some(p) = network::begin(e, c)? {
                    return start_infra(e, c, start_now, p);
                }
            }
            let net = network::attach(e, c)?;
            c.state.net = net.clone();
            e.db.save_state(&c.id, &c.state)?;
            let host_or = |host: bool, kind: &str| match host {
                true => Ok(Ns::Host),
                false => crate::pod::infra_ns(e, c, kind),
            };
            let ns = Namespaces {
                net: network::namespace(e, c, &net)?,
                ipc: host_or(c.config.ipc_host, "ipc")?,
                uts: Ns::New,
                pid: host_or(c.config.pid_host, "pid")?,
            };
            (ns, net.ip)
        }
    };
    let mounts = host_mounts(e, c, ip.as_deref(), pod.as_ref().map(|j| &j.infra))?;
    write_bundle(e, c, &ns, mounts)?;
    if c.config.in_vm() {
        crate::vm::write_assets(e, c)?;
    }
    network::hosts::announce(e, c)?;
    let l = launch_monitor(e, c, start_now)?;
    record_launch(e, c, l, start_now)
}

/// Starts the monitor that creates `c` (and starts it with `start_now`).
fn launch_monitor(e: &Engine, c: &Container, start_now: bool) -> Result<strata_monitor::Launched> {
    let dir = e.paths.monitor(&c.id);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
    launch(&launch_options(e, c, start_now)).map_err(|err| classify_start_error(c, err.to_string()))
}

/// Records a launched run of `c`.
fn record_launch(
    e: &Engine,
    c: &mut Container,
    l: strata_monitor::Launched,
    start_now: bool,
) -> Result<()> {
    c.state.pid = l.pid;
    c.state.monitor = Some(l.monitor);
    c.state.finished_at = None;
    c.state.exit_code = None;
    c.state.oom_killed = false;
    c.state.error = None;
    c.state.stopped_by_user = false;
    if start_now {
        mark_started(e, c)
    } else {
        // Created by its monitor, which waits for a `start` on its socket (attached runs).
        c.state.status = Status::Created;
        e.db.save_state(&c.id, &c.state)
    }
}

/// A pod's infra on a bridge network: its monitor creates it (and starts its pause process,
/// which never uses the network) while the CNI plugins attach its namespace, instead of one
/// after the other; the pod is ready when both are done. If the plugins fail, the infra just
/// created is killed and the attach undone.
fn start_infra(e: &Engine, c: &mut Container, start_now: bool, p: network::Pending) -> Result<()> {
    let ns = Namespaces {
        net: Ns::Join(p.netns().to_string()),
        ipc: crate::pod::infra_ns(e, c, "ipc")?,
        uts: Ns::New,
        pid: crate::pod::infra_ns(e, c, "pid")?,
    };
    let (added, launched) = std::thread::scope(|s| {
        let plugins = s.spawn(|| p.run_plugins(&c.id));
        let launched = (|| {
            let mounts = host_mounts(e, c, None, None)?;
            write_bundle(e, c, &ns, mounts)?;
            launch_monitor(e, c, start_now)
        })();
        let added = plugins
            .join()
            .unwrap_or_else(|_| Err(Error::Network("the CNI plugins' thread failed".into())));
        (added, launched)
    });
    let l = match launched {
        Ok(l) => l,
        Err(err) => {
            let gone = Err(Error::Network("the infra was not created".into()));
            let _ = network::finish(e, c, p, added.and(gone));
            return Err(err);
        }
    };
    match network::finish(e, c, p, added) {
        Ok(net) => {
            c.state.net = net;
            e.db.save_state(&c.id, &c.state)?;
            network::hosts::announce(e, c)?;
            record_launch(e, c, l, start_now)
        }
        Err(err) => {
            // SAFETY: kill of the init this start just launched (our monitor's child).
            unsafe { libc::kill(l.pid, libc::SIGKILL) };
            let t0 = std::time::Instant::now();
            while l.monitor.alive() && t0.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(err)
        }
    }
}

/// Records that a container's process was started (by its monitor).
pub fn mark_started(e: &Engine, c: &mut Container) -> Result<()> {
    c.state.status = Status::Running;
    c.state.started_at = Some(strata_os::clock::rfc3339_now());
    e.db.save_state(&c.id, &c.state)?;
    super::stop::record_start_event(e, c);
    Ok(())
}

/// What a stopped container gives back: its network and its mounted root filesystem.
/// Idempotent; the caller holds the container's lock.
pub fn cleanup(e: &Engine, c: &mut Container) -> Result<()> {
    if c.state.status.is_live() {
        return Ok(());
    }
    network::detach(e, c)?;
    c.state.net = Default::default();
    rootfs::unmount(e, &c.id)?;
    c.state.rootfs_mounted = false;
    e.db.save_state(&c.id, &c.state)?;
    Ok(())
}

/// `start` of a container by name or id.
pub fn start(e: &Engine, key: &str) -> Result<Container> {
    let id = e.db.find_container(key)?.id;
    let _l = crate::lock::lock(&e.paths, &id)?;
    let mut c =
        e.db.container(&id)?
            .ok_or_else(|| Error::NotFound(format!("no such container: {key}")))?;
    status::refresh(e, &mut c)?;
    start_locked(e, &mut c, true)?;
    Ok(c)
}
