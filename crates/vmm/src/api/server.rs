//! API resources: machine-config, boot-source, drives, entropy, network-interfaces, vsock,
//! actions (InstanceStart, Pause, Resume, Stop), PATCH /vm, snapshot create/load, metrics.

use super::http::{read_request, write_response, Request, Response};
use crate::config::{BootSource, Drive, Entropy, MachineConfig, NetIface, VmConfig, VsockConfig};
use crate::error::{Error, Result};
use crate::security::seccomp::{self, ThreadKind};
use crate::security::spawn_confined;
use crate::snapshot::Snapshot;
use crate::vm::{RunningVm, Vm};
use serde::Deserialize;
use serde_json::json;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The API's view of the VM.
pub struct ApiState {
    /// Configuration collected before start.
    pub config: VmConfig,
    /// The VM once started.
    pub running: Option<Arc<RunningVm>>,
    /// Socket path (removed at exit).
    pub socket: PathBuf,
    /// Stop the VM once the current response is written (the process exits right after
    /// the VM stops, so the client must have its answer first).
    pub stop_after_response: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Action {
    action_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VmStateReq {
    state: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotCreate {
    snapshot_path: PathBuf,
    mem_file_path: PathBuf,
    #[serde(default)]
    #[allow(dead_code)]
    snapshot_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotLoad {
    snapshot_path: PathBuf,
    #[serde(default)]
    mem_file_path: Option<PathBuf>,
    #[serde(default)]
    resume_vm: bool,
}

fn parse<T: for<'de> Deserialize<'de>>(req: &Request) -> std::result::Result<T, Response> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Response::fault(400, format!("malformed json: {e}")))
}

/// Starts `vm` and a waiter thread that exits the process when the guest stops.
fn launch(vm: Vm, socket: PathBuf) -> Result<Arc<RunningVm>> {
    let seccomp_on = vm.config.seccomp;
    let running = Arc::new(vm.start()?);
    let r = running.clone();
    let waiter = spawn_confined("waiter", ThreadKind::Main, seccomp_on, move || {
        let res = r.wait();
        let _ = std::fs::remove_file(&socket);
        let code = match res {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("strata-vmm: {e}");
                e.exit_status()
            }
        };
        std::process::exit(code);
    });
    if let Err(e) = waiter {
        // A VM nobody waits for must not keep running.
        running.stop();
        return Err(e);
    }
    Ok(running)
}

impl ApiState {
    fn not_started(&self) -> std::result::Result<(), Response> {
        if self.running.is_some() {
            return Err(Response::fault(400, "the vm is already started"));
        }
        Ok(())
    }

    fn running(&self) -> std::result::Result<&Arc<RunningVm>, Response> {
        self.running
            .as_ref()
            .ok_or_else(|| Response::fault(400, "the vm is not started"))
    }

    /// Starts from the collected configuration.
    pub fn start(&mut self) -> Result<()> {
        let vm = Vm::build(&self.config)?;
        self.running = Some(launch(vm, self.socket.clone())?);
        Ok(())
    }

    /// Starts from a snapshot.
    pub fn restore(&mut self, snap: &Snapshot, paused: bool) -> Result<()> {
        let vm = Vm::restore(snap)?;
        if paused {
            let mut p = vm.shared.pause.lock().expect("pause lock");
            p.requested = true;
            vm.shared.pause_flag.store(true, Ordering::Release);
        }
        self.config = snap.config.clone();
        self.running = Some(launch(vm, self.socket.clone())?);
        Ok(())
    }

    fn state_name(&self) -> &'static str {
        match &self.running {
            None => "Not started",
            Some(r) if r.is_paused() => "Paused",
            Some(_) => "Running",
        }
    }

    /// Handles one request.
    pub fn handle(&mut self, req: &Request) -> Response {
        match self.route(req) {
            Ok(r) => r,
            Err(r) => r,
        }
    }

    fn route(&mut self, req: &Request) -> std::result::Result<Response, Response> {
        let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), segs.as_slice()) {
            ("GET", [""]) => Ok(Response::json(&json!({
                "id": "strata-vmm",
                "state": self.state_name(),
                "vmm_version": env!("CARGO_PKG_VERSION"),
                "app_name": "strata-vmm",
            }))),
            ("GET", ["vm", "config"]) => Ok(Response::json(
                &serde_json::to_value(&self.config).unwrap_or_default(),
            )),
            ("GET", ["machine-config"]) => Ok(Response::json(
                &serde_json::to_value(&self.config.machine_config).unwrap_or_default(),
            )),
            ("PUT", ["machine-config"]) => {
                self.not_started()?;
                let m: MachineConfig = parse(req)?;
                self.config.machine_config = m;
                Ok(Response::no_content())
            }
            ("PUT", ["boot-source"]) => {
                self.not_started()?;
                let b: BootSource = parse(req)?;
                self.config.boot_source = Some(b);
                Ok(Response::no_content())
            }
            ("PUT", ["drives", id]) => {
                self.not_started()?;
                let d: Drive = parse(req)?;
                if d.drive_id != *id {
                    return Err(Response::fault(400, "drive_id does not match the path"));
                }
                self.config.drives.retain(|x| x.drive_id != d.drive_id);
                self.config.drives.push(d);
                Ok(Response::no_content())
            }
            ("PUT", ["entropy"]) => {
                self.not_started()?;
                let e: Entropy = parse(req)?;
                self.config.entropy = Some(e);
                Ok(Response::no_content())
            }
            ("PUT", ["network-interfaces", id]) => {
                self.not_started()?;
                let n: NetIface = parse(req)?;
                if n.iface_id != *id {
                    return Err(Response::fault(400, "iface_id does not match the path"));
                }
                self.config
                    .network_interfaces
                    .retain(|x| x.iface_id != n.iface_id);
                self.config.network_interfaces.push(n);
                Ok(Response::no_content())
            }
            ("PUT", ["vsock"]) => {
                self.not_started()?;
                let v: VsockConfig = parse(req)?;
                self.config.vsock = Some(v);
                Ok(Response::no_content())
            }
            ("PUT", ["actions"]) => {
                let a: Action = parse(req)?;
                match a.action_type.as_str() {
                    "InstanceStart" => {
                        self.not_started()?;
                        self.start().map_err(|e| Response::fault(400, e))?;
                    }
                    "Pause" => self
                        .running()?
                        .pause()
                        .map_err(|e| Response::fault(400, e))?,
                    "Resume" => self.running()?.resume(),
                    "Stop" | "SendCtrlAltDel" => {
                        self.running()?;
                        self.stop_after_response = true;
                    }
                    other => {
                        return Err(Response::fault(400, format!("unknown action_type {other}")))
                    }
                }
                Ok(Response::no_content())
            }
            ("PATCH", ["vm"]) => {
                let s: VmStateReq = parse(req)?;
                let r = self.running()?;
                match s.state.as_str() {
                    "Paused" => r.pause().map_err(|e| Response::fault(400, e))?,
                    "Resumed" => r.resume(),
                    other => return Err(Response::fault(400, format!("unknown state {other}"))),
                }
                Ok(Response::no_content())
            }
            ("PUT", ["snapshot", "create"]) => {
                let s: SnapshotCreate = parse(req)?;
                self.running()?
                    .snapshot(&s.snapshot_path, &s.mem_file_path)
                    .map_err(|e| Response::fault(400, e))?;
                Ok(Response::no_content())
            }
            ("PUT", ["snapshot", "load"]) => {
                self.not_started()?;
                let s: SnapshotLoad = parse(req)?;
                let mut snap =
                    Snapshot::load(&s.snapshot_path).map_err(|e| Response::fault(400, e))?;
                if let Some(m) = s.mem_file_path {
                    snap.mem_file = m;
                }
                self.restore(&snap, !s.resume_vm)
                    .map_err(|e| Response::fault(400, e))?;
                Ok(Response::no_content())
            }
            ("GET", ["metrics"]) => {
                let r = self.running()?;
                let c = &r.shared.counters;
                let devs: Vec<_> = r
                    .transports
                    .iter()
                    .map(|t| {
                        let t = t.lock().expect("transport lock");
                        json!({
                            "notifies": t.stats.notifies.load(Ordering::Relaxed),
                            "interrupts": t.stats.interrupts.load(Ordering::Relaxed),
                            "invalid_accesses": t.stats.invalid_accesses.load(Ordering::Relaxed),
                        })
                    })
                    .collect();
                Ok(Response::json(&json!({
                    "state": self.state_name(),
                    "uptime_ms": r.started.elapsed().as_millis() as u64,
                    "vcpu_exits": {
                        "pio": c.pio.load(Ordering::Relaxed),
                        "mmio": c.mmio.load(Ordering::Relaxed),
                        "other": c.other.load(Ordering::Relaxed),
                    },
                    "virtio": devs,
                })))
            }
            (_, _) => Err(Response::fault(
                404,
                format!("no resource {} {}", req.method, req.path),
            )),
        }
    }
}

/// Binds the API socket (refusing a path that exists and is not a socket).
pub fn bind(path: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(Error::Config(format!(
                "api socket {}: exists and is not a socket",
                path.display()
            )));
        }
        std::fs::remove_file(path)
            .map_err(|e| Error::io(format!("api socket {}", path.display()), e))?;
    }
    UnixListener::bind(path)
        .map_err(|e| Error::io(format!("api socket {}: bind", path.display()), e))
}

/// Serves requests forever on the calling thread (the process exits when the guest stops).
/// The API thread's seccomp filter is installed once the VM runs (building a VM needs
/// syscalls the serving loop never does).
pub fn serve(listener: UnixListener, mut state: ApiState, seccomp_on: bool) -> Result<()> {
    let filter = if seccomp_on {
        Some(seccomp::filter(ThreadKind::Api)?)
    } else {
        None
    };
    let mut filtered = false;
    for conn in listener.incoming() {
        if !filtered && state.running.is_some() {
            if let Some(f) = &filter {
                seccomp::apply(f)?;
            }
            filtered = true;
        }
        let mut s = match conn {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("api: accept: {e}");
                continue;
            }
        };
        // A client that connects and sends nothing must not wedge the API.
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let _ = s.set_write_timeout(Some(std::time::Duration::from_secs(5)));
        let resp = match read_request(&mut s) {
            Ok(req) => state.handle(&req),
            Err(r) => r,
        };
        write_response(&mut s, &resp);
        drop(s);
        if std::mem::take(&mut state.stop_after_response) {
            if let Some(r) = &state.running {
                r.stop();
            }
        }
    }
    Ok(())
}
