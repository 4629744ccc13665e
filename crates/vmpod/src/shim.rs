//! `strata-vm-shim`: a VM container's stand-in for its init process on the host. The
//! container's monitor starts it where it would create a container with the runtime,
//! with the container's stdio; the shim boots the VM (the created state), runs the container
//! in it on SIGUSR1 (the start), writes its output to its own stdout and stderr, passes the
//! signals it gets to the container, and exits with the container's exit status, so the
//! monitor logs, reaps and records it as any container's. QEMU dies with the shim.

use crate::agent::{Agent, Event};
use crate::assets::Assets;
use crate::qemu::{Accel, Vm, VmSpec};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The signals passed on to the container once it runs.
pub(crate) const FORWARDED: &[i32] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR2,
];

/// How long the guest has to boot and answer (TCG is slow).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The file in the VM's directory that says why the VM ended under its container (a
/// fault of the VM layer); absent when the container's process simply exited.
pub const EXIT_REASON: &str = "vm-exit-reason";

/// The file in the VM's directory that says the OOM killer acted in the container's cgroup
/// in the guest (its memory limit reached).
pub const OOM_KILLED: &str = "vm-oom-killed";

/// What the shim is told.
pub struct Args {
    /// The container's bundle (`config.json`, `vm.json`).
    pub bundle: PathBuf,
    /// Its id.
    pub id: String,
    /// A directory for the VM (sockets, console log, `vm.state`).
    pub dir: PathBuf,
    /// With a terminal: where its master goes (the monitor's console socket).
    pub console: Option<PathBuf>,
    /// Whether the container's input is the shim's stdin.
    pub stdin: bool,
}

/// The shim's end of the container's stdio: its own descriptors, or with a terminal the
/// slave of a pty whose master went to the console socket.
pub(crate) struct Io {
    terminal: Option<std::os::fd::OwnedFd>,
    stdin: bool,
}

impl Io {
    /// Makes the terminal, if any (its master goes to the console socket at once).
    fn open(a: &Args) -> Result<Io> {
        let terminal = match &a.console {
            Some(c) => Some(crate::terminal::host_terminal(c)?),
            None => None,
        };
        Ok(Io {
            terminal,
            stdin: a.stdin,
        })
    }

    /// Starts container `a.id` in the guest with this stdio; its replies.
    pub(crate) fn run(
        &self,
        a: &Args,
        agent: &Arc<Agent>,
        spec: &serde_json::Value,
        layers: &[String],
    ) -> Result<crate::agent::Replies> {
        use std::os::fd::AsRawFd;
        let size = self
            .terminal
            .as_ref()
            .map(|t| crate::terminal::first_size(t.as_raw_fd()));
        let stdin = self.stdin || self.terminal.is_some();
        let run = agent.run_container_with(&a.id, spec, layers, (stdin, size))?;
        // Its /etc/hosts and the like, rewritten by the engine later, follow into the guest.
        crate::follow::follow(
            Arc::clone(agent),
            a.id.clone(),
            crate::agent::host_file_mounts(spec),
        );
        let input = self.terminal.as_ref().map_or(0, |t| t.as_raw_fd());
        if stdin {
            let (agent, id) = (Arc::clone(agent), a.id.clone());
            std::thread::spawn(move || crate::terminal::pass_input(&agent, &id, input));
        }
        if self.terminal.is_some() {
            let (agent, id) = (Arc::clone(agent), a.id.clone());
            std::thread::spawn(move || crate::terminal::pass_size(&agent, &id, input));
        }
        Ok(run)
    }

    /// Where the container's stdout and stderr go.
    fn outputs(&self) -> [i32; 2] {
        use std::os::fd::AsRawFd;
        match &self.terminal {
            Some(t) => [t.as_raw_fd(); 2],
            None => [1, 2],
        }
    }
}

pub(crate) fn signal_set(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset with valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

pub(crate) fn wait_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: a valid set and out-pointer; the signals are blocked in every thread.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

/// Runs the shim; the container's exit status.
pub fn run(a: &Args) -> i32 {
    let mut all = FORWARDED.to_vec();
    all.push(libc::SIGUSR1);
    let set = signal_set(&all);
    // SAFETY: blocks the signals in this (still only) thread; threads started later inherit it.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    match Io::open(a).and_then(|io| boot_and_run(a, &set, &io)) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{msg}");
            let _ = std::fs::write(a.dir.join(EXIT_REASON), &msg);
            137
        }
    }
}

/// What a shim's VM is to its pod (`vm.json`'s `role`).
enum Role {
    /// A VM container: one container in its own VM.
    Container,
    /// A VM pod's infra: the pod's VM, in which the pod's containers run.
    Sandbox,
    /// A container of a VM pod: it runs in the VM of the infra whose VM directory this is.
    Member(PathBuf),
}

fn role(v: &serde_json::Value) -> Result<Role> {
    match v["role"].as_str().unwrap_or("container") {
        "container" => Ok(Role::Container),
        "sandbox" => Ok(Role::Sandbox),
        "member" => v["sandboxVmDir"]
            .as_str()
            .map(|d| Role::Member(PathBuf::from(d)))
            .ok_or_else(|| Error("vm.json: a member without sandboxVmDir".into())),
        other => Err(Error(format!("vm.json: role {other:?}"))),
    }
}

/// A booted VM and the agent in it.
pub(crate) struct Booted {
    pub(crate) vm: Vm,
    pub(crate) agent: Arc<Agent>,
    /// virtiofsd, when the VM shares volumes.
    pub(crate) _share: Option<std::process::Child>,
}

fn boot_and_run(a: &Args, set: &libc::sigset_t, io: &Io) -> Result<i32> {
    let read = |name: &str| -> Result<serde_json::Value> {
        let p = a.bundle.join(name);
        let b = std::fs::read(&p).map_err(crate::io_err(format!(
            "vm container {}: {}",
            a.id,
            p.display()
        )))?;
        serde_json::from_slice(&b)
            .map_err(|e| Error(format!("vm container {}: {}: {e}", a.id, p.display())))
    };
    let vm_json = read("vm.json")?;
    let devices = crate::devices::from_vm_json(&vm_json)?;
    let spec = read("config.json")?;
    let (assets, memory_mib, vcpus) = Assets::from_json(&vm_json)?;
    std::fs::create_dir_all(&a.dir)
        .map_err(crate::io_err(format!("vm dir {}", a.dir.display())))?;
    match role(&vm_json)? {
        Role::Member(sandbox) => {
            let c = crate::pod_shim::Member {
                spec: &spec,
                devices: &devices,
                assets: &assets,
                sandbox: &sandbox,
            };
            crate::pod_shim::member(a, (set, io), c)
        }
        Role::Sandbox => {
            crate::shared::private_mounts()?;
            let b = boot(
                a,
                &spec,
                &assets,
                (memory_mib, vcpus),
                (true, true),
                Vec::new(),
            )?;
            crate::pod_shim::sandbox(a, set, b)
        }
        Role::Container => {
            crate::shared::private_mounts()?;
            let share = crate::shared::wants_share(&spec, &a.bundle);
            let disks = crate::devices::disks(&devices);
            // The guest is told where each device is.
            let sources = crate::devices::virtio_sources(&disks);
            let spec = crate::devices::annotate(spec, &devices, &sources)
                .map_err(|e| Error(format!("vm container {}: {e}", a.id)))?;
            let b = boot(
                a,
                &spec,
                &assets,
                (memory_mib, vcpus),
                (false, share),
                disks,
            )?;
            let spec = match share {
                true => {
                    crate::shared::bind_volumes(
                        &spec,
                        &a.bundle,
                        &a.dir.join(crate::shared::DIR),
                        &a.id,
                    )?
                    .0
                }
                false => spec,
            };
            alone(a, (set, io), &spec, &assets, b)
        }
    }
}

/// Boots the VM (a pod's: with a SCSI controller for disks attached later; with `share`,
/// virtio-fs for volumes; the container's block devices as disks), joins it to the pod's
/// network, serves its proxy and records `vm.state`.
fn boot(
    a: &Args,
    spec: &serde_json::Value,
    assets: &Assets,
    (memory_mib, vcpus): (u32, u32),
    (pod, share): (bool, bool),
    device_disks: Vec<crate::devices::Disk>,
) -> Result<Booted> {
    // The pod's network namespace (CNI's, as for any container): QEMU runs in it, and a TAP
    // of its is joined to each of the pod's interfaces, whose address the guest takes.
    let links = match netns_path(spec) {
        Some(ns) => {
            crate::tap::enter_netns(Path::new(&ns))?;
            crate::tap::pod_links()?
        }
        None => Vec::new(),
    };
    let (accel, why) = Accel::pick();
    let share = match share {
        true => Some(crate::shared::serve(&a.dir)?),
        false => None,
    };
    let vm = Vm::start(&VmSpec {
        kernel: assets.kernel.clone(),
        initrd: assets.initramfs.clone(),
        memory_mib,
        vcpus,
        dir: a.dir.clone(),
        accel,
        disks: layer_serials(assets)
            .into_iter()
            .zip(assets.layers.iter().cloned())
            .collect(),
        device_disks,
        hotplug_disks: pod,
        shared: share.is_some(),
        nics: links.iter().map(|l| l.mac.clone()).collect(),
    })?;
    for (i, l) in links.iter().enumerate() {
        crate::tap::join(l, &crate::tap::tap_name(i))
            .map_err(|e| Error(format!("vm container {}: network: {e}", a.id)))?;
    }
    let agent = Arc::new(Agent::connect(&vm.agent_socket, BOOT_TIMEOUT)?);
    let hello = agent.hello().map_err(|e| {
        Error(format!(
            "vm container {}: the guest did not answer: {e}; console: {}",
            a.id,
            tail(&vm.console_text())
        ))
    })?;
    for l in &links {
        agent
            .network(l)
            .map_err(|e| Error(format!("vm container {}: network: {e}", a.id)))?;
    }
    // Execs (and a pod's containers) reach the guest through the shim.
    let access = if pod {
        let qmp = Arc::new(crate::qmp::Shared::new(&a.dir));
        crate::proxy::Access::Pod(
            Arc::new(crate::slots::Slots::new(Arc::clone(&qmp))),
            Arc::new(crate::scsi::ScsiDisks::new(qmp)),
        )
    } else {
        crate::proxy::Access::Container(a.id.clone())
    };
    crate::proxy::serve(Arc::clone(&agent), &a.dir, access)?;
    let state = serde_json::json!({
        "backend": "qemu",
        "accel": format!("{accel:?}").to_lowercase(),
        "accelReason": why,
        "vmmPid": vm.pid(),
        "guestKernel": hello.kernel,
        "vcpus": vcpus,
        "memoryMib": memory_mib,
        "address": links.first().map(|l| l.address.clone()),
        "addresses": links.iter().map(|l| l.address.clone()).collect::<Vec<_>>(),
        "shimPid": std::process::id(),
    });
    let _ = std::fs::write(a.dir.join("vm.state"), state.to_string());
    Ok(Booted {
        vm,
        agent,
        _share: share,
    })
}

/// The serials of a VM container's boot-time layer disks.
fn layer_serials(assets: &Assets) -> Vec<String> {
    (0..assets.layers.len())
        .map(|i| format!("layer{i}"))
        .collect()
}

/// A VM container: waits for the start, runs the container in its VM to its end and
/// powers the VM off.
fn alone(
    a: &Args,
    (set, io): (&libc::sigset_t, &Io),
    spec: &serde_json::Value,
    assets: &Assets,
    b: Booted,
) -> Result<i32> {
    let Booted {
        mut vm,
        agent,
        _share,
    } = b;
    // Created: the start is SIGUSR1; a signal before it ends the VM unstarted.
    let sig = wait_signal(set);
    if sig != libc::SIGUSR1 {
        let _ = agent.shutdown();
        let _ = vm.wait(Duration::from_secs(10));
        return Ok(128 + sig);
    }
    let run = io.run(a, &agent, spec, &layer_serials(assets))?;
    let code = follow(a, (&agent, io), run, |e| vm.fault(e));
    // The container has ended and the guest holds nothing to keep (its writable layer is
    // in guest memory; volumes are written through to the host): the VM goes at once,
    // not after a power-off the exit status would wait for.
    drop(vm);
    Ok(code)
}

/// Passes the forwarded signals to container `a.id` and its output to the shim's stdout
/// and stderr (or terminal) until it exits; its exit status. When the guest stops
/// answering, `fault` says why (recorded as the VM's exit reason) and the status is 137.
pub(crate) fn follow(
    a: &Args,
    (agent, io): (&Arc<Agent>, &Io),
    mut run: crate::agent::Replies,
    fault: impl FnOnce(&str) -> String,
) -> i32 {
    {
        let agent = Arc::clone(agent);
        let id = a.id.clone();
        let set = signal_set(FORWARDED);
        std::thread::spawn(move || loop {
            let sig = wait_signal(&set);
            let _ = agent.kill(&id, sig);
        });
    }
    let out = io.outputs();
    loop {
        match run.next_event() {
            Ok(Some(Event::Output(stream, b))) => {
                let _ = write_all(out[usize::from(stream != 1)], &b);
            }
            Ok(Some(Event::Exit(c))) => {
                if run.oom_killed() {
                    let _ = std::fs::write(a.dir.join(OOM_KILLED), b"");
                }
                return c;
            }
            Ok(None) => return 0,
            Err(e) => {
                let msg = format!("vm container {}: {}", a.id, fault(&e.to_string()));
                let _ = std::fs::write(a.dir.join(EXIT_REASON), &msg);
                eprintln!("{msg}");
                return 137;
            }
        }
    }
}

/// Writes all of `b` to descriptor `fd`.
fn write_all(fd: i32, mut b: &[u8]) -> std::io::Result<()> {
    while !b.is_empty() {
        // SAFETY: writes from a live buffer of its length to a descriptor the shim holds.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
}

/// The network namespace the spec joins (the pod's), if any.
fn netns_path(spec: &serde_json::Value) -> Option<String> {
    spec["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?["path"]
        .as_str()
        .map(String::from)
}

/// The last lines of the guest console, for an error.
fn tail(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
