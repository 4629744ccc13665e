//! The bridge from an async download to the blocking unpacker. A writer thread takes each
//! chunk from the download channel, digests it and appends it to the blob's ingest file,
//! and hands the same chunk (shared, not copied) to the unpacker, which reads the chunks
//! as a `BufRead`: digesting and storing the compressed blob runs beside decompression,
//! digesting and unpacking, on another core.

use crate::store::content::Ingest;
use bytes::Bytes;
use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use tokio::sync::mpsc;

/// Chunks in flight between the writer thread and the unpacker.
const DEPTH: usize = 64;

/// Runs the writer loop: every chunk of `rx` into `ingest`, then on to `out`. Returns the
/// ingest once the download ends (or the unpacker stopped listening).
pub fn tee_chunks(
    mut rx: mpsc::Receiver<Bytes>,
    mut ingest: Ingest,
    out: SyncSender<Bytes>,
) -> io::Result<Ingest> {
    while let Some(c) = rx.blocking_recv() {
        ingest.write_all(&c)?;
        if out.send(c).is_err() {
            // The unpacker failed; stop (dropping `rx` stops the download).
            break;
        }
    }
    Ok(ingest)
}

/// A channel pair for [`tee_chunks`] and [`ChunkReader`].
pub fn chunk_channel() -> (SyncSender<Bytes>, Receiver<Bytes>) {
    sync_channel(DEPTH)
}

/// Reads the chunks the writer thread forwards.
pub struct ChunkReader {
    rx: Receiver<Bytes>,
    cur: Bytes,
    pos: usize,
}

impl ChunkReader {
    /// Wraps the receiving end.
    pub fn new(rx: Receiver<Bytes>) -> Self {
        ChunkReader {
            rx,
            cur: Bytes::new(),
            pos: 0,
        }
    }

    /// Consumes the rest of the stream (bytes after the archive's end; the writer thread
    /// stores them).
    pub fn drain(&mut self) {
        self.pos = self.cur.len();
        while self.rx.recv().is_ok() {}
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.cur.len());
    }
}
