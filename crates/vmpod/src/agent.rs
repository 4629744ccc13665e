//! The host's client of the agent protocol, over the VM's agent socket. Every reply is
//! checked against the request: a reply of another kind, bad output encoding or a frame
//! over the size bound is an error naming the VM layer, never trusted.

use crate::{io_err, Error, Result};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use strata_agent::{decode, read_frame, write_frame, Reply, Request};

/// A connection to a guest's agent.
pub struct Agent {
    stream: UnixStream,
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

impl Agent {
    /// Connects to the socket; `timeout` bounds every later read (a guest that stops
    /// answering is an error, not a hang).
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Agent> {
        let stream = UnixStream::connect(socket)
            .map_err(io_err(format!("agent socket {}", socket.display())))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(io_err("agent socket"))?;
        Ok(Agent { stream })
    }

    fn send(&mut self, r: &Request) -> Result<()> {
        write_frame(&mut self.stream, r).map_err(io_err("agent: send"))
    }

    fn next(&mut self) -> Result<Reply> {
        read_frame(&mut self.stream)
            .map_err(io_err("agent: reply"))?
            .ok_or_else(|| Error("agent: the guest closed its port".into()))
    }

    /// Asks who the guest is.
    pub fn hello(&mut self) -> Result<Hello> {
        self.send(&Request::Hello)?;
        match self.next()? {
            Reply::Hello {
                kernel, boot_id, ..
            } if !kernel.is_empty() && kernel.len() < 256 && boot_id.len() < 64 => {
                Ok(Hello { kernel, boot_id })
            }
            other => Err(unexpected("hello", &other)),
        }
    }

    /// Runs `args` in the guest; its output and exit status.
    pub fn exec(&mut self, args: &[&str]) -> Result<Output> {
        self.send(&Request::Exec {
            args: args.iter().map(|s| s.to_string()).collect(),
        })?;
        self.output(&format!("exec {args:?}"))
    }

    /// Runs container `id` to its end in the guest (its image's layers are the disks with
    /// serials `layers`, the lowest first); its output and exit status.
    pub fn run_container(
        &mut self,
        id: &str,
        spec: &serde_json::Value,
        layers: &[String],
    ) -> Result<Output> {
        self.send(&Request::RunContainer {
            id: id.to_string(),
            spec: spec.clone(),
            layers: layers.to_vec(),
        })?;
        self.output(&format!("container {id}"))
    }

    /// A program's replies: its output, then its exit status.
    fn output(&mut self, what: &str) -> Result<Output> {
        let mut out = Output::default();
        loop {
            match self.next()? {
                Reply::Output { stream, data } => {
                    let bytes = decode(&data).map_err(io_err(format!("agent: {what}")))?;
                    match stream {
                        1 => out.stdout.extend_from_slice(&bytes),
                        2 => out.stderr.extend_from_slice(&bytes),
                        s => return Err(Error(format!("agent: {what}: output on stream {s}"))),
                    }
                }
                Reply::Exit { code } => {
                    out.code = code;
                    return Ok(out);
                }
                Reply::Error { message } => return Err(Error(format!("agent: {message}"))),
                other => return Err(unexpected(what, &other)),
            }
        }
    }

    /// Powers the guest off.
    pub fn shutdown(&mut self) -> Result<()> {
        self.send(&Request::Shutdown)?;
        match self.next()? {
            Reply::Bye => Ok(()),
            other => Err(unexpected("shutdown", &other)),
        }
    }
}

fn unexpected(what: &str, r: &Reply) -> Error {
    let kind = serde_kind(r);
    Error(format!("agent: {what}: an unexpected {kind} reply"))
}

fn serde_kind(r: &Reply) -> &'static str {
    match r {
        Reply::Hello { .. } => "hello",
        Reply::Output { .. } => "output",
        Reply::Exit { .. } => "exit",
        Reply::Bye => "bye",
        Reply::Error { .. } => "error",
    }
}
