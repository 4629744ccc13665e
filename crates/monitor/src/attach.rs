//! The client side of `attach` and `exec`: relays a container's (or an exec session's)
//! output to the caller's descriptors and the caller's input to it, until it exits.

use crate::frame::{self, Decoder, Kind};
use crate::protocol::{connect, ExecRequest, Request, Response};
use crate::record::ExitRecord;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// An attached connection (the answer to `attach` read; frames follow).
pub struct Attached {
    stream: UnixStream,
    pending: Vec<u8>,
}

/// Attaches to the container of the monitor in `dir`.
pub fn attach(dir: &Path, stdin: bool) -> io::Result<Attached> {
    open(dir, &Request::Attach { stdin }).map(|(a, _)| a)
}

/// Runs `r` (not detached) in the container of the monitor in `dir`: the connection to its
/// session, and the session's id (for resizes).
pub fn exec(dir: &Path, r: ExecRequest) -> io::Result<(Attached, i32)> {
    let (a, answer) = open(dir, &Request::Exec(r))?;
    Ok((a, answer.pid.unwrap_or(0)))
}

/// Sends a request that switches the connection to frames; the connection and the answer.
fn open(dir: &Path, req: &Request) -> io::Result<(Attached, Response)> {
    let mut s = connect(dir)?;
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    s.write_all(&line)?;
    // Read the answer line byte by byte: what follows it is frames, not for a line reader.
    let mut answer = Vec::new();
    let mut one = [0u8; 1];
    loop {
        if s.read(&mut one)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "monitor closed the connection",
            ));
        }
        if one[0] == b'\n' {
            break;
        }
        answer.push(one[0]);
    }
    let r: Response = serde_json::from_slice(&answer)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let answer = r.into_result()?;
    Ok((
        Attached {
            stream: s,
            pending: Vec::new(),
        },
        answer,
    ))
}

impl Attached {
    /// A handle to send input with (from another thread).
    pub fn input(&self) -> io::Result<Input> {
        Ok(Input(self.stream.try_clone()?))
    }

    /// Relays output frames to `out` and `err` until the exit frame; returns the exit
    /// record (`None` if the monitor went away without one).
    pub fn relay(
        &mut self,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Option<ExitRecord>> {
        let mut d = Decoder::default();
        d.push(&std::mem::take(&mut self.pending));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some((kind, data)) = d
                .next_frame()
                .map_err(|_| io::Error::other("monitor sent a bad frame"))?
            {
                match kind {
                    Kind::Stdout => {
                        out.write_all(&data)?;
                        out.flush()?;
                    }
                    Kind::Stderr => {
                        err.write_all(&data)?;
                        err.flush()?;
                    }
                    Kind::Exit => return Ok(serde_json::from_slice(&data).ok()),
                    Kind::Stdin | Kind::StdinEof => {}
                }
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            d.push(&buf[..n]);
        }
    }
}

/// The input side of an attached connection.
pub struct Input(UnixStream);

impl Input {
    /// Copies `r` to the container's stdin until it ends, then closes that stdin.
    pub fn copy_from(&mut self, r: &mut dyn Read) -> io::Result<()> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return self.0.write_all(&frame::encode(Kind::StdinEof, b""));
            }
            self.0.write_all(&frame::encode(Kind::Stdin, &buf[..n]))?;
        }
    }
}
