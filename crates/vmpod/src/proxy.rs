//! The shim's proxy to its guest. The VM's agent port has one client, the shim; the
//! container's monitor reaches the guest through the shim, for execs: a unix socket in the
//! VM's directory (the monitor's, root's only) that speaks the agent protocol. A VM
//! container's proxy passes only execs in its own container and their input. A pod VM's
//! proxy also serves the pod's containers' shims: it attaches their layers
//! ([`crate::slots`]) and block devices ([`crate::scsi`], detached when the shim goes) and
//! passes their runs, and kills and execs in containers it ran.
//! Each request is passed to the agent under a tag of the shim's, and its replies come back
//! under the client's.

use crate::agent::Agent;
use crate::scsi::ScsiDisks;
use crate::slots::Slots;
use crate::{io_err, Result};
use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use strata_agent::{read_frame, write_frame, Reply, Request, Tagged};

/// The proxy's socket in the VM's directory.
pub const SOCKET: &str = "proxy.sock";

/// Who the proxy serves.
pub enum Access {
    /// A VM container's monitor: execs in container `0`.
    Container(String),
    /// A pod VM's containers: their layers go on these layer disks, their block devices
    /// become these SCSI disks.
    Pod(Arc<Slots>, Arc<ScsiDisks>),
}

/// The proxy's state.
struct Proxy {
    agent: Arc<Agent>,
    access: Access,
    /// The containers running in the guest through this proxy.
    running: Arc<Mutex<HashSet<String>>>,
}

/// Serves the proxy in the background.
pub fn serve(agent: Arc<Agent>, dir: &Path, access: Access) -> Result<()> {
    // Bound through a descriptor of the directory: a socket's path holds 108 bytes.
    let d = std::fs::File::open(dir).map_err(io_err(format!("vm dir {}", dir.display())))?;
    let path = format!("/proc/self/fd/{}/{SOCKET}", d.as_raw_fd());
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).map_err(io_err(format!(
        "proxy socket {}",
        dir.join(SOCKET).display()
    )))?;
    let p = Arc::new(Proxy {
        agent,
        access,
        running: Arc::default(),
    });
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let p = Arc::clone(&p);
            std::thread::spawn(move || client(&p, conn));
        }
    });
    Ok(())
}

/// Whether a client may ask `msg` of the guest; `running` are the containers run through
/// the proxy.
fn allowed(
    msg: &Request,
    access: &Access,
    running: &HashSet<String>,
) -> std::result::Result<(), String> {
    match (msg, access) {
        (Request::Input { .. } | Request::Resize { .. }, _) => Ok(()),
        (
            Request::ExecContainer { id: c, .. } | Request::UpdateFile { id: c, .. },
            Access::Container(id),
        ) if c == id => Ok(()),
        (Request::ExecContainer { id: c, .. }, Access::Container(id)) => {
            Err(format!("exec in {c}: this VM serves container {id} only"))
        }
        (_, Access::Container(_)) => {
            Err("only execs, their input and file updates pass the VM's proxy".into())
        }
        (Request::AttachLayers { .. } | Request::AttachDevices { .. }, Access::Pod(..)) => Ok(()),
        (Request::RunContainer { id, .. }, Access::Pod(..)) if running.contains(id) => {
            Err(format!("container {id} already runs in the pod's VM"))
        }
        (Request::RunContainer { .. }, Access::Pod(..)) => Ok(()),
        (
            Request::ExecContainer { id, .. }
            | Request::Kill { id, .. }
            | Request::UpdateFile { id, .. },
            Access::Pod(..),
        ) if running.contains(id) => Ok(()),
        (
            Request::ExecContainer { id, .. }
            | Request::Kill { id, .. }
            | Request::UpdateFile { id, .. },
            Access::Pod(..),
        ) => Err(format!("container {id} does not run in the pod's VM")),
        (_, Access::Pod(..)) => Err(
            "only the pod's containers' layers, devices, runs, kills, execs and input pass the pod VM's proxy"
                .into(),
        ),
    }
}

fn client(p: &Proxy, conn: UnixStream) {
    let Ok(w) = conn.try_clone() else { return };
    let w = Arc::new(Mutex::new(w));
    let mut r = conn;
    // The containers this client ran: its shim stands for their init on the host, so when
    // it goes (even SIGKILLed), they go.
    let mut ran_here = Vec::new();
    let mut attached = Vec::new();
    // The SCSI disks of its block devices, detached when it goes.
    let mut devices_here = Vec::new();
    while let Ok(Some(Tagged { tag, msg })) = read_frame::<Tagged<Request>>(&mut r) {
        let send = {
            let w = Arc::clone(&w);
            move |msg: Reply| -> bool {
                let Ok(mut w) = w.lock() else { return false };
                write_frame(&mut *w, &Tagged { tag, msg }).is_ok()
            }
        };
        if let Request::RunContainer { id, .. } = &msg {
            // A restart: the run it replaces may be ending still (killed with its shim).
            wait_ended(&p.running, id, std::time::Duration::from_secs(30));
        }
        let allowed = {
            let running = p.running.lock().expect("proxy lock");
            allowed(&msg, &p.access, &running)
        };
        if let Err(message) = allowed {
            send(Reply::Error { message });
            continue;
        }
        if let (Request::AttachDevices { devices }, Access::Pod(_, scsi)) = (&msg, &p.access) {
            send(match attach_devices(scsi, devices, &mut devices_here) {
                Ok(serials) => Reply::Attached { serials },
                Err(e) => Reply::Error {
                    message: e.to_string(),
                },
            });
            continue;
        }
        if let (Request::AttachLayers { files }, Access::Pod(slots, _)) = (&msg, &p.access) {
            let files: Vec<_> = files.iter().map(std::path::PathBuf::from).collect();
            send(
                match slots.attach(&files, &|serials| p.agent.unused_disks(serials)) {
                    Ok(a) => {
                        // Its container uses them until its shim goes.
                        attached.extend(a.disks);
                        Reply::Attached { serials: a.serials }
                    }
                    Err(e) => Reply::Error {
                        message: e.to_string(),
                    },
                },
            );
            continue;
        }
        // A run is the container's life: its id is the proxy's from now until it ends.
        let ran = match &msg {
            Request::RunContainer { id, .. } => {
                p.running.lock().expect("proxy lock").insert(id.clone());
                ran_here.push(id.clone());
                Some((id.clone(), Arc::clone(&p.running)))
            }
            _ => None,
        };
        let replies = p.agent.request(msg, "proxied request", None);
        std::thread::spawn(move || {
            let _ended = ran.map(|(id, running)| Ended(id, running));
            let mut replies = match replies {
                Ok(rs) => rs,
                Err(e) => {
                    send(Reply::Error {
                        message: e.to_string(),
                    });
                    return;
                }
            };
            // Read to the end even when the client is gone: a run ends with its container.
            loop {
                match replies.next_reply() {
                    Ok(Some(reply)) => {
                        send(reply);
                    }
                    Ok(None) => return,
                    Err(e) => {
                        send(Reply::Error {
                            message: e.to_string(),
                        });
                        return;
                    }
                }
            }
        });
    }
    let running = p.running.lock().expect("proxy lock").clone();
    let ran_here: Vec<String> = ran_here
        .into_iter()
        .filter(|id| running.contains(id))
        .collect();
    for id in &ran_here {
        let _ = p.agent.request(
            Request::Kill {
                id: id.clone(),
                signal: libc::SIGKILL,
            },
            "kill of a container whose shim went away",
            None,
        );
    }
    if let Access::Pod(slots, scsi) = &p.access {
        slots.release(&attached);
        // Its block devices' disks go once its containers have ended (the guest flushes a
        // disk's writes when its last user closes it).
        if !devices_here.is_empty() {
            for id in &ran_here {
                wait_ended(&p.running, id, std::time::Duration::from_secs(10));
            }
        }
        for serial in &devices_here {
            scsi.detach(serial);
        }
    }
}

/// Attaches `devices` for a client, recording each disk in `here`; their serials. A failed
/// attach detaches those of this request attached before it.
fn attach_devices(
    scsi: &ScsiDisks,
    devices: &[strata_agent::HostDisk],
    here: &mut Vec<String>,
) -> Result<Vec<String>> {
    let mut serials = Vec::new();
    for d in devices {
        match scsi.attach(d) {
            Ok(s) => serials.push(s),
            Err(e) => {
                for s in &serials {
                    scsi.detach(s);
                }
                return Err(e);
            }
        }
    }
    here.extend(serials.iter().cloned());
    Ok(serials)
}

/// Waits up to `limit` for container `id`'s run to end.
fn wait_ended(running: &Mutex<HashSet<String>>, id: &str, limit: std::time::Duration) {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < limit && running.lock().expect("proxy lock").contains(id) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Takes a container off the proxy's running ones when dropped (its run ended).
struct Ended(String, Arc<Mutex<HashSet<String>>>);

impl Drop for Ended {
    fn drop(&mut self) {
        if let Ok(mut r) = self.1.lock() {
            r.remove(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(id: &str) -> Request {
        Request::ExecContainer {
            id: id.into(),
            exec_id: "1".into(),
            process: serde_json::json!({}),
            stdin: false,
            detach: false,
            tty: false,
            size: None,
        }
    }

    fn run(id: &str) -> Request {
        Request::RunContainer {
            id: id.into(),
            spec: serde_json::json!({}),
            layers: vec![],
            files: Default::default(),
            stdin: false,
            tty: false,
            size: None,
        }
    }

    fn kill(id: &str) -> Request {
        Request::Kill {
            id: id.into(),
            signal: 9,
        }
    }

    fn update(id: &str) -> Request {
        Request::UpdateFile {
            id: id.into(),
            dest: "/etc/hosts".into(),
            data: String::new(),
        }
    }

    #[test]
    fn only_execs_in_its_own_container_pass() {
        let c1 = Access::Container("c1".into());
        let none = HashSet::new();
        assert!(allowed(&exec("c1"), &c1, &none).is_ok());
        assert!(allowed(&exec("c2"), &c1, &none).is_err());
        assert!(allowed(&Request::Shutdown, &c1, &none).is_err());
        assert!(allowed(&kill("c1"), &c1, &none).is_err());
        assert!(allowed(&run("c1"), &c1, &none).is_err());
        assert!(allowed(&update("c1"), &c1, &none).is_ok());
        assert!(allowed(&update("c2"), &c1, &none).is_err());
        let attach = Request::AttachLayers { files: vec![] };
        assert!(allowed(&attach, &c1, &none).is_err());
        let devices = Request::AttachDevices { devices: vec![] };
        assert!(allowed(&devices, &c1, &none).is_err());
    }

    #[test]
    fn a_pod_vm_serves_the_containers_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let qmp = Arc::new(crate::qmp::Shared::new(dir.path()));
        let pod = Access::Pod(
            Arc::new(Slots::new(Arc::clone(&qmp))),
            Arc::new(ScsiDisks::new(qmp)),
        );
        let mut running = HashSet::new();
        assert!(allowed(&Request::AttachLayers { files: vec![] }, &pod, &running).is_ok());
        let devices = Request::AttachDevices { devices: vec![] };
        assert!(allowed(&devices, &pod, &running).is_ok());
        assert!(allowed(&run("a"), &pod, &running).is_ok());
        // Nothing reaches a container the proxy did not run.
        assert!(allowed(&exec("a"), &pod, &running).is_err());
        assert!(allowed(&kill("a"), &pod, &running).is_err());
        assert!(allowed(&update("a"), &pod, &running).is_err());
        running.insert("a".to_string());
        assert!(allowed(&update("a"), &pod, &running).is_ok());
        assert!(allowed(&exec("a"), &pod, &running).is_ok());
        assert!(allowed(&kill("a"), &pod, &running).is_ok());
        assert!(allowed(&run("a"), &pod, &running).is_err(), "runs twice");
        assert!(allowed(&Request::Shutdown, &pod, &running).is_err());
        assert!(allowed(&Request::Hello, &pod, &running).is_err());
    }
}
