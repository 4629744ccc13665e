//! One SPDY/3.1 connection, server side, after the HTTP upgrade: a reader task that answers
//! every stream the client opens (SYN_REPLY), hands it over with a channel of its data,
//! echoes pings and gives the client its flow-control window back as data is consumed; and
//! a writer shared by whoever sends. As kubelet's server (spdystream) does, the peer's
//! receive windows are not enforced on what is sent: the remote-command clients do not
//! advertise any.

use super::frame::{self, Frame};
use super::headers::{Decoder, Encoder, Headers};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Mutex};

/// The largest data frame written; larger writes are split.
const MAX_DATA_FRAME: usize = 32 * 1024;

/// A stream the client opened.
pub struct Stream {
    /// Its id.
    pub id: u32,
    /// Its headers (names lower-case).
    pub headers: Headers,
    /// Its data, until the client's FIN or RST_STREAM (then the channel closes).
    pub data: mpsc::Receiver<Vec<u8>>,
}

/// The sending half, shared.
pub struct Writer {
    out: Mutex<(Box<dyn AsyncWrite + Send + Unpin>, Encoder)>,
}

impl Writer {
    async fn raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut g = self.out.lock().await;
        g.0.write_all(bytes).await?;
        g.0.flush().await
    }

    /// Accepts stream `id`.
    pub async fn reply(&self, id: u32) -> std::io::Result<()> {
        let mut g = self.out.lock().await;
        let f = frame::syn_reply(id, &mut g.1);
        g.0.write_all(&f).await?;
        g.0.flush().await
    }

    /// Sends `bytes` on stream `id` (split into frames); `fin` ends the stream from here.
    pub async fn data(&self, id: u32, bytes: &[u8], fin: bool) -> std::io::Result<()> {
        let mut chunks = bytes.chunks(MAX_DATA_FRAME).peekable();
        if chunks.peek().is_none() {
            return self.raw(&frame::data(id, &[], fin)).await;
        }
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            self.raw(&frame::data(id, c, fin && last)).await?;
        }
        Ok(())
    }

    /// Ends stream `id` abnormally.
    pub async fn reset(&self, id: u32, status: u32) -> std::io::Result<()> {
        self.raw(&frame::rst_stream(id, status)).await
    }

    /// Says goodbye (no new streams) and closes the connection's sending side.
    pub async fn close(&self, last: u32) {
        let mut g = self.out.lock().await;
        let _ = g.0.write_all(&frame::goaway(last)).await;
        let _ = g.0.shutdown().await;
    }
}

/// A served connection: the streams the client opens, and the writer.
pub struct Conn {
    /// Streams as the client opens them; closed when the connection ends.
    pub streams: mpsc::Receiver<Stream>,
    /// Sends frames.
    pub writer: Arc<Writer>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Conn {
    /// The connection ends with its last user: a client that never closes its side does
    /// not keep the reader task.
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Conn {
    /// Starts serving a connection whose upgrade is done.
    pub fn start(
        read: impl AsyncRead + Send + Unpin + 'static,
        write: impl AsyncWrite + Send + Unpin + 'static,
    ) -> Conn {
        let writer = Arc::new(Writer {
            out: Mutex::new((Box::new(write), Encoder::default())),
        });
        let (tx, rx) = mpsc::channel(16);
        let w = Arc::clone(&writer);
        let reader = tokio::spawn(async move {
            if let Err(e) = read_loop(read, w, tx).await {
                tracing::debug!("spdy: {e}");
            }
        })
        .abort_handle();
        Conn {
            streams: rx,
            writer,
            reader,
        }
    }
}

async fn read_loop(
    mut read: impl AsyncRead + Unpin,
    w: Arc<Writer>,
    new: mpsc::Sender<Stream>,
) -> std::io::Result<()> {
    let mut decoder = Decoder::default();
    let mut open: HashMap<u32, mpsc::Sender<Vec<u8>>> = HashMap::new();
    while let Some(f) = frame::read(&mut read, &mut decoder).await? {
        match f {
            Frame::SynStream { id, headers, fin } => {
                // Client streams have odd ids; a reused id is the client's mistake.
                if id % 2 == 0 || open.contains_key(&id) {
                    w.reset(id, frame::PROTOCOL_ERROR).await?;
                    continue;
                }
                let (tx, rx) = mpsc::channel(16);
                if !fin {
                    open.insert(id, tx);
                }
                w.reply(id).await?;
                let s = Stream {
                    id,
                    headers,
                    data: rx,
                };
                if new.send(s).await.is_err() {
                    // Nobody takes streams any more: refuse it.
                    open.remove(&id);
                    w.reset(id, frame::REFUSED_STREAM).await?;
                }
            }
            Frame::Data { id, data, fin } => {
                if !data.is_empty() {
                    let n = data.len() as u32;
                    w.raw(&[frame::window_update(id, n), frame::window_update(0, n)].concat())
                        .await?;
                    if let Some(tx) = open.get(&id) {
                        if tx.send(data).await.is_err() {
                            open.remove(&id);
                        }
                    }
                }
                if fin {
                    open.remove(&id);
                }
            }
            Frame::RstStream { id, .. } => {
                open.remove(&id);
            }
            // The client's pings have odd ids: echo them.
            Frame::Ping(id) if id % 2 == 1 => w.raw(&frame::ping(id)).await?,
            _ => {}
        }
    }
    Ok(())
}
