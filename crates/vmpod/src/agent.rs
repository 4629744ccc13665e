//! The host's client of the agent protocol, over the VM's agent socket. A reader thread
//! routes each reply to the request whose tag it carries; a reply with a tag nobody asked
//! for, of the wrong kind, with bad output encoding or over the frame bound is an error
//! naming the VM layer, never trusted. Requests can be in flight together (a container's
//! run and a kill of it).

use crate::{io_err, Error, Result};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_agent::{decode, read_frame, write_frame, Reply, Request, Tagged};

type Routes = Arc<Mutex<HashMap<u64, Sender<Reply>>>>;

/// A connection to a guest's agent.
pub struct Agent {
    out: Mutex<UnixStream>,
    routes: Routes,
    next: AtomicU64,
    timeout: Duration,
}

/// Who the guest said it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The guest kernel's release.
    pub kernel: String,
    /// The guest's boot id.
    pub boot_id: String,
}

/// A program's result in the guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Its exit status.
    pub code: i32,
}

/// A piece of a running program's life, as the guest told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Output on stdout (1) or stderr (2).
    Output(u8, Vec<u8>),
    /// The exit status.
    Exit(i32),
}

/// The replies of one request, in order.
pub struct Replies {
    rx: Receiver<Reply>,
    what: String,
    timeout: Option<Duration>,
    done: bool,
    oom_killed: bool,
}

impl Replies {
    /// The next event of a program; `None` after its exit. Checked: output on a stream
    /// other than 1 and 2, bad base64, or a reply of another kind is an error.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        if self.done {
            return Ok(None);
        }
        let r = self.recv()?;
        match r {
            Reply::Output { stream, data } if stream == 1 || stream == 2 => {
                let bytes = decode(&data).map_err(io_err(format!("agent: {}", self.what)))?;
                Ok(Some(Event::Output(stream, bytes)))
            }
            Reply::Output { stream, .. } => Err(Error(format!(
                "agent: {}: output on stream {stream}",
                self.what
            ))),
            Reply::Exit { code, oom_killed } => {
                self.done = true;
                self.oom_killed = oom_killed;
                Ok(Some(Event::Exit(code)))
            }
            Reply::Error { message } => {
                self.done = true;
                Err(Error(format!("agent: {message}")))
            }
            other => Err(unexpected(&self.what, &other)),
        }
    }

    /// Whether the exit said the OOM killer acted in the container's cgroup.
    pub fn oom_killed(&self) -> bool {
        self.oom_killed
    }

    /// The next reply as the guest sent it (for the shim's proxy, which passes it on);
    /// `None` after the last.
    pub fn next_reply(&mut self) -> Result<Option<Reply>> {
        if self.done {
            return Ok(None);
        }
        let r = self.recv()?;
        if r.ends() {
            self.done = true;
        }
        Ok(Some(r))
    }

    /// Everything up to the exit.
    pub fn collect(mut self) -> Result<Output> {
        let mut out = Output::default();
        while let Some(e) = self.next_event()? {
            match e {
                Event::Output(1, b) => out.stdout.extend_from_slice(&b),
                Event::Output(_, b) => out.stderr.extend_from_slice(&b),
                Event::Exit(c) => out.code = c,
            }
        }
        Ok(out)
    }

    fn recv(&mut self) -> Result<Reply> {
        let r = match self.timeout {
            Some(t) => self
                .rx
                .recv_timeout(t)
                .map_err(|_| Error(format!("agent: {}: no answer in {t:?}", self.what))),
            None => self
                .rx
                .recv()
                .map_err(|_| Error(format!("agent: {}: the guest went away", self.what))),
        };
        if r.is_err() {
            self.done = true;
        }
        r
    }
}

impl Agent {
    /// Connects to the socket; `timeout` bounds the wait for a request's answer (a
    /// container's run waits as long as the container runs).
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Agent> {
        // Through a descriptor of its directory: a socket's path holds 108 bytes.
        let dir = socket.parent().unwrap_or(Path::new("."));
        let name = socket.file_name().unwrap_or_default();
        let d = std::fs::File::open(dir)
            .map_err(io_err(format!("agent socket {}", socket.display())))?;
        let short = Path::new(&format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&d)
        ))
        .join(name);
        let stream = UnixStream::connect(&short)
            .map_err(io_err(format!("agent socket {}", socket.display())))?;
        let mut rd = stream.try_clone().map_err(io_err("agent socket"))?;
        let routes: Routes = Arc::default();
        let r2 = Arc::clone(&routes);
        std::thread::spawn(move || {
            while let Ok(Some(frame)) = read_frame::<Tagged<Reply>>(&mut rd) {
                let mut routes = r2.lock().expect("routes lock");
                let ends = frame.msg.ends();
                let Some(tx) = routes.get(&frame.tag) else {
                    // A tag nobody asked for: the guest is confused or hostile; dropped.
                    continue;
                };
                let _ = tx.send(frame.msg);
                if ends {
                    routes.remove(&frame.tag);
                }
            }
            // The guest is gone: every waiting request learns it.
            r2.lock().expect("routes lock").clear();
        });
        Ok(Agent {
            out: Mutex::new(stream),
            routes,
            next: AtomicU64::new(1),
            timeout,
        })
    }

    /// Sends `msg`; its replies.
    pub fn request(&self, msg: Request, what: &str, timeout: Option<Duration>) -> Result<Replies> {
        let tag = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel();
        self.routes.lock().expect("routes lock").insert(tag, tx);
        let mut w = self.out.lock().expect("agent socket lock");
        if let Err(e) = write_frame(&mut *w, &Tagged { tag, msg }) {
            self.routes.lock().expect("routes lock").remove(&tag);
            return Err(Error(format!("agent: {what}: send: {e}")));
        }
        Ok(Replies {
            rx,
            what: what.to_string(),
            timeout,
            done: false,
            oom_killed: false,
        })
    }

    fn one(&self, msg: Request, what: &str) -> Result<Reply> {
        self.request(msg, what, Some(self.timeout))?.recv()
    }

    /// Asks who the guest is.
    pub fn hello(&self) -> Result<Hello> {
        match self.one(Request::Hello, "hello")? {
            Reply::Hello {
                kernel, boot_id, ..
            } if !kernel.is_empty() && kernel.len() < 256 && boot_id.len() < 64 => {
                Ok(Hello { kernel, boot_id })
            }
            other => Err(unexpected("hello", &other)),
        }
    }

    /// Runs `args` in the guest; its output and exit status.
    pub fn exec(&self, args: &[&str]) -> Result<Output> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let what = format!("exec {args:?}");
        self.request(Request::Exec { args }, &what, Some(self.timeout))?
            .collect()
    }

    /// Starts container `id` in the guest (its image's layers are the disks with serials
    /// `layers`, the lowest first); its events until it exits, however long it runs.
    pub fn run_container(
        &self,
        id: &str,
        spec: &serde_json::Value,
        layers: &[String],
    ) -> Result<Replies> {
        self.run_container_with(id, spec, layers, (false, None))
    }

    /// [`Agent::run_container`], with `stdin` (input under the container's id) and a
    /// `terminal` (its first size, 0 if unknown; resized under the container's id).
    pub fn run_container_with(
        &self,
        id: &str,
        spec: &serde_json::Value,
        layers: &[String],
        (stdin, terminal): (bool, Option<(u16, u16)>),
    ) -> Result<Replies> {
        let req = Request::RunContainer {
            id: id.to_string(),
            spec: spec.clone(),
            layers: layers.to_vec(),
            files: host_files(spec),
            stdin,
            tty: terminal.is_some(),
            size: terminal,
        };
        self.request(req, &format!("container {id}"), None)
    }

    /// Runs `process` (OCI form) in running container `id` as exec `exec_id`; its events
    /// until it exits (detached: until it runs). With `stdin`, [`Agent::input`] feeds it;
    /// with a `terminal` (its first size in rows and columns, 0 if unknown), it has a
    /// terminal in the guest ([`Agent::resize`] sizes it).
    pub fn exec_container(
        &self,
        id: &str,
        exec_id: &str,
        process: &serde_json::Value,
        (stdin, detach, terminal): (bool, bool, Option<(u16, u16)>),
    ) -> Result<Replies> {
        let req = Request::ExecContainer {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            process: process.clone(),
            stdin,
            detach,
            tty: terminal.is_some(),
            size: terminal,
        };
        self.request(req, &format!("exec in {id}"), None)
    }

    /// Input for exec `exec_id` (`eof`: its end).
    pub fn input(&self, exec_id: &str, data: &[u8], eof: bool) -> Result<()> {
        let what = format!("input for {exec_id}");
        let req = Request::Input {
            exec_id: exec_id.to_string(),
            data: strata_agent::encode(data),
            eof,
        };
        match self.one(req, &what)? {
            Reply::Done => Ok(()),
            Reply::Error { message } => Err(Error(format!("agent: {message}"))),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// Resizes exec `exec_id`'s terminal.
    pub fn resize(&self, exec_id: &str, rows: u16, cols: u16) -> Result<()> {
        let what = format!("resize {exec_id}");
        let req = Request::Resize {
            exec_id: exec_id.to_string(),
            rows,
            cols,
        };
        match self.one(req, &what)? {
            Reply::Done => Ok(()),
            Reply::Error { message } => Err(Error(format!("agent: {message}"))),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// Gives the guest's interface with `link`'s MAC the link's address, MTU and gateway.
    pub fn network(&self, link: &crate::tap::PodLink) -> Result<()> {
        let what = format!("network {}", link.address);
        let req = Request::Network {
            mac: link.mac.clone(),
            address: link.address.clone(),
            gateway: link.gateway.clone(),
            mtu: link.mtu,
        };
        match self.one(req, &what)? {
            Reply::Done => Ok(()),
            Reply::Error { message } => Err(Error(format!("agent: {message}"))),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// Signals container `id`'s init.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let what = format!("kill {id}");
        let req = Request::Kill {
            id: id.to_string(),
            signal,
        };
        match self.one(req, &what)? {
            Reply::Done => Ok(()),
            Reply::Error { message } => Err(Error(format!("agent: {message}"))),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// Gives container `id` the new content of its file mounted at `dest` (one that its run
    /// brought from the host).
    pub fn update_file(&self, id: &str, dest: &str, content: &[u8]) -> Result<()> {
        let what = format!("update {dest} of {id}");
        let req = Request::UpdateFile {
            id: id.to_string(),
            dest: dest.to_string(),
            data: strata_agent::encode(content),
        };
        match self.one(req, &what)? {
            Reply::Done => Ok(()),
            Reply::Error { message } => Err(Error(format!("agent: {message}"))),
            other => Err(unexpected(&what, &other)),
        }
    }

    /// Attaches layer images to the pod's VM (asked of a pod VM's proxy); the serials of
    /// their disks, in order.
    pub fn attach_layers(&self, files: &[std::path::PathBuf]) -> Result<Vec<String>> {
        let what = "attach layers";
        let req = Request::AttachLayers {
            files: files
                .iter()
                .map(|f| f.to_string_lossy().into_owned())
                .collect(),
        };
        self.attached(req, files.len(), what)
    }

    /// Attaches block devices to the pod's VM (asked of a pod VM's proxy) for as long as this
    /// connection lasts; the serials of their disks, in order.
    pub fn attach_devices(&self, disks: &[crate::devices::Disk]) -> Result<Vec<String>> {
        let what = "attach devices";
        let mut devices = Vec::new();
        for d in disks {
            let Some(path) = d.host.to_str() else {
                return Err(Error(format!(
                    "device {}: not a UTF-8 path",
                    d.host.display()
                )));
            };
            devices.push(strata_agent::HostDisk {
                path: path.to_string(),
                read_only: d.read_only,
            });
        }
        self.attached(Request::AttachDevices { devices }, disks.len(), what)
    }

    /// The serials of the `n` disks an attach request (`req`) got.
    fn attached(&self, req: Request, n: usize, what: &str) -> Result<Vec<String>> {
        match self.one(req, what)? {
            Reply::Attached { serials }
                if serials.len() == n && serials.iter().all(|s| s.len() <= 20 && !s.is_empty()) =>
            {
                Ok(serials)
            }
            Reply::Error { message } => Err(Error(message)),
            other => Err(unexpected(what, &other)),
        }
    }

    /// Which of the disks `serials` the guest holds no file system on any more (checked
    /// against what was asked: the guest's answer is untrusted).
    pub fn unused_disks(&self, serials: &[String]) -> Result<Vec<String>> {
        let what = "unused disks";
        let req = Request::UnusedDisks {
            serials: serials.to_vec(),
        };
        match self.one(req, what)? {
            Reply::Unused { serials: unused } if unused.iter().all(|u| serials.contains(u)) => {
                Ok(unused)
            }
            Reply::Error { message } => Err(Error(message)),
            other => Err(unexpected(what, &other)),
        }
    }

    /// Powers the guest off.
    pub fn shutdown(&self) -> Result<()> {
        match self.one(Request::Shutdown, "shutdown")? {
            Reply::Bye => Ok(()),
            other => Err(unexpected("shutdown", &other)),
        }
    }
}

/// The small regular files on the host that `spec` bind-mounts (the engine's `/etc/hosts`,
/// `resolv.conf`, `hostname`): (destination, host path). The guest has no such files: it
/// gets their content at the start ([`Request::RunContainer`]'s `files`) and their changes
/// later ([`Agent::update_file`]).
pub fn host_file_mounts(spec: &serde_json::Value) -> Vec<(String, std::path::PathBuf)> {
    const MAX: u64 = 64 << 10;
    let mut out = Vec::new();
    for m in spec["mounts"].as_array().into_iter().flatten() {
        let bind = strata_agent::is_bind_mount(m) && !strata_agent::is_guest_init(m);
        let (Some(src), Some(dest)) = (m["source"].as_str(), m["destination"].as_str()) else {
            continue;
        };
        let small_file = std::fs::metadata(src).is_ok_and(|md| md.is_file() && md.len() <= MAX);
        if bind && small_file && out.len() < 16 && !out.iter().any(|(d, _)| d == dest) {
            out.push((dest.to_string(), std::path::PathBuf::from(src)));
        }
    }
    out
}

/// [`host_file_mounts`]' content, base64, by destination.
fn host_files(spec: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    host_file_mounts(spec)
        .into_iter()
        .filter_map(|(dest, src)| Some((dest, strata_agent::encode(&std::fs::read(src).ok()?))))
        .collect()
}

fn unexpected(what: &str, r: &Reply) -> Error {
    let kind = match r {
        Reply::Hello { .. } => "hello",
        Reply::Output { .. } => "output",
        Reply::Exit { .. } => "exit",
        Reply::Done => "done",
        Reply::Bye => "bye",
        Reply::Attached { .. } => "attached",
        Reply::Unused { .. } => "unused",
        Reply::Error { .. } => "error",
    };
    Error(format!("agent: {what}: an unexpected {kind} reply"))
}
