//! A client of QEMU's machine protocol (QMP: one JSON object a line on a unix socket): the
//! pod VM's shim changes the VM's disks with it while the guest runs.

use crate::{io_err, Error, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The QMP socket's name in the VM's directory.
pub const SOCKET: &str = "qmp.sock";

/// A QMP connection, past its capabilities negotiation.
pub struct Qmp {
    w: UnixStream,
    r: BufReader<UnixStream>,
    /// A read or write failed (a timeout, say): an answer may still come, to be taken for
    /// the next command's, so the connection is not used again.
    broken: bool,
}

impl Qmp {
    /// Connects to the socket in `dir` (waiting up to 10 s for QEMU to make it).
    pub fn connect(dir: &Path) -> Result<Qmp> {
        // Through a descriptor of the directory: a socket's path holds 108 bytes.
        let d = std::fs::File::open(dir).map_err(io_err(format!("vm dir {}", dir.display())))?;
        let path = format!(
            "/proc/self/fd/{}/{SOCKET}",
            std::os::fd::AsRawFd::as_raw_fd(&d)
        );
        let t0 = Instant::now();
        let w = loop {
            match UnixStream::connect(&path) {
                Ok(s) => break s,
                Err(_) if t0.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(Error(format!("qmp socket in {}: {e}", dir.display()))),
            }
        };
        w.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io_err("qmp socket"))?;
        let r = BufReader::new(w.try_clone().map_err(io_err("qmp socket"))?);
        let mut q = Qmp {
            w,
            r,
            broken: false,
        };
        let greeting = q.read()?;
        if greeting.get("QMP").is_none() {
            return Err(Error(format!("qmp: not a QMP greeting: {greeting}")));
        }
        q.execute("qmp_capabilities", json!({}))?;
        Ok(q)
    }

    fn read(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self.r.read_line(&mut line).map_err(|e| {
            self.broken = true;
            Error(format!("qmp: read: {e}"))
        })?;
        if n == 0 {
            self.broken = true;
            return Err(Error("qmp: qemu closed its socket".into()));
        }
        serde_json::from_str(&line).map_err(|e| Error(format!("qmp: a bad line: {e}")))
    }

    /// Runs `command` with `arguments`; its `return`, or its error as an error.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let mut line = json!({"execute": command, "arguments": arguments}).to_string();
        line.push('\n');
        if let Err(e) = self.w.write_all(line.as_bytes()) {
            self.broken = true;
            return Err(Error(format!("qmp: {command}: {e}")));
        }
        loop {
            let v = self.read()?;
            if v.get("event").is_some() {
                continue;
            }
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            let why = v["error"]["desc"].as_str().unwrap_or("no answer");
            return Err(Error(format!("qmp: {command}: {why}")));
        }
    }
}

/// One VM's QMP connection for the threads of its shim (QEMU serves one client at a
/// time), connected on first use.
pub struct Shared {
    dir: std::path::PathBuf,
    conn: std::sync::Mutex<Option<Qmp>>,
}

impl Shared {
    /// The QMP socket of the VM whose directory is `dir`.
    pub fn new(dir: &Path) -> Shared {
        Shared {
            dir: dir.to_path_buf(),
            conn: std::sync::Mutex::new(None),
        }
    }

    /// Runs `command` with `arguments` (see [`Qmp::execute`]).
    pub fn execute(&self, command: &str, arguments: Value) -> Result<Value> {
        let mut c = self.conn.lock().expect("qmp lock");
        if c.as_ref().is_none_or(|q| q.broken) {
            // Closed first: QEMU serves one client at a time.
            *c = None;
            *c = Some(Qmp::connect(&self.dir)?);
        }
        c.as_mut().expect("connected").execute(command, arguments)
    }
}
