//! The hijacked connection of `attach` (and later `exec start`): after `101 Switching
//! Protocols` the connection carries the container's output, multiplexed (`mux`) unless it
//! has a terminal, and the client's input when asked for. The monitor's attach client is
//! blocking, so it runs on the blocking pool, bridged to the connection by channels.

use crate::mux;
use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use strata_monitor::attach::Attached;
use strata_monitor::ExitRecord;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Writes output chunks, framed, to the connection's channel.
struct ChanWriter {
    tx: mpsc::Sender<Bytes>,
    stream: u8,
    raw: bool,
}

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.tx
            .blocking_send(Bytes::from(mux::frame(self.stream, buf, self.raw)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads the client's input, received on a channel.
struct ChanReader {
    rx: mpsc::Receiver<Bytes>,
    pending: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.pending = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending = self.pending.slice(n..);
        Ok(n)
    }
}

/// What to relay.
pub struct Streams {
    /// Send the container's stdout.
    pub stdout: bool,
    /// Send its stderr.
    pub stderr: bool,
    /// Forward the client's input.
    pub stdin: bool,
    /// The container has a terminal (one raw stream).
    pub tty: bool,
}

/// Relays between the upgraded connection and the monitor's attached stream until the
/// container's (or exec session's) output ends; `on_exit` gets its exit record before the
/// connection is closed (the docker CLI asks for an exec's exit code once it sees the end).
pub async fn relay(
    up: Upgraded,
    mut att: Attached,
    s: Streams,
    on_exit: impl FnOnce(Option<ExitRecord>) + Send + 'static,
) {
    let io = TokioIo::new(up);
    let (mut rd, mut wr) = tokio::io::split(io);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(64);
    if s.stdin {
        match att.input() {
            Ok(mut input) => {
                let (in_tx, in_rx) = mpsc::channel::<Bytes>(16);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if in_tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
                tokio::task::spawn_blocking(move || {
                    let mut r = ChanReader {
                        rx: in_rx,
                        pending: Bytes::new(),
                    };
                    let _ = input.copy_from(&mut r);
                });
            }
            Err(e) => tracing::debug!("attach: input: {e}"),
        }
    }
    let (want_out, want_err, raw) = (s.stdout, s.stderr, s.tty);
    let out = tokio::task::spawn_blocking(move || {
        let mut o = ChanWriter {
            tx: out_tx.clone(),
            stream: mux::STDOUT,
            raw,
        };
        let mut e = ChanWriter {
            tx: out_tx,
            stream: mux::STDERR,
            raw,
        };
        let mut sink = std::io::sink();
        let (o, e): (&mut dyn Write, &mut dyn Write) = match (want_out, want_err) {
            (true, true) => (&mut o, &mut e),
            (true, false) => (&mut o, &mut sink),
            (false, true) => (&mut sink, &mut e),
            (false, false) => return att.relay(&mut std::io::sink(), &mut std::io::sink()),
        };
        att.relay(o, e)
    });
    while let Some(chunk) = out_rx.recv().await {
        if wr.write_all(&chunk).await.is_err() {
            break;
        }
    }
    drop(out_rx);
    match out.await {
        Ok(Ok(exit)) => {
            // A process that could not be started: say why, on its stderr.
            if let Some(msg) = exit.as_ref().and_then(|x| x.error.as_ref()) {
                let line = format!("{msg} [layer: runtime]\n");
                let _ = wr
                    .write_all(&mux::frame(mux::STDERR, line.as_bytes(), raw))
                    .await;
            }
            on_exit(exit)
        }
        Ok(Err(e)) => {
            tracing::debug!("attach: relay: {e}");
            on_exit(None)
        }
        Err(_) => on_exit(None),
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

/// Closes an upgraded connection with nothing relayed.
pub async fn close(up: Upgraded) {
    let mut io = TokioIo::new(up);
    let _ = io.shutdown().await;
}

/// Sends `msg` on the stderr stream of an upgraded connection, then closes it (an exec
/// whose command could not be started).
pub async fn reply_error(up: Upgraded, msg: String, tty: bool) {
    let mut io = TokioIo::new(up);
    let mut line = msg.into_bytes();
    line.push(b'\n');
    let _ = io.write_all(&mux::frame(mux::STDERR, &line, tty)).await;
    let _ = io.flush().await;
    let _ = io.shutdown().await;
}
