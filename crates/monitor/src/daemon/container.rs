//! The container, as the monitor drives it through the runtime library: create, start,
//! signal, and what is done once it has exited (its OOM kills, the runtime's delete). A VM
//! container's init is stood for by its shim (strata-vm-shim), which boots the VM at
//! create, runs the container in it at SIGUSR1 (the start), passes signals on and exits
//! with the container's status.

use super::args::Args;
use super::child::in_child;
use super::stdio::Stdio;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use strata_runtime::container::{ops, CreateOpts};
use strata_runtime::state::Root;

/// The runtime's view of the container.
pub struct Container {
    pub id: String,
    root: Root,
    bundle: PathBuf,
    dir: PathBuf,
    systemd_cgroup: bool,
    vm_shim: Option<PathBuf>,
    /// The init's pid (a VM container's: its shim's).
    pid: std::cell::Cell<i32>,
}

impl Container {
    /// The container `a` describes.
    pub fn new(a: &Args) -> Self {
        Container {
            id: a.id.clone(),
            root: Root::new(a.runtime_root.clone()),
            bundle: a.bundle.clone(),
            dir: a.dir.clone(),
            systemd_cgroup: a.systemd_cgroup,
            vm_shim: a.vm_shim.clone(),
            pid: std::cell::Cell::new(0),
        }
    }

    /// The runtime's state root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Whether its init is a VM's shim.
    pub fn in_vm(&self) -> bool {
        self.vm_shim.is_some()
    }

    /// The VM's directory (its shim's sockets, console log and state).
    pub fn vm_dir(&self) -> PathBuf {
        self.dir.join("vm")
    }

    /// The container's process as created (the base of an exec's): a VM container's from
    /// its bundle (the runtime that created it is the guest's).
    pub fn process(&self) -> Result<oci_spec::runtime::Process, String> {
        if self.in_vm() {
            let p = self.bundle.join("config.json");
            let spec = oci_spec::runtime::Spec::load(&p)
                .map_err(|e| format!("container {}: {}: {e}", self.id, p.display()))?;
            return Ok(spec.process().clone().unwrap_or_default());
        }
        self.root
            .saved_spec(&self.id)
            .map(|s| s.process().clone().unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    /// Sends the runtime's own log to the monitor's directory (in a forked child).
    pub fn runtime_logging(&self) {
        let log = self.dir.join(strata_monitor::record::RUNTIME_LOG);
        strata_runtime::logging::init(
            Some(log.to_string_lossy().into_owned()),
            strata_runtime::logging::Format::Json,
            false,
        );
    }

    /// Creates the container in a forked child, its stdio from `stdio`; `close` are the
    /// monitor's descriptors the container must not hold even before its exec (the sync
    /// pipe, the write end of its stdin). Returns the init's pid.
    pub fn create(&self, stdio: &Stdio, close: &[i32]) -> Result<i32, String> {
        if let Some(shim) = &self.vm_shim {
            let pid = self.create_vm(shim, stdio, close)?;
            self.pid.set(pid);
            return Ok(pid);
        }
        let console = stdio.console_path.clone();
        let pid = in_child(|| {
            for &fd in close {
                // SAFETY: closing descriptors of this forked child only.
                unsafe { libc::close(fd) };
            }
            stdio
                .install_in_child()
                .map_err(|e| format!("monitor: container stdio: {e}"))?;
            self.runtime_logging();
            let opts = CreateOpts {
                id: self.id.clone(),
                bundle: self.bundle.clone(),
                console_socket: console,
                systemd_cgroup: self.systemd_cgroup,
                ..Default::default()
            };
            strata_runtime::container::create(&self.root, &opts)
                .map(|c| c.pid.to_string())
                .map_err(|e| e.to_string())
        })?;
        pid.parse()
            .map_err(|_| format!("monitor: bad pid from create: {pid:?}"))
    }

    /// A VM container's create: its shim, started with the container's stdio and the start
    /// signal blocked (it waits for it), a child of this monitor (its subreaper).
    fn create_vm(
        &self,
        shim: &std::path::Path,
        stdio: &Stdio,
        close: &[i32],
    ) -> Result<i32, String> {
        let pid = in_child(|| {
            for &fd in close {
                // SAFETY: closing descriptors of this forked child only.
                unsafe { libc::close(fd) };
            }
            stdio
                .install_in_child()
                .map_err(|e| format!("monitor: container stdio: {e}"))?;
            let mut cmd = std::process::Command::new(shim);
            cmd.arg("--bundle")
                .arg(&self.bundle)
                .arg("--id")
                .arg(&self.id)
                .arg("--dir")
                .arg(self.vm_dir());
            // A terminal's master goes where the runtime's would; input comes on stdin.
            if let Some(console) = &stdio.console_path {
                cmd.arg("--console-socket").arg(console);
            }
            if stdio.stdin.is_some() {
                cmd.arg("--stdin");
            }
            {
                use std::os::unix::process::CommandExt;
                // SAFETY: sigprocmask on an initialised set only: async-signal-safe. The
                // shim finds SIGUSR1 blocked, so a start cannot kill it before it waits.
                unsafe {
                    cmd.pre_exec(|| {
                        let mut set: libc::sigset_t = std::mem::zeroed();
                        libc::sigemptyset(&mut set);
                        libc::sigaddset(&mut set, libc::SIGUSR1);
                        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                        Ok(())
                    });
                }
            }
            cmd.spawn()
                .map(|c| c.id().to_string())
                .map_err(|e| format!("monitor: start {}: {e} [layer: vm]", shim.display()))
        })?;
        let pid: i32 = pid
            .parse()
            .map_err(|_| format!("monitor: bad pid from the shim's start: {pid:?}"))?;
        self.wait_booted(pid)?;
        Ok(pid)
    }

    /// Waits until the shim has booted the VM (its `vm.state`), so that a VM container is
    /// created only once its VM answers; a shim that ends first fails the create with its
    /// reason. The shim is not reaped here (the monitor's loop reaps its children).
    fn wait_booted(&self, pid: i32) -> Result<(), String> {
        let vm = self.vm_dir();
        let t0 = std::time::Instant::now();
        loop {
            if vm.join("vm.state").exists() {
                return Ok(());
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if matches!(state, None | Some("Z") | Some("X")) {
                let reason = std::fs::read_to_string(vm.join("vm-exit-reason"))
                    .unwrap_or_else(|_| "its VM shim ended before the VM booted".into());
                let reason = reason.trim();
                let layer = if reason.contains("[layer: ") {
                    ""
                } else {
                    " [layer: vm]"
                };
                return Err(format!("container {}: {reason}{layer}", self.id));
            }
            if t0.elapsed() > std::time::Duration::from_secs(150) {
                return Err(format!(
                    "container {}: its VM did not boot in 150 s [layer: vm]",
                    self.id
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Signals a VM container's shim.
    fn signal_shim(&self, sig: i32) -> Result<(), String> {
        // SAFETY: kill with the shim's pid (a child of this monitor, reaped only by it).
        if unsafe { libc::kill(self.pid.get(), sig) } != 0 {
            return Err(format!(
                "container {}: signal its VM shim: {}",
                self.id,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Starts the created container's process.
    pub fn start(&self) -> Result<(), String> {
        if self.vm_shim.is_some() {
            return self.signal_shim(libc::SIGUSR1);
        }
        in_child(|| {
            self.runtime_logging();
            ops::start(&self.root, &self.id)
                .map(|_| String::new())
                .map_err(|e| e.to_string())
        })
        .map(drop)
    }

    /// Signals every process of the container (through its cgroup).
    pub fn kill_all(&self, sig: i32) -> Result<(), String> {
        if self.vm_shim.is_some() {
            return self.signal_shim(sig);
        }
        in_child(|| {
            ops::kill(&self.root, &self.id, sig, true)
                .map(|_| String::new())
                .map_err(|e| e.to_string())
        })
        .map(drop)
    }

    /// Once the init has exited: whether the OOM killer acted in its cgroup. Runs in the
    /// monitor itself: its work is over, its memory no longer matters.
    pub fn oom_killed(&self) -> bool {
        if self.vm_shim.is_some() {
            // The guest's runtime saw it; the shim left the mark.
            return self.vm_dir().join(strata_vmpod::shim::OOM_KILLED).exists();
        }
        self.root
            .load(&self.id)
            .map(|s| strata_runtime::cgroups::Manager::oom_kills(&s.cgroup_paths) > 0)
            .unwrap_or(false)
    }

    /// After the exit is recorded: the runtime's delete (what is left in the cgroups, the
    /// cgroups, the state, the poststop hooks).
    pub fn delete(&self) -> Result<(), String> {
        if self.vm_shim.is_some() {
            // The VM went with its shim; its sockets and console log stay for `describe`
            // until the monitor's directory goes.
            return Ok(());
        }
        self.runtime_logging();
        ops::delete(&self.root, &self.id, true).map_err(|e| e.to_string())
    }

    /// After a failed start: removes what create made.
    pub fn discard(&self) {
        if self.vm_shim.is_some() {
            let _ = self.signal_shim(libc::SIGKILL);
            return;
        }
        let _ = in_child(|| {
            ops::delete(&self.root, &self.id, true)
                .map(|_| String::new())
                .map_err(|e| e.to_string())
        });
    }
}

/// The raw descriptor of an optional owned one (for the close list).
pub fn raw(fd: &Option<std::os::fd::OwnedFd>) -> Option<i32> {
    fd.as_ref().map(|f| f.as_raw_fd())
}
