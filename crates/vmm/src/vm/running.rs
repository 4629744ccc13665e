//! A started VM: its vCPU threads, waiting for the guest to stop, pause/resume, snapshot.

use super::Vm;
use crate::allocator::memory::GuestMemoryMmap;
use crate::config::VmConfig;
use crate::dispatcher::exit::VcpuOutcome;
use crate::dispatcher::kick;
use crate::dispatcher::vcpu::{self, VcpuShared};
use crate::error::{Error, Result};
use crate::interpreter::serial::SerialDevice;
use crate::interpreter::virtio::mmio::MmioTransport;
use crate::interpreter::virtio::net;
use crate::security::seccomp::ThreadKind;
use crate::security::spawn_confined;
use crate::snapshot::{memfile, state, Snapshot};
use kvm_ioctls::VmFd;
use std::os::unix::thread::JoinHandleExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a pause may take before it is reported as failed.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A VM whose vCPU threads are running (or parked).
pub struct RunningVm {
    /// The KVM VM.
    pub vm: VmFd,
    /// Guest memory.
    pub mem: GuestMemoryMmap,
    /// Shared with vCPU threads.
    pub shared: Arc<VcpuShared>,
    threads: Vec<libc::pthread_t>,
    outcomes: Mutex<Option<Receiver<(usize, VcpuOutcome)>>>,
    serial: Arc<Mutex<SerialDevice>>,
    /// virtio transports.
    pub transports: Vec<Arc<Mutex<MmioTransport>>>,
    /// Configuration.
    pub config: VmConfig,
    /// When it started.
    pub started: Instant,
}

impl Vm {
    /// Starts one thread per vCPU (each installs its seccomp filter first).
    pub fn start(mut self) -> Result<RunningVm> {
        kick::install_handler();
        let confine = self.config.seccomp;
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        for (id, mut v) in self.vcpus.drain(..).enumerate() {
            let tx = tx.clone();
            let buses = self.buses.clone();
            let shared = self.shared.clone();
            let h = spawn_confined(&format!("vcpu{id}"), ThreadKind::Vcpu, confine, move || {
                kick::register_current(&mut v);
                let o = vcpu::run(id, &mut v, &buses, &shared);
                kick::unregister_current();
                let _ = tx.send((id, o));
                // The vCPU fd stays open until the process exits: closing it here would
                // make the VM teardown (slow on PVM) part of every stop.
                std::mem::forget(v);
            })?;
            threads.push(h.into_pthread_t());
        }
        for (i, rx) in self.net_rx.drain(..).enumerate() {
            let shared = self.shared.clone();
            spawn_confined(
                &format!("net{i}-rx"),
                ThreadKind::Device,
                confine,
                move || {
                    net::rx_loop(rx.tap, rx.pending, rx.transport, || {
                        shared.stop.load(Ordering::Acquire)
                    });
                },
            )?;
        }
        if console_input_wanted() {
            let serial = self.serial.clone();
            let shared = self.shared.clone();
            spawn_confined("console-in", ThreadKind::Device, confine, move || {
                console_input(&serial, || shared.stop.load(Ordering::Acquire));
            })?;
        }
        if let Some(m) = self.vsock_mux.take() {
            let shared = self.shared.clone();
            spawn_confined("vsock-mux", ThreadKind::VsockMuxer, confine, move || {
                m.run(|| shared.stop.load(Ordering::Acquire));
            })?;
        }
        Ok(RunningVm {
            vm: self.vm,
            mem: self.mem,
            shared: self.shared,
            threads,
            outcomes: Mutex::new(Some(rx)),
            serial: self.serial,
            transports: self.transports,
            config: self.config,
            started: Instant::now(),
        })
    }
}

/// Standard input feeds the serial console when it is a terminal, a pipe or a socket (not
/// /dev/null or a regular file, so batch runs start no extra thread).
fn console_input_wanted() -> bool {
    // SAFETY: fstat on fd 0 into a zeroed stat buffer we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the buffer is valid for the call.
    if unsafe { libc::fstat(0, &mut st) } != 0 {
        return false;
    }
    matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
        || std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// Copies standard input into the UART's receive FIFO until EOF or stop. Bytes the FIFO has
/// no room for are retried, so the guest sees everything in order.
fn console_input(serial: &Mutex<SerialDevice>, should_stop: impl Fn() -> bool) {
    let mut buf = [0u8; 64];
    loop {
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if should_stop() {
            return;
        }
        if r <= 0 {
            continue;
        }
        // SAFETY: reading into our buffer of the given length.
        let n = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            return;
        }
        let mut rest = &buf[..n as usize];
        while !rest.is_empty() && !should_stop() {
            let done = serial.lock().expect("serial lock").enqueue_input(rest);
            rest = &rest[done..];
            if !rest.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

impl RunningVm {
    fn kick_all(&self) {
        for t in &self.threads {
            kick::kick(*t);
        }
    }

    /// Waits for the first vCPU to end, stops the others, flushes the console; Ok when the
    /// guest powered off or reset (or the VMM was asked to stop).
    pub fn wait(&self) -> Result<()> {
        let rx = self
            .outcomes
            .lock()
            .expect("outcomes lock")
            .take()
            .ok_or_else(|| Error::Device("dispatcher: already waited".into()))?;
        let first = rx.recv();
        self.shared.stop.store(true, Ordering::Release);
        self.shared.cv.notify_all();
        self.kick_all();
        self.serial.lock().expect("serial lock").flush();
        if let Some(v) = &self.config.vsock {
            let _ = std::fs::remove_file(&v.uds_path);
        }
        match first {
            Ok((_, VcpuOutcome::GuestStop | VcpuOutcome::Stopped)) => Ok(()),
            Ok((id, VcpuOutcome::Failed(kind))) => Err(Error::Vcpu { vcpu: id, kind }),
            Err(_) => Err(Error::Device("dispatcher: no vcpu outcome".into())),
        }
    }

    /// Asks every vCPU to leave its loop; `wait` then returns Ok.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.cv.notify_all();
        self.kick_all();
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.shared.pause.lock().expect("pause lock").requested
    }

    /// Parks every vCPU (each saves its state) and returns once all are parked.
    pub fn pause(&self) -> Result<()> {
        {
            let mut p = self.shared.pause.lock().expect("pause lock");
            if p.requested {
                return Ok(());
            }
            p.requested = true;
            for s in p.states.iter_mut() {
                *s = None;
            }
            self.shared.pause_flag.store(true, Ordering::Release);
        }
        self.kick_all();
        let n = self.threads.len();
        let deadline = Instant::now() + PAUSE_TIMEOUT;
        let mut p = self.shared.pause.lock().expect("pause lock");
        while p.parked < n {
            if self.shared.stop.load(Ordering::Acquire) {
                return Err(Error::Device(
                    "dispatcher: pause: the vm is stopping".into(),
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Device(format!(
                    "dispatcher: pause: only {} of {n} vcpus parked",
                    p.parked
                )));
            }
            p = self
                .shared
                .cv
                .wait_timeout(p, left.min(Duration::from_millis(50)))
                .expect("lock")
                .0;
            if p.parked < n {
                drop(p);
                self.kick_all();
                p = self.shared.pause.lock().expect("pause lock");
            }
        }
        Ok(())
    }

    /// Lets parked vCPUs run again.
    pub fn resume(&self) {
        let mut p = self.shared.pause.lock().expect("pause lock");
        p.requested = false;
        self.shared.pause_flag.store(false, Ordering::Release);
        self.shared.cv.notify_all();
        let deadline = Instant::now() + PAUSE_TIMEOUT;
        while p.parked > 0 && Instant::now() < deadline {
            p = self
                .shared
                .cv
                .wait_timeout(p, Duration::from_millis(50))
                .expect("lock")
                .0;
        }
    }

    /// Writes a snapshot of the paused VM: `mem_path` gets guest memory, `snap_path` the rest.
    pub fn snapshot(&self, snap_path: &Path, mem_path: &Path) -> Result<()> {
        let vcpus = {
            let p = self.shared.pause.lock().expect("pause lock");
            if !p.requested || p.parked < self.threads.len() {
                return Err(Error::Config("snapshot: the vm must be paused".into()));
            }
            p.states
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    Some(Ok(s)) => Ok(s.clone()),
                    Some(Err(e)) => Err(Error::Device(format!("snapshot: vcpu {i}: {e}"))),
                    None => Err(Error::Device(format!("snapshot: vcpu {i}: no state"))),
                })
                .collect::<Result<Vec<_>>>()?
        };
        let vm = state::save_vm(&self.vm)?;
        let devices = self
            .transports
            .iter()
            .map(|t| t.lock().expect("transport lock").save_state())
            .collect();
        memfile::save(&self.mem, mem_path)?;
        let snap = Snapshot {
            version: crate::snapshot::VERSION,
            config: self.config.clone(),
            mem_file: mem_path.to_path_buf(),
            vcpus,
            vm,
            devices,
        };
        snap.save(snap_path)
    }
}
