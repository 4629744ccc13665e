//! The bridge from an async download to the blocking unpacker: a `BufRead` over a
//! channel of chunks that copies every chunk into the blob's ingest file as it arrives.

use crate::store::content::Ingest;
use bytes::Bytes;
use std::io::{self, BufRead, Read, Write};
use tokio::sync::mpsc;

/// Reads chunks from `rx`, teeing them into `ingest`.
pub struct ChannelTee {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
    pos: usize,
    /// The blob being written.
    pub ingest: Ingest,
}

impl ChannelTee {
    /// Wraps a receiver and an ingest.
    pub fn new(rx: mpsc::Receiver<Bytes>, ingest: Ingest) -> Self {
        ChannelTee {
            rx,
            cur: Bytes::new(),
            pos: 0,
            ingest,
        }
    }

    /// Consumes the rest of the stream into the ingest (bytes after the archive's end).
    pub fn drain(&mut self) -> io::Result<()> {
        self.pos = self.cur.len();
        while let Some(c) = self.rx.blocking_recv() {
            self.ingest.write_all(&c)?;
        }
        Ok(())
    }
}

impl Read for ChannelTee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelTee {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.cur.len() {
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.ingest.write_all(&c)?;
                    self.cur = c;
                    self.pos = 0;
                }
                None => return Ok(&[]),
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.cur.len());
    }
}
